"""Load any masked diffusion LM by name or path, with its tokenizer and its MDLM facts.

Families (detected from the config's ``model_type`` / ``architectures``, overridable by ``family=``):

- ``tiny``: this project's checkpoints (``mdlm_study.tiny_model``, model types ``mdlm-tiny*``);
- ``llada``: LLaDA-8B Base/Instruct (remote code, ``AutoModel``). Its tokenizer has no mask token, so
  the mask id comes from :data:`KNOWN_IDS` (126336, PAPER.md §14; ML-GSAI/LLaDA ``generate.py``);
- ``dream``: Dream-7B (remote code). Initialised from an autoregressive model, its logits are shifted
  by one position (PEERS.md §2.2): ``shift_logits=True``, which the caller passes to the engine;
- ``masked_lm``: any ``AutoModelForMaskedLM`` (BERT, ModernBERT, ...);
- ``diffusion_gemma``: transformers 5 ships ``DiffusionGemmaForBlockDiffusion``, but it is a
  uniform-noise (random-token canvas) encoder-decoder block-diffusion model with self-conditioning and
  no mask token, so it cannot be driven by a masked-diffusion sampler: loading it raises ``ValueError``.

Every family is called the same way through :class:`ModelAdapter`: ``adapter(input_ids,
attention_mask=...)`` returns an object with ``.logits`` [B, L, V].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, PretrainedConfig
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

import mdlm_study.tiny_model  # noqa: F401  (registers the tiny model types with the Auto classes)
from mdlm_study.parameters import parse_bool
from mdlm_study.special_tokens import SpecialTokens

FAMILIES = ("tiny", "llada", "dream", "masked_lm", "diffusion_gemma")
REMOTE_CODE_FAMILIES = ("llada", "dream")
SHIFTED_FAMILIES = ("dream",)

# The ONE table of ids that a model family's tokenizer does not expose. Used only as a fallback when
# the tokenizer/config lacks the value. LLaDA: mask 126336 (PAPER.md §14), EOS 126081
# (<|endoftext|>) and EOT 126348 (<|eot_id|>), as hard-coded in ML-GSAI/LLaDA generate.py.
KNOWN_IDS: dict[str, dict[str, int]] = {
    "llada": {"mask_id": 126336, "eos_id": 126081, "eot_id": 126348},
}
# End-of-turn token strings, looked up in the tokenizer's vocabulary (chat models stop there).
EOT_TOKENS: dict[str, str] = {"llada": "<|eot_id|>", "dream": "<|im_end|>"}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedMDLM:
    """A loaded model with everything a sampler, template or trainer needs to drive it."""

    model: torch.nn.Module
    tokenizer: object
    special: SpecialTokens
    family: str
    shift_logits: bool  # True: position i is predicted by the output at i - 1 (Dream)
    max_length: int  # longest canvas the model accepts, in tokens
    eot_id: int | None = None  # end-of-turn token of chat models (LLaDA <|eot_id|>, Dream <|im_end|>)

    def denoiser(self, *, aligned: bool = False) -> ModelAdapter:
        """The model as ``f(input_ids, attention_mask=None) -> .logits``. ``aligned=True`` undoes
        Dream's shift inside (for losses and likelihoods); leave it False when calling
        ``mdlm_study.sampling.generate`` with ``shift_logits=self.shift_logits``."""
        return ModelAdapter(self.model, family=self.family, shift=aligned and self.shift_logits)

    @property
    def stop_ids(self) -> list[int]:
        """Token ids that end a generation (EOS, EOT)."""
        return [i for i in (self.special.eos_id, self.eot_id) if i is not None]


def shift_right(logits: torch.Tensor) -> torch.Tensor:
    """Dream's alignment (PEERS.md §2.2): the prediction for position i is the output at i - 1;
    position 0 keeps its own output (it is always prompt). [B, L, V] -> [B, L, V]."""
    return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)


def dream_attention(attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dream's inputs for a left-padded batch (as its ``diffusion_generate`` builds them): a 4-D
    boolean mask [B, 1, L, L] where real tokens see real tokens only, and position ids [B, L]
    counting from each row's first real token. Padding queries also see themselves, so no attention
    row is empty (an empty row gives NaN in ``scaled_dot_product_attention``); real rows are unchanged."""
    real = attention_mask.bool()
    eye = torch.eye(real.shape[1], dtype=torch.bool, device=real.device)
    mask4d = (real[:, None, None, :] & real[:, None, :, None]) | eye
    position_ids = (real.long().cumsum(-1) - 1).clamp(min=0)
    return mask4d, position_ids


class ModelAdapter(torch.nn.Module):
    """One calling convention for every family: ``adapter(input_ids, attention_mask=None)``.

    - tiny / masked_lm: the 2-D mask is passed through;
    - llada: the mask is passed only when a row is padded (LLaDA was trained without attention
      masks; ML-GSAI/LLaDA#90), so unpadded batches run exactly as LLaDA's own ``generate``;
    - dream: a 4-D mask and position ids are built by :func:`dream_attention`.
    """

    def __init__(self, model: torch.nn.Module, *, family: str, shift: bool = False):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
        self.model, self.family, self.shift = model, family, shift

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        """Logits [B, L, V] on ``input_ids``' device (inputs are moved to the model's device first, so
        CPU-side callers such as ``mdlm_study.train.train`` can drive a GPU model)."""
        home, device = input_ids.device, next(self.model.parameters()).device
        input_ids = input_ids.to(device)
        attention_mask = None if attention_mask is None else attention_mask.to(device)
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        if self.family == "dream" and padded:
            mask4d, position_ids = dream_attention(attention_mask)
            out = self.model(input_ids, attention_mask=mask4d, position_ids=position_ids)
        elif self.family in ("dream", "llada") and not padded:
            out = self.model(input_ids)
        else:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        logits = out.logits if hasattr(out, "logits") else out
        return MaskedLMOutput(logits=(shift_right(logits) if self.shift else logits).to(home))


def _config_dict(name_or_path: str) -> dict:
    """The raw ``config.json`` (no remote code runs). Raises ``ValueError`` for a path that is
    neither a checkpoint directory nor a hub name."""
    path = Path(name_or_path)
    if path.exists() and not (path / "config.json").is_file():
        raise ValueError(f"{name_or_path!r} is a local path but not a checkpoint (no config.json)")
    if not path.exists() and not _HUB_NAME.match(str(name_or_path)):
        raise ValueError(f"{name_or_path!r} is neither a checkpoint directory nor a hub name (owner/name)")
    try:
        config, _ = PretrainedConfig.get_config_dict(str(name_or_path))
    except OSError as err:
        raise ValueError(f"cannot read a config for {name_or_path!r} (not a checkpoint, or the hub is unreachable): {err}") from err
    return config


def detect_family(config: dict) -> str:
    """The family of a raw config dict, from ``model_type`` and ``architectures``."""
    model_type = str(config.get("model_type", "")).lower()
    archs = " ".join(config.get("architectures") or []).lower()
    if model_type.startswith("mdlm-tiny"):
        return "tiny"
    for family in ("llada", "dream", "diffusion_gemma"):
        if model_type == family or family.replace("_", "") in archs:
            return family
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES or "formaskedlm" in archs:
        return "masked_lm"
    raise ValueError(
        f"cannot tell the model family of model_type={model_type!r} architectures={config.get('architectures')}; "
        f"pass family= one of {FAMILIES}"
    )


def _resolve_family(config: dict, family: str | None, trust_remote_code: bool) -> str:
    family = detect_family(config) if family is None else family
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    if family == "diffusion_gemma":
        raise ValueError(
            "family 'diffusion_gemma' is not supported: DiffusionGemmaForBlockDiffusion denoises a canvas of random "
            "tokens (uniform noise, no mask token) with an encoder-decoder and self-conditioning; use its own generate()"
        )
    if family in REMOTE_CODE_FAMILIES and "auto_map" in config and not trust_remote_code:
        raise ValueError(
            f"{family} models run code shipped with the checkpoint; review it, then pass trust_remote_code=True "
            "(load_mdlm(..., trust_remote_code=True); CLI --trust-remote-code; harness model_args trust_remote_code=True)"
        )
    return family


def _special_tokens(tokenizer, config: dict, family: str) -> tuple[SpecialTokens, int | None]:
    """Ids from the tokenizer first, then the config, then :data:`KNOWN_IDS`; raise without a mask."""
    known = KNOWN_IDS.get(family, {})

    def pick(name: str, attr: str):
        value = getattr(tokenizer, attr, None)
        value = config.get(attr, None) if value is None else value
        return known.get(name) if value is None else int(value)

    mask_id = pick("mask_id", "mask_token_id")
    if mask_id is None:
        raise ValueError(f"model family {family!r}: neither the tokenizer, the config nor KNOWN_IDS give a mask token id")
    eot_token = EOT_TOKENS.get(family)
    eot_id = tokenizer.convert_tokens_to_ids(eot_token) if eot_token in tokenizer.get_vocab() else known.get("eot_id")
    special = SpecialTokens(mask_id=mask_id, eos_id=pick("eos_id", "eos_token_id"), pad_id=pick("pad_id", "pad_token_id"),
                            bos_id=pick("bos_id", "bos_token_id"))
    return special, eot_id


def _max_length(config: dict, tokenizer) -> int:
    for key in ("max_sequence_length", "max_position_embeddings", "n_positions"):
        if config.get(key):
            return int(config[key])
    return int(min(tokenizer.model_max_length, 1 << 20))


def _dtype(dtype) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if not isinstance(getattr(torch, str(dtype), None), torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; expected e.g. 'bfloat16', 'float16', 'float32'")
    return getattr(torch, str(dtype))


def load_mdlm(name_or_path: str | Path, *, device: str = "cpu", dtype=None, family: str | None = None,
              trust_remote_code: bool = False) -> LoadedMDLM:
    """Load a masked diffusion LM, its tokenizer and its facts (module docstring).

    ``trust_remote_code`` is used only when the caller passes it; remote-code families refuse to load
    without it (``ValueError`` saying how to enable it)."""
    name, trust_remote_code = str(name_or_path), parse_bool(trust_remote_code, name="trust_remote_code")
    config = _config_dict(name)
    family = _resolve_family(config, family, trust_remote_code)
    torch_dtype = _dtype(dtype)
    remote = trust_remote_code if family in REMOTE_CODE_FAMILIES else False
    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=remote)
    special, eot_id = _special_tokens(tokenizer, config, family)
    auto = AutoModel if family in REMOTE_CODE_FAMILIES else AutoModelForMaskedLM
    model = auto.from_pretrained(name, dtype=torch_dtype, trust_remote_code=remote).to(device).eval()
    return LoadedMDLM(model=model, tokenizer=tokenizer, special=special, family=family, shift_logits=family in SHIFTED_FAMILIES,
                      max_length=_max_length(config, tokenizer), eot_id=eot_id)
