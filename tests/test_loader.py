"""load_model on a tiny checkpoint of every family (tests/stand_ins.py), the adapter, the padding
probe, the LoadedMDLM record, the transformers-5 patches on classes that do not need them, and bad
input. The real-architecture LLaDA / Dream checks are in tests/test_real_models.py."""

import json
import types
from dataclasses import replace

import pytest
import torch
from stand_ins import save_bert, save_dream, save_llada, save_tiny, save_without_mask
from transformers import GenerationConfig, PretrainedConfig, PreTrainedModel, Qwen2Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding

from mdlm_study.core.special_tokens import SpecialTokens
from mdlm_study.engine.batching import length_buckets
from mdlm_study.engine.denoiser import shift_right
from mdlm_study.models import remote_code
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.loader import (
    KNOWN_IDS,
    ModelAdapter,
    declare_mask_token,
    detect_family,
    dream_attention,
    load_model,
    logits_difference,
    probe_padding,
)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("families")
    return {
        "llada": save_llada(root / "llada"),
        "dream": save_dream(root / "dream"),
        "bert": save_bert(root / "bert"),
        "modernbert": save_bert(root / "modernbert", arch="modernbert"),
        "tiny": save_tiny(root / "tiny", tokenizer),
    }


@pytest.mark.parametrize(
    "name, family, shift, remote",
    [("llada", "llada", False, True), ("dream", "dream", True, True), ("bert", "masked_lm", False, False),
     ("modernbert", "masked_lm", False, False), ("tiny", "tiny", False, False)],
)
def test_every_family_loads_and_is_called_the_same_way(ckpts, name, family, shift, remote):
    loaded = load_model(ckpts[name], trust_remote_code=remote)
    assert (loaded.family, loaded.shift_logits) == (family, shift)
    vocab = loaded.model.get_input_embeddings().weight.shape[0] if name != "llada" else loaded.model.config.vocab_size
    ids = torch.full((2, 6), loaded.special.mask_id)
    attn = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6])
    logits = loaded.denoiser()(ids, attention_mask=attn).logits
    assert logits.shape == (2, 6, vocab) and torch.isfinite(logits).all()


def test_llada_ids_come_from_the_tokenizer_or_the_one_table(ckpts):
    loaded = load_model(ckpts["llada"], trust_remote_code=True)
    assert loaded.special.mask_id == KNOWN_IDS["llada"]["mask_id"] == 126336
    assert loaded.tokenizer.mask_token == "<|mdm_mask|>"  # declared by the loader (the file declares none)
    assert SpecialTokens.from_tokenizer(loaded.tokenizer) == loaded.special
    assert loaded.special.eos_id == 126081 and loaded.eot_id == 126348
    assert loaded.stop_ids == [126081, 126348]


def test_dream_shift_and_4d_mask_keep_a_padded_row_equal_to_the_row_alone(ckpts):
    loaded = load_model(ckpts["dream"], trust_remote_code=True, dtype="float32")  # bf16: tests/test_real_models.py
    tok = loaded.tokenizer
    row = torch.tensor(tok("Q: 1 + 2 = ? A:")["input_ids"])
    alone = loaded.denoiser(aligned=True)(row[None]).logits[0]
    padded = torch.cat([torch.full((3,), loaded.special.pad_id), row])[None]
    attn = torch.cat([torch.zeros(3, dtype=torch.long), torch.ones(len(row), dtype=torch.long)])[None]
    batched = loaded.denoiser(aligned=True)(padded, attention_mask=attn).logits[0, 3:]
    # position 0 of a row (always prompt) has no left neighbour in the row: compare from position 1
    torch.testing.assert_close(batched[1:], alone[1:], atol=1e-5, rtol=1e-5)
    raw = loaded.denoiser()(row[None]).logits
    torch.testing.assert_close(loaded.denoiser(aligned=True)(row[None]).logits[:, 1:], raw[:, :-1])


def test_dream_attention_never_leaves_an_attention_row_empty():
    mask4d, pos = dream_attention(torch.tensor([[0, 0, 1, 1]]))
    assert mask4d.shape == (1, 1, 4, 4) and mask4d.any(-1).all()
    assert not mask4d[0, 0, 2, :2].any() and pos.tolist() == [[0, 0, 0, 1]]


def test_shift_right_moves_predictions_one_position():
    logits = torch.arange(6.0).view(1, 3, 2)
    assert shift_right(logits)[0].tolist() == [[0, 1], [0, 1], [2, 3]]


def test_detect_family_from_config_dicts():
    assert detect_family({"model_type": "llada", "architectures": ["LLaDAModelLM"]}) == "llada"
    assert detect_family({"model_type": "Dream"}) == "dream"
    assert detect_family({"model_type": "bert"}) == "masked_lm"
    assert detect_family({"model_type": "mdlm-tiny-modern"}) == "tiny"
    with pytest.raises(ValueError, match="gpt2"):
        detect_family({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})


def test_remote_code_needs_explicit_consent(ckpts):
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_model(ckpts["llada"])


def test_unknown_family_and_family_override(ckpts):
    with pytest.raises(ValueError, match="'gpt'"):
        load_model(ckpts["bert"], family="gpt")
    with pytest.raises(ValueError, match="'gpt'"):
        ModelAdapter(torch.nn.Identity(), family="gpt")
    assert load_model(ckpts["tiny"], family="masked_lm").family == "masked_lm"


def test_model_without_a_mask_token_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mask token"):
        load_model(save_without_mask(tmp_path / "nomask"))


@pytest.mark.parametrize("bad", ["/no/such/dir", "a/b/c/d"])
def test_path_that_is_neither_checkpoint_nor_hub_name(bad):
    with pytest.raises(ValueError, match=f"'{bad}' names no model: no such local folder, not a hub name"):
        load_model(bad)


def test_directory_without_config(tmp_path):
    with pytest.raises(ValueError, match="is a local path but not a model folder \\(no config.json\\)"):
        load_model(tmp_path)


def test_diffusion_gemma_is_refused_with_the_reason(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "diffusion_gemma"}))
    with pytest.raises(ValueError, match="no mask token"):
        load_model(tmp_path)


def test_bad_dtype(ckpts):
    with pytest.raises(ValueError, match="'float13'"):
        load_model(ckpts["tiny"], dtype="float13")
    assert next(load_model(ckpts["tiny"], dtype="bfloat16").model.parameters()).dtype == torch.bfloat16


# --- LoadedMDLM record -----------------------------------------------------------------------------

def test_loaded_record_of_a_project_model(ckpts):
    loaded = load_model(ckpts["tiny"])
    assert (loaded.honours_padding, loaded.chat, loaded.dtype, loaded.compat) == (True, False, torch.float32, ())
    first = loaded.weights_sha256()
    assert first == weights_sha256(loaded.model) and loaded.weights_sha256() is first  # computed once
    with torch.no_grad():
        next(loaded.model.parameters()).add_(1.0)
    assert loaded.weights_sha256() is first  # cached on the object
    assert replace(loaded).weights_sha256() != first  # a copy (e.g. LoRA-wrapped) computes its own


@pytest.mark.parametrize("name, honours", [("bert", False), ("modernbert", True), ("tiny", True)])
def test_padding_probe_on_stock_masked_lms(ckpts, name, honours):
    """BERT's learned absolute positions move a left-padded row; rotary models with masks do not."""
    assert load_model(ckpts[name]).honours_padding is honours


# --- padding probe and length buckets ----------------------------------------------------------------

class ToyLM(torch.nn.Module):
    """Logits = own embedding + mean embedding of the row (of its real tokens when ``masked``)."""

    def __init__(self, masked: bool):
        super().__init__()
        self.masked = masked
        self.embed = torch.nn.Embedding(16, 8)
        torch.nn.init.normal_(self.embed.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, input_ids, attention_mask=None, **kwargs):
        e = self.embed(input_ids)
        w = torch.ones(input_ids.shape) if attention_mask is None or not self.masked else attention_mask.float()
        context = (e * w[..., None]).sum(1, keepdim=True) / w.sum(1, keepdim=True)[..., None]
        return types.SimpleNamespace(logits=e + context)


@pytest.mark.parametrize("masked", [True, False])
def test_probe_padding_tells_a_model_that_honours_masks_from_one_that_does_not(masked):
    adapter = ModelAdapter(ToyLM(masked), family="masked_lm")
    assert probe_padding(adapter, [3, 4, 5, 6], pad_id=0) is masked
    with pytest.raises(ValueError, match="n_pad=0"):
        probe_padding(adapter, [3], pad_id=0, n_pad=0)


def test_logits_difference_ignores_a_constant_shift_per_position():
    a = torch.randn(3, 10, generator=torch.Generator().manual_seed(0))
    assert logits_difference(a, a + torch.arange(3.0)[:, None]) < 1e-6
    assert logits_difference(a, 1.5 * a) == pytest.approx(0.5, rel=1e-5)


def test_length_buckets():
    assert length_buckets([5, 3, 5, 2, 3]) == [[0, 2], [1, 4], [3]]
    assert length_buckets([]) == [] and length_buckets([0]) == [[0]]
    for bad in (-1, 2.0, True, "3"):
        with pytest.raises(ValueError, match=repr(bad)):
            length_buckets([1, bad])


# --- transformers-5 patches leave classes that do not need them alone --------------------------------

class ModernModel(PreTrainedModel):
    config_class = PretrainedConfig

    def __init__(self, config):
        super().__init__(config)
        self.layer = torch.nn.Linear(2, 2)
        self.post_init()


def test_post_init_and_tie_weights_patches_are_no_ops_on_modern_classes():
    cls = type("Modern", (ModernModel,), {})
    remote_code.patch_post_init(cls)
    assert not hasattr(cls(PretrainedConfig()), "_mdlm_post_init_added")
    assert remote_code.patch_tie_weights(cls) is False and cls.tie_weights is PreTrainedModel.tie_weights


def test_post_init_patch_completes_a_model_that_skips_it():
    def __init__(self, config):
        PreTrainedModel.__init__(self, config)
        self.layer = torch.nn.Linear(2, 2)

    cls = type("Old", (ModernModel,), {"__init__": __init__, "tie_weights": lambda self: None})
    assert not hasattr(cls(PretrainedConfig()), "all_tied_weights_keys")
    remote_code.patch_post_init(cls)
    assert remote_code.patch_tie_weights(cls) is True and remote_code.patch_tie_weights(cls) is True  # idempotent
    model = cls(PretrainedConfig())
    assert model._mdlm_post_init_added and model.all_tied_weights_keys == {}
    model.tie_weights(missing_keys=set(), recompute_mapping=False)


def test_use_cache_patch_keeps_a_config_value():
    config = PretrainedConfig()
    assert remote_code.patch_use_cache(config, {"use_cache": True}) is True and config.use_cache is True
    assert remote_code.patch_use_cache(config, {"use_cache": False}) is False and config.use_cache is True


def test_generation_and_rope_patches_skip_modules_that_do_not_need_them():
    class Modern(GenerationConfig):
        pass

    before = dict(ROPE_INIT_FUNCTIONS)
    module = types.SimpleNamespace(GenerationConfig=GenerationConfig, Modern=Modern)
    assert remote_code.patch_generation_validate(module) is False and Modern.validate is GenerationConfig.validate
    assert remote_code.patch_generation_from_model_config(module) is False
    assert remote_code.patch_default_rope(types.SimpleNamespace()) is False and dict(ROPE_INIT_FUNCTIONS) == before


def test_default_rope_is_transformers_446s():
    config = Qwen2Config(hidden_size=32, num_attention_heads=4, rope_theta=1e6)
    inv_freq, scaling = remote_code._default_rope_parameters(config)
    expected, _ = Qwen2RotaryEmbedding.compute_default_rope_parameters(config)
    torch.testing.assert_close(inv_freq, expected)
    assert scaling == 1.0
    torch.testing.assert_close(remote_code._default_rope_parameters(None, base=1e6, dim=8)[0], expected)


def test_declare_mask_token_only_fills_a_missing_mask_with_an_existing_token(ckpts):
    bert = load_model(ckpts["bert"]).tokenizer
    assert declare_mask_token(bert, 0) is False and bert.mask_token == "[MASK]"  # already declared
    bert.mask_token = None
    assert declare_mask_token(bert, 10**6) is False and bert.mask_token_id is None  # no such token
    assert declare_mask_token(bert, 4) is True and bert.mask_token_id == 4


def test_remote_checkpoint_without_an_automodel_entry():
    with pytest.raises(ValueError, match="no AutoModel entry"):
        remote_code._remote_model_class("owner/model", {"auto_map": {"AutoConfig": "configuration_x.XConfig"}})


@pytest.mark.parametrize("chunk", [1, 7, 2**22])
def test_in_place_shift_equals_shift_right_without_a_second_copy(chunk):
    from mdlm_study.models.loader import shift_right_

    logits = torch.randn(3, 11, 5)
    expected = shift_right(logits)
    out = shift_right_(logits, chunk_elements=chunk)
    assert out is logits and torch.equal(out, expected)
