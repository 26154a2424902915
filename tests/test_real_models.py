"""LLaDA-8B and Dream-7B through ``load_model`` on tiny real-architecture checkpoints (tests/fixtures).

The fixtures ship remote code that calls transformers the way the hub files do (written for 4.38 /
4.46), so these tests load exactly what breaks under transformers 5; no test patches anything: the
loader's compatibility layer has to do it, and ``LoadedMDLM.compat`` names what it did.
"""

import json
import shutil

import pytest
import torch
from fixtures.checkpoints import (
    DREAM_EOS,
    DREAM_IM_END,
    DREAM_MASK,
    DREAM_VOCAB,
    LLADA_BOS,
    LLADA_EOS,
    LLADA_EOT,
    LLADA_MASK,
    LLADA_VOCAB,
    checkpoint,
    dream_shapes,
    llada_shapes,
)
from transformers import AutoTokenizer

from mdlm_study.engine.batching import length_buckets
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.loader import KNOWN_IDS, PADDING_RTOL, load_model, logits_difference

LLADA_COMPAT = ("use_cache", "tie_weights", "post_init")
DREAM_COMPAT = ("default_rope", "generation_validate", "generation_from_model_config")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return {
        "llada": checkpoint("llada", root / "llada_instruct"),
        "llada_original": checkpoint("llada", root / "llada_original", revision="original"),
        "llada_base": checkpoint("llada", root / "llada_base", instruct=False),
        "dream": checkpoint("dream", root / "dream_instruct"),
    }


@pytest.fixture(scope="module")
def models(paths):
    """Each checkpoint loaded once in its own dtype (bf16) and once in float32."""
    out = {}
    for name in ("llada", "llada_original", "dream"):
        out[name] = load_model(paths[name], trust_remote_code=True)
        out[name + "_fp32"] = load_model(paths[name], trust_remote_code=True, dtype="float32")
    return out


def test_both_families_load_with_the_real_parameter_names_in_bf16(models):
    for name, shapes, compat in (("llada", llada_shapes(), LLADA_COMPAT), ("llada_original", llada_shapes(), LLADA_COMPAT),
                                 ("dream", dream_shapes(), DREAM_COMPAT)):
        loaded = models[name]
        assert set(loaded.model.state_dict()) == set(shapes), name  # nothing missing, nothing renamed
        assert loaded.dtype == torch.bfloat16 and models[name + "_fp32"].dtype == torch.float32
        assert loaded.compat == compat, name


def test_llada_facts(models, paths):
    loaded = models["llada"]
    assert loaded.family == "llada" and loaded.shift_logits is False and loaded.max_length == 4096
    assert loaded.special.mask_id == KNOWN_IDS["llada"]["mask_id"] == LLADA_MASK
    raw = AutoTokenizer.from_pretrained(paths["llada"], trust_remote_code=True)
    assert raw.mask_token_id is None and raw.convert_tokens_to_ids("<|mdm_mask|>") == LLADA_MASK  # an added token
    assert loaded.tokenizer.mask_token_id == LLADA_MASK  # declared by load_model
    assert loaded.tokenizer("a <|mdm_mask|>")["input_ids"] == raw("a <|mdm_mask|>")["input_ids"]
    assert (loaded.special.eos_id, loaded.special.pad_id, loaded.special.bos_id, loaded.eot_id) == (
        LLADA_EOS, LLADA_EOS, LLADA_BOS, LLADA_EOT)
    assert loaded.stop_ids == [LLADA_EOS, LLADA_EOT] and loaded.chat is True


def test_llada_mask_id_falls_back_to_the_known_id_table(paths, tmp_path):
    """LLaDA's tokenizer has no mask token; without ``mask_token_id`` in config.json the table gives it."""
    shutil.copytree(paths["llada_base"], tmp_path / "llada_nomask")
    config_path = tmp_path / "llada_nomask" / "config.json"
    config = json.loads(config_path.read_text())
    del config["mask_token_id"]
    config_path.write_text(json.dumps(config))
    loaded = load_model(tmp_path / "llada_nomask", trust_remote_code=True)
    assert loaded.special.mask_id == LLADA_MASK and loaded.chat is False  # Base: no chat template


def test_dream_facts(models):
    loaded = models["dream"]
    assert loaded.family == "dream" and loaded.shift_logits is True and loaded.max_length == 131072
    assert type(loaded.tokenizer).__name__ == "DreamTokenizer"  # the remote slow tokenizer
    assert loaded.tokenizer.mask_token_id == loaded.special.mask_id == DREAM_MASK
    assert (loaded.special.eos_id, loaded.eot_id) == (DREAM_EOS, DREAM_IM_END) and loaded.chat is True


@pytest.mark.parametrize("name, vocab", [("llada", LLADA_VOCAB), ("llada_original", LLADA_VOCAB), ("dream", DREAM_VOCAB)])
def test_logits_shape_and_finiteness_through_the_denoiser(models, name, vocab):
    loaded = models[name]
    ids = torch.full((2, 7), loaded.special.mask_id)
    ids[:, :3] = torch.tensor([100, 200, 300])
    attn = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
    for aligned in (False, True):
        logits = loaded.denoiser(aligned=aligned)(ids, attention_mask=attn).logits
        assert logits.shape == (2, 7, vocab) and logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


def _row_alone_and_padded(loaded, n_pad=3):
    row = torch.tensor(loaded.tokenizer("Q: what is 12 + 7 ? A:", add_special_tokens=False)["input_ids"]
                       + [loaded.special.mask_id] * 4)
    alone = loaded.denoiser()(row[None]).logits[0]
    padded = torch.stack([torch.cat([torch.full((n_pad,), loaded.special.pad_id), row]),
                          torch.cat([row, row[:n_pad]])])
    attn = torch.ones_like(padded)
    attn[0, :n_pad] = 0
    return alone, loaded.denoiser()(padded, attention_mask=attn).logits[0, n_pad:]


@pytest.mark.parametrize("name", ["llada", "dream"])
def test_a_left_padded_row_gets_the_logits_of_the_row_alone(models, name):
    alone, padded = _row_alone_and_padded(models[name + "_fp32"])
    torch.testing.assert_close(padded, alone, rtol=1e-4, atol=1e-4)
    alone, padded = _row_alone_and_padded(models[name])  # bf16: the same up to rounding of rotated q/k
    assert logits_difference(alone, padded) <= PADDING_RTOL[torch.bfloat16]


def test_the_original_llada_revision_attends_to_padding(models):
    alone, padded = _row_alone_and_padded(models["llada_original_fp32"])
    assert logits_difference(alone, padded) > 0.1


@pytest.mark.parametrize("name, honours", [("llada", True), ("llada_original", False), ("dream", True)])
def test_padding_probe(models, name, honours):
    assert models[name].honours_padding is honours
    assert models[name + "_fp32"].honours_padding is honours


def test_models_that_ignore_padding_decode_in_length_buckets(models):
    """The decoding path's recipe for ``honours_padding=False``: batch rows of one unpadded length."""
    loaded = models["llada_original"]
    rows = [[100, 200, 300], [100, 200], [300, 200, 100], [7]]
    for bucket in length_buckets([len(r) for r in rows]):
        batch = loaded.denoiser()(torch.tensor([rows[i] for i in bucket])).logits
        for j, i in enumerate(bucket):
            alone = loaded.denoiser()(torch.tensor([rows[i]])).logits[0]
            assert logits_difference(alone, batch[j]) <= PADDING_RTOL[torch.bfloat16]


def test_the_remote_code_itself_runs_after_loading(models):
    """What a user of the hub files calls: LLaDA's ``model(x).logits`` (its generate.py) reads
    ``config.use_cache``; Dream's ``diffusion_generate`` builds a ``DreamGenerationConfig``."""
    llada = models["llada"].model
    assert llada.config.use_cache is False
    assert llada(torch.tensor([[100, LLADA_MASK]])).logits.shape == (1, 2, LLADA_VOCAB)
    dream = models["dream"].model
    out = dream.diffusion_generate(torch.tensor([[100, 200, 300]]), max_new_tokens=4, steps=2, alg="maskgit_plus")
    assert out.shape == (1, 7) and not (out == DREAM_MASK).any()
    padded = dream.diffusion_generate(torch.tensor([[DREAM_EOS, 100, 200], [300, 100, 200]]),
                                      attention_mask=torch.tensor([[0, 1, 1], [1, 1, 1]]), max_new_tokens=3, steps=3)
    assert padded.shape == (2, 6) and not (padded == DREAM_MASK).any()


def test_raw_dream_refuses_a_2d_integer_mask_which_the_adapter_converts(models):
    loaded = models["dream"]
    ids, attn = torch.tensor([[DREAM_EOS, 100, 200]]), torch.tensor([[0, 1, 1]])
    with pytest.raises(RuntimeError, match="attn_mask"):
        loaded.model(ids, attention_mask=attn)
    assert torch.isfinite(loaded.denoiser()(ids, attention_mask=attn).logits).all()


def test_chat_templates_render_the_real_formats(models):
    chat = [{"role": "user", "content": "What is 12 + 7?"}]
    llada = models["llada"].tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert llada == ("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 12 + 7?<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n")
    dream = models["dream"].tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert dream == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                     "<|im_start|>user\nWhat is 12 + 7?<|im_end|>\n<|im_start|>assistant\n")
    ids = models["dream"].tokenizer(dream, add_special_tokens=False)["input_ids"]
    assert ids.count(151644) == 3 and ids.count(DREAM_IM_END) == 2  # specials stay single tokens


def test_weights_sha256_is_the_training_fingerprint_and_cached(models):
    loaded = models["llada"]
    first = loaded.weights_sha256()
    assert first == weights_sha256(loaded.model) and loaded.weights_sha256() is first
    assert models["llada_original"].weights_sha256() == first  # same weights, other modelling file
    assert models["dream"].weights_sha256() != first
