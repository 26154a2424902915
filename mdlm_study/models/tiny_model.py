"""The embedded default MDLM: a small bidirectional transformer with an MLM head, from transformers.

Three backbones, each a stock ``*ForMaskedLM`` class with one change, registered with the Auto
classes (model types ``mdlm-tiny``, ``mdlm-tiny-modern``, ``mdlm-tiny-euro``) so that
``AutoModelForMaskedLM.from_pretrained`` loads them like any real masked LM once ``mdlm_study`` is
imported:

- ``"eurobert"`` (the default): ``EuroBertForMaskedLM``, a Llama-style encoder (pre-norm RMSNorm,
  rotary positions, gated SiLU MLP);
- ``"bert"``: ``BertForMaskedLM`` (post-norm, learned absolute positions);
- ``"modernbert"``: ``ModernBertForMaskedLM`` (pre-norm, rotary, GeGLU).

The change: position ids count from each row's first real token, so a left-padded row sees exactly
the positions it would see alone (the engine's padding invariance needs this). Dropout is off (the
MDLM objective's random masking is the regulariser).

Initialisation: every weight ~ N(0, hidden_size^-1/2) instead of transformers' 0.02 (tuned for
widths of 768 and more). At the widths used here (64-192) 0.02 starves the residual stream: a
2-layer model needed 300-400 steps to memorise 8 problems with 0.02 and 100 with 64^-1/2.

Why EuroBERT: trained for 1,500 steps with the same recipe on the study's arithmetic, it reached a
higher exact-answer accuracy than BERT and ModernBERT of the same size (README, "Choosing the
model"); relative positions help a model find the operands of a step wherever the step sits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    BertConfig,
    BertForMaskedLM,
    EuroBertConfig,
    EuroBertForMaskedLM,
    ModernBertConfig,
    ModernBertForMaskedLM,
)

from mdlm_study.models.checkpoints import MARKER, check_weights, quiet_hf_progress, verify_checkpoint
from mdlm_study.models.tiny_tokenizer import load_tokenizer


class _RowPositions:
    """Position ids counted from each row's first real token, and a length check (mixin)."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
        if position_ids is None and attention_mask is not None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        if input_ids is not None and input_ids.shape[-1] > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {input_ids.shape[-1]} exceeds max_position_embeddings={self.config.max_position_embeddings}"
            )
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)


class TinyMDLMConfig(BertConfig):
    model_type = "mdlm-tiny"


class TinyMDLM(_RowPositions, BertForMaskedLM):
    """``BertForMaskedLM`` whose position ids start at each row's first real token."""

    config_class = TinyMDLMConfig


class TinyModernMDLMConfig(ModernBertConfig):
    model_type = "mdlm-tiny-modern"


class TinyModernMDLM(_RowPositions, ModernBertForMaskedLM):
    """``ModernBertForMaskedLM`` (pre-norm, rotary positions) with the same position-id rule."""

    config_class = TinyModernMDLMConfig


class TinyEuroMDLMConfig(EuroBertConfig):
    model_type = "mdlm-tiny-euro"


class TinyEuroMDLM(_RowPositions, EuroBertForMaskedLM):
    """``EuroBertForMaskedLM`` (a Llama-style encoder: pre-norm RMSNorm, rotary positions, gated
    SiLU MLP) with the same position-id rule."""

    config_class = TinyEuroMDLMConfig


for _config, _model in ((TinyMDLMConfig, TinyMDLM), (TinyModernMDLMConfig, TinyModernMDLM), (TinyEuroMDLMConfig, TinyEuroMDLM)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForMaskedLM.register(_config, _model, exist_ok=True)


@dataclass(frozen=True)
class ModelConfig:
    """Size of the tiny model (defaults: the study's default reasoning model)."""

    hidden_size: int = 192  # width
    num_layers: int = 4  # transformer blocks
    num_heads: int = 4  # attention heads
    intermediate_size: int = 512  # MLP width
    max_length: int = 128  # maximum canvas length, in tokens
    arch: str = "eurobert"  # "eurobert" (Llama-style: pre-norm, rotary), "bert" (post-norm, learned positions) or "modernbert"
    init_std: float | None = None  # std of the normal init of every weight; None = hidden_size ** -0.5 (see below)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        for name, value in asdict(self).items():
            if name not in ("arch", "init_std") and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.init_std is not None and not self.init_std > 0:
            raise ValueError(f"init_std must be > 0 (or None for hidden_size ** -0.5), got {self.init_std}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")


ARCHS = ("bert", "modernbert", "eurobert")


def _hf_config(config: ModelConfig, tokenizer):
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_length,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "attn_implementation": "sdpa",
        "initializer_range": config.init_std if config.init_std is not None else config.hidden_size**-0.5,
    }
    if config.arch == "eurobert":
        return TinyEuroMDLMConfig(**common, mask_token_id=tokenizer.mask_token_id, tie_word_embeddings=True)
    if config.arch == "modernbert":
        return TinyModernMDLMConfig(**common, global_attn_every_n_layers=1, local_attention=2 * config.max_length,
                                    cls_token_id=tokenizer.bos_token_id, sep_token_id=tokenizer.eos_token_id)
    return TinyMDLMConfig(**common, type_vocab_size=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def build_model(config: ModelConfig, tokenizer, *, seed: int):
    """A freshly initialised tiny MDLM for ``tokenizer`` (seeded, so bit-reproducible on CPU)."""
    if tokenizer.mask_token_id is None:
        raise ValueError("tokenizer has no mask token; a masked diffusion LM needs one")
    hf_config = _hf_config(config, tokenizer)
    hf_config.mask_token_id = tokenizer.mask_token_id
    cls = {"bert": TinyMDLM, "modernbert": TinyModernMDLM, "eurobert": TinyEuroMDLM}[config.arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(hf_config)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` looks like a Hugging Face model folder (``config.json`` and safetensors
    weights); whether it is complete is :func:`mdlm_study.models.checkpoints.verify_checkpoint`'s to say."""
    path = Path(path)
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _load_strictly(path: Path):
    """``from_pretrained`` with its loading report checked: a tensor of the architecture that the
    files lack (which transformers would initialise at random), a tensor the architecture does not
    have, or a shape that differs is a ``ValueError`` naming them."""
    with quiet_hf_progress():
        model, info = AutoModelForMaskedLM.from_pretrained(str(path), output_loading_info=True)
    problems = [f"{label}: {', '.join(sorted(map(str, info.get(key) or ())))}"
                for key, label in (("missing_keys", "missing tensors"), ("unexpected_keys", "unexpected tensors"),
                                   ("mismatched_keys", "wrong shapes"), ("error_msgs", "errors")) if info.get(key)]
    if problems:
        raise ValueError(f"{path}: the weights do not fit the architecture in its config.json ({'; '.join(problems)})")
    return model


def load_tiny(path: str | Path, *, device: str = "cpu", dtype: torch.dtype | None = None, external: bool = False):
    """Load a tiny MDLM and its tokenizer from a checkpoint or snapshot directory the trainer wrote
    (on ``device``, cast to ``dtype`` after the checks when given).

    The directory must be complete (``mdlm_study.models.checkpoints.verify_checkpoint``: its completion marker
    present, every listed file there with its recorded SHA-256), its tensors must be exactly the
    architecture's (no missing, unexpected or reshaped tensor), and the loaded weights must have the
    ``weights_sha256`` the marker records; otherwise ``ValueError`` names the directory and the problem.

    ``external=True`` is for a folder the trainer did not write (``save_pretrained``, a downloaded or
    released model, which carries no marker): it needs ``config.json``, safetensors weights and the
    tokenizer, and its tensors are still checked strictly against the architecture, but nothing vouches
    that the folder is the one intended (a marker, if it has one, is still verified)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: no such checkpoint directory")
    marker = verify_checkpoint(path) if not external or (path / MARKER).exists() else None
    if not is_checkpoint(path):
        raise ValueError(f"{path} is not a checkpoint directory (needs config.json and *.safetensors)")
    model = _load_strictly(path)
    if marker is not None:
        check_weights(model, marker, path)
    return model.to(device=device, dtype=dtype).eval(), load_tokenizer(path)
