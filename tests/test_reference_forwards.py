"""Real architectures (LLaDA, Dream, the released tiny EuroBERT) loaded by ``load_model`` equal their reference forward, and nothing uninitialised
survives a load.

The references (tests/reference_forwards.py) are written from the architectures' definitions and read
only ``config.json`` and ``model.safetensors``. transformers 5 leaves a remote model's non-persistent
buffers (Dream's rotary ``inv_freq``) as uninitialised memory; ``load_model`` must recompute them.
"""

import shutil

import pytest
import torch
from fixtures.checkpoints import checkpoint
from reference_forwards import REFERENCE_FORWARDS, read_checkpoint, tiny_forward
from safetensors.torch import load_file, save_file

from mdlm_study.core.records import ROOT
from mdlm_study.models.loader import load_model, logits_difference
from mdlm_study.models.remote_code import rebuild_unsaved_tensors, refuse_unfinished

# float32 kernels reorder sums (measured ~3e-7); bf16 rounds every activation to 2^-8 relative
# (measured ~7e-3 over the fixtures' two layers): four units of bf16 rounding. Uninitialised rotary
# frequencies moved Dream's logits by ~0.4.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 4 * 2.0**-8}
N_PAD = 3


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    return {family: checkpoint(family, root / family) for family in ("llada", "dream")}


@pytest.fixture(scope="module")
def loaded(paths):
    return {(family, dtype): load_model(paths[family], trust_remote_code=True, dtype=dtype)
            for family in paths for dtype in (torch.float32, torch.bfloat16)}


def _canvas(special) -> torch.Tensor:
    return torch.tensor([[5, 17, 300, 42, 9, 77, special.mask_id, special.mask_id, 11, 3]])


def qwen2_inv_freq(config: dict) -> torch.Tensor:
    """Qwen2's default RoPE frequencies ``1 / theta^(2i/d)``, as its rotary embedding computes them."""
    dim = config["hidden_size"] // config["num_attention_heads"]
    return 1.0 / (config["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("family", ["llada", "dream"])
def test_logits_equal_the_reference_forward(loaded, paths, family, dtype):
    model = loaded[family, dtype]
    ids = _canvas(model.special)
    reference = REFERENCE_FORWARDS[family](paths[family], ids)
    assert logits_difference(reference, model.denoiser()(ids).logits) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("family", ["llada", "dream"])
def test_left_padded_logits_equal_the_reference_forward(loaded, paths, family, dtype):
    model = loaded[family, dtype]
    ids = _canvas(model.special)
    padded = torch.cat([torch.full((1, N_PAD), model.special.pad_id), ids], dim=1)
    batch = torch.cat([padded, torch.cat([ids, ids[:, :N_PAD]], dim=1)])
    mask = torch.ones_like(batch)
    mask[0, :N_PAD] = 0
    reference = REFERENCE_FORWARDS[family](paths[family], batch, mask)
    logits = model.denoiser()(batch, attention_mask=mask).logits
    assert logits_difference(reference[0, N_PAD:], logits[0, N_PAD:]) <= TOLERANCE[dtype]
    assert logits_difference(reference[1], logits[1]) <= TOLERANCE[dtype]


def test_the_reference_tells_wrong_rotary_frequencies_apart(loaded, paths):
    model = loaded["dream", torch.float32]
    ids = _canvas(model.special)
    reference = REFERENCE_FORWARDS["dream"](paths["dream"], ids)
    saved = {name: b.clone() for name, b in model.model.named_buffers()}
    try:
        for _, buffer in model.model.named_buffers():
            buffer.mul_(2.0)
        assert logits_difference(reference, model.denoiser()(ids).logits) > 100 * TOLERANCE[torch.float32]
    finally:
        for name, buffer in model.model.named_buffers():
            buffer.copy_(saved[name])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_every_dream_rotary_buffer_is_exactly_the_architectures(loaded, paths, dtype):
    config, _ = read_checkpoint(paths["dream"])
    expected = qwen2_inv_freq(config)
    model = loaded["dream", dtype].model
    buffers = dict(model.named_buffers())
    assert sorted(buffers) == sorted([f"model.layers.{i}.self_attn.rotary_emb.inv_freq" for i in range(2)]
                                     + ["model.rotary_emb.inv_freq"])
    for name, buffer in buffers.items():
        assert torch.equal(buffer.float(), expected.to(buffer.dtype).float()), name
    for module in model.modules():
        if hasattr(module, "original_inv_freq"):
            assert module.original_inv_freq is module.inv_freq  # the alias the architecture sets up


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_every_parameter_and_buffer_is_finite_and_materialised(loaded, family):
    model = loaded[family, torch.bfloat16].model
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert not tensor.is_meta and bool(torch.isfinite(tensor).all()), name


def test_rebuild_recomputes_overwritten_buffers_and_names_them(loaded, paths):
    model = loaded["dream", torch.float32].model
    expected = {name: b.clone() for name, b in model.named_buffers()}
    for buffer in expected:
        model.get_buffer(buffer).fill_(float("nan"))
    assert sorted(rebuild_unsaved_tensors(model)) == sorted(expected)
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, expected[name]), name


def test_a_checkpoint_with_a_nan_weight_is_refused_by_name(paths, tmp_path):
    broken = tmp_path / "dream_nan"
    shutil.copytree(paths["dream"], broken)
    weights = load_file(str(broken / "model.safetensors"))
    weights["model.layers.1.mlp.up_proj.weight"][3, 4] = float("nan")
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"model\.layers\.1\.mlp\.up_proj\.weight holds non-finite"):
        load_model(broken, trust_remote_code=True)


def test_refuse_unfinished_names_a_tensor_left_on_the_meta_device_or_infinite():
    module = torch.nn.Linear(2, 2)
    module.register_buffer("scale", torch.empty(3, device="meta"), persistent=False)
    with pytest.raises(ValueError, match="scale: the checkpoint does not hold"):
        refuse_unfinished(module)
    module.scale = torch.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(ValueError, match="scale holds non-finite"):
        refuse_unfinished(module)
    module.scale = torch.ones(3)
    refuse_unfinished(module)  # finite and materialised: accepted


@pytest.mark.parametrize("padded", [False, True], ids=["alone", "left-padded"])
def test_the_released_tiny_model_equals_its_reference_forward(padded):
    path = ROOT / "models" / "default"
    model = load_model(path)
    ids = torch.tensor([[2, 10, 11, 12, 20, 30, 4, 4, 4, 4]])
    mask = None
    if padded:
        ids = torch.cat([torch.cat([torch.zeros(1, N_PAD, dtype=torch.long), ids], 1), torch.cat([ids, ids[:, :N_PAD]], 1)])
        mask = torch.ones_like(ids)
        mask[0, :N_PAD] = 0
    reference = tiny_forward(path, ids, mask)
    logits = model.denoiser()(ids, attention_mask=mask).logits
    start = N_PAD if padded else 0
    assert logits_difference(reference[0, start:], logits[0, start:]) <= TOLERANCE[torch.float32]
    assert logits_difference(reference[-1], logits[-1]) <= TOLERANCE[torch.float32]
