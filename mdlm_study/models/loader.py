"""Load any masked diffusion LM by name or path, with its tokenizer and its MDLM facts: :func:`load_model`,
the package's one loader.

What a name resolves to (:func:`load_model`'s docstring gives the order): a released study model
(``"default"``, ``"sudoku"``, ``"default_seed3"``: ``models/``, checked against its manifest,
:mod:`mdlm_study.models.released`), a study model trained here (a name in ``checkpoints_dir``: its
``training.json`` and completion marker checked), a local folder (a tiny study checkpoint or any Hugging
Face folder) or a hub name. Every one comes back as a :class:`LoadedMDLM`; :attr:`LoadedMDLM.kind` says
which it was, :attr:`LoadedMDLM.record` holds a study model's training record.

Families (detected from the config's ``model_type`` / ``architectures``, overridable by ``family=``):

- ``tiny``: this project's checkpoints and released models (``mdlm_study.models.tiny_model``, model types
  ``mdlm-tiny*``), read by ``load_tiny``: every tensor checked against the architecture (a missing or
  reshaped one is a ``ValueError``, never a random initialisation), a completion marker, when the folder
  has one, verified;
- ``llada``: LLaDA-8B Base/Instruct (remote code, ``AutoModel``). Its tokenizer has no mask token
  (``<|mdm_mask|>`` 126336 is an ordinary added token), so the mask id comes from the config or
  :data:`KNOWN_IDS` (LLaDA's ``generate.py`` hard-codes 126336), and :func:`declare_mask_token`
  declares that token as the loaded tokenizer's mask token;
- ``dream``: Dream-7B (remote code). Initialised from an autoregressive model, it predicts position i
  at output i - 1 (its ``generation_utils.py`` shifts the logits right): ``shift_logits=True``, which
  the caller passes to the engine;
- ``masked_lm``: any ``AutoModelForMaskedLM`` (BERT, ModernBERT, ...);
- ``diffusion_gemma``: transformers 5 ships ``DiffusionGemmaForBlockDiffusion``, but it is a
  uniform-noise (random-token canvas) encoder-decoder block-diffusion model with self-conditioning and
  no mask token, so it cannot be driven by a masked-diffusion sampler: loading it raises ``ValueError``.

Every family is called the same way through :class:`ModelAdapter`: ``adapter(input_ids,
attention_mask=...)`` returns an object with ``.logits`` [B, L, V].

Remote code written for transformers 4 (LLaDA's model card asks for 4.38.2, Dream's for 4.46.2) is
loaded through a small compatibility layer (:mod:`mdlm_study.models.remote_code`): each patch answers one
change of transformers 5, acts only on a class or config that needs it, and is named in
:attr:`LoadedMDLM.compat` when it acted.

Nothing uninitialised survives a load: every tensor a checkpoint does not hold (non-persistent
buffers such as Dream's rotary ``inv_freq``, which transformers 5 leaves as ``torch.empty`` memory
for remote code) is recomputed as the architecture's ``__init__`` computes it
(:func:`mdlm_study.models.remote_code.rebuild_unsaved_tensors`), and a model with a tensor on the meta
device or a non-finite parameter or buffer is refused with a ``ValueError`` naming it.

At load, :func:`probe_padding` checks once whether a left-padded row gets the logits it gets alone
(:attr:`LoadedMDLM.honours_padding`). LLaDA's first release builds an attention bias from the mask and
then attends with ``attn_mask=None``, so padding changes its logits; the revision of 2025-10-21 and
Dream honour the mask. Callers decode models that ignore it in :mod:`mdlm_study.engine.batching`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, PretrainedConfig
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from mdlm_study.core.parameters import parse_bool
from mdlm_study.core.records import relative
from mdlm_study.core.special_tokens import SpecialTokens
from mdlm_study.engine.denoiser import logits_of
from mdlm_study.models.checkpoints import MARKER, RECORD, read_record, weights_sha256
from mdlm_study.models.released import (
    MANIFEST,
    RELEASED_DIR,
    check_release,
    is_release_dir,
    missing_model_message,
    released_names,
    released_path,
    released_record,
)
from mdlm_study.models.remote_code import load_remote, rebuild_unsaved_tensors, refuse_unfinished
from mdlm_study.models.tiny_model import (
    load_tiny,  # also registers the tiny model types with the Auto classes
)

FAMILIES = ("tiny", "llada", "dream", "masked_lm", "diffusion_gemma")
REMOTE_CODE_FAMILIES = ("llada", "dream")
SHIFTED_FAMILIES = ("dream",)

# The ONE table of ids that a model family's tokenizer does not expose. Used only as a fallback when
# the tokenizer/config lacks the value. LLaDA: mask 126336, EOS 126081 (<|endoftext|>) and EOT 126348
# (<|eot_id|>), as hard-coded in LLaDA's generate.py and chat.py.
KNOWN_IDS: dict[str, dict[str, int]] = {
    "llada": {"mask_id": 126336, "eos_id": 126081, "eot_id": 126348},
}
# End-of-turn token strings, looked up in the tokenizer's vocabulary (chat models stop there).
EOT_TOKENS: dict[str, str] = {"llada": "<|eot_id|>", "dream": "<|im_end|>"}
# Largest relative difference (:func:`logits_difference`) between a probe row's logits alone and
# left-padded that still counts as equal: float32 kernels reorder sums (~1e-7); bf16 rounds the
# RoPE-rotated queries and keys of a row that starts at another absolute position (~1e-2). A model
# that attends to its padding moves far more (the first LLaDA release, on the tests' tiny checkpoint:
# ~0.3).
PADDING_RTOL: dict[torch.dtype, float] = {torch.float64: 1e-6, torch.float32: 1e-4, torch.float16: 1e-2,
                                          torch.bfloat16: 5e-2}
PROBE_TEXT = "Q: what is 12 + 7 ? A:"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
KINDS = ("released", "trained", "folder", "hub")  # what load_model resolved a name to (LoadedMDLM.kind)
STUDY_KINDS = ("released", "trained")  # the study's own models, loaded by name


@dataclass
class LoadedMDLM:
    """A loaded model with everything a sampler, template, trainer or harness needs to drive it."""

    model: torch.nn.Module
    tokenizer: object
    special: SpecialTokens  # mask/eos/pad/bos: tokenizer, then config, then KNOWN_IDS
    family: str
    shift_logits: bool  # True: position i is predicted by the output at i - 1 (Dream)
    max_length: int  # longest canvas the model accepts, in tokens
    eot_id: int | None = None  # end-of-turn token of chat models (LLaDA <|eot_id|>, Dream <|im_end|>)
    honours_padding: bool | None = None  # probe_padding's verdict (load_model sets it); None: not probed
    chat: bool = False  # the tokenizer has a chat template
    compat: tuple[str, ...] = ()  # transformers-5 patches that acted on this model (section below)
    kind: str = "folder"  # what load_model resolved the name to, one of KINDS ("released", "trained": a study model)
    record: dict | None = None  # a study model's training record (training.json; a released one's with its name and SHA-256)
    _sha256: str | None = field(default=None, init=False, repr=False, compare=False)  # not copied by replace()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's (first) parameters."""
        return next(self.model.parameters()).dtype

    def denoiser(self, *, aligned: bool = False) -> ModelAdapter:
        """The model as ``f(input_ids, attention_mask=None) -> .logits``. ``aligned=True`` undoes
        Dream's shift inside (for losses and likelihoods); leave it False when calling
        ``mdlm_study.engine.generate`` with ``shift_logits=self.shift_logits``."""
        return ModelAdapter(self.model, family=self.family, shift=aligned and self.shift_logits)

    @property
    def stop_ids(self) -> list[int]:
        """Token ids that end a generation (EOS, EOT)."""
        return [i for i in (self.special.eos_id, self.eot_id) if i is not None]

    def weights_sha256(self) -> str:
        """SHA-256 of the weights (:func:`mdlm_study.models.checkpoints.weights_sha256`: every state-dict tensor in
        sorted key order), computed on first use and cached on this object, for result records."""
        if self._sha256 is None:
            self._sha256 = weights_sha256(self.model)
        return self._sha256


def shift_right_(logits: torch.Tensor, *, chunk_elements: int = 2**22) -> torch.Tensor:
    """:func:`mdlm_study.engine.denoiser.shift_right` in place, without a second copy of the logits: positions move one to the
    right, last first, in chunks of about ``chunk_elements`` values (each chunk is cloned before it is
    written back, so overlapping source and destination are safe). Returns ``logits``."""
    batch, length, vocab = logits.shape
    step = max(1, chunk_elements // max(1, batch * vocab))
    end = length  # positions [start, end) take the values of [start - 1, end - 1)
    while end > 1:
        start = max(1, end - step)
        logits[:, start:end] = logits[:, start - 1:end - 1].clone()
        end = start
    return logits


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
      masks), so unpadded batches run exactly as LLaDA's own ``generate``;
    - dream: a 4-D mask and position ids are built by :func:`dream_attention` (Dream hands its mask
      to ``scaled_dot_product_attention`` unchanged: a 2-D integer mask fails there).

    Remote-code models run with ``use_cache=False``: Dream's config asks for a key/value cache that a
    diffusion step never reuses, and LLaDA asserts it is off.
    """

    def __init__(self, model: torch.nn.Module, *, family: str, shift: bool = False):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
        self.model, self.family, self.shift = model, family, shift

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        """Logits [B, L, V] on ``input_ids``' device (inputs are moved to the model's device first, so
        CPU-side callers such as ``mdlm_study.training.train.train`` can drive a GPU model). With ``shift`` the
        model's fresh logits are aligned in place (:func:`shift_right_`): no second copy."""
        home, device = input_ids.device, next(self.model.parameters()).device
        input_ids = input_ids.to(device)
        attention_mask = None if attention_mask is None else attention_mask.to(device)
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        remote = {"use_cache": False} if self.family in REMOTE_CODE_FAMILIES else {}
        if self.family == "dream" and padded:
            mask4d, position_ids = dream_attention(attention_mask)
            out = self.model(input_ids, attention_mask=mask4d, position_ids=position_ids, **remote)
        elif self.family in REMOTE_CODE_FAMILIES and not padded:
            out = self.model(input_ids, **remote)
        else:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, **remote)
        logits = logits_of(out)
        return MaskedLMOutput(logits=(shift_right_(logits) if self.shift else logits).to(home))


# --- padding --------------------------------------------------------------------------------------

def _probe_row(tokenizer, special: SpecialTokens) -> list[int]:
    """A short prompt of real tokens followed by three masks (what a decoding canvas looks like)."""
    ids = list(tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"])[:12]
    return ids + [special.mask_id] * 3


def logits_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||b - a|| / ||a||`` over all positions after centring each position's logits (softmax
    ignores a constant shift): a scale-free distance that one outlier logit cannot dominate."""
    a, b = a.detach().float(), b.detach().float()
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return float((b - a).norm() / a.norm().clamp(min=1e-12))


@torch.no_grad()
def probe_padding(adapter: ModelAdapter, row: Sequence[int], *, pad_id: int, n_pad: int = 4) -> bool:
    """Whether ``adapter`` gives a left-padded row the logits it gives the row alone.

    The row is decoded alone, then left-padded by ``n_pad`` ``pad_id`` tokens in a batch with an
    unpadded row of the same width; the raw (unshifted) logits of its real positions must agree to
    :data:`PADDING_RTOL` of the model's dtype in :func:`logits_difference`."""
    if n_pad < 1 or len(row) < 1:
        raise ValueError(f"need n_pad >= 1 and a non-empty row; got n_pad={n_pad}, row={list(row)}")
    real = torch.tensor(list(row), dtype=torch.long)
    alone = adapter(real[None]).logits[0]
    padded = torch.cat([torch.full((n_pad,), pad_id, dtype=torch.long), real])
    other = torch.cat([real, real[:1].repeat(n_pad)])
    mask = torch.ones(2, len(padded), dtype=torch.long)
    mask[0, :n_pad] = 0
    batched = adapter(torch.stack([padded, other]), attention_mask=mask).logits[0, n_pad:]
    dtype = next(adapter.model.parameters()).dtype
    return logits_difference(alone, batched) <= PADDING_RTOL.get(dtype, 1e-4)


# --- loading --------------------------------------------------------------------------------------

def _config_dict(name_or_path: str) -> dict:
    """The raw ``config.json`` of a checkpoint folder or hub name (no remote code runs)."""
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
            "(load_model(..., trust_remote_code=True); CLI --trust-remote-code; harness model_args trust_remote_code=True)"
        )
    return family


def _token_id(tokenizer, token: str) -> int | None:
    """The id of ``token`` in the vocabulary, or None (without building the whole vocabulary dict)."""
    index = tokenizer.convert_tokens_to_ids(token)
    if index is None or (index == tokenizer.unk_token_id and token != tokenizer.unk_token):
        return None
    return int(index)


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
    eot_id = _token_id(tokenizer, eot_token) if eot_token else None
    eot_id = known.get("eot_id") if eot_id is None else eot_id
    special = SpecialTokens(mask_id=mask_id, eos_id=pick("eos_id", "eos_token_id"), pad_id=pick("pad_id", "pad_token_id"),
                            bos_id=pick("bos_id", "bos_token_id"))
    return special, eot_id


def declare_mask_token(tokenizer, mask_id: int) -> bool:
    """Make ``tokenizer.mask_token_id`` the model's mask id when the tokenizer declares no mask token.

    LLaDA's tokenizer holds ``<|mdm_mask|>`` (126336) as an ordinary added token, so code that asks the
    tokenizer (``SpecialTokens.from_tokenizer``, ``templates.build_canvas``) found no mask; the id lived
    only in :attr:`LoadedMDLM.special`. Declaring the existing token changes no id and no encoding.
    Returns whether it declared one."""
    if getattr(tokenizer, "mask_token_id", None) is not None:
        return False
    token = tokenizer.convert_ids_to_tokens(mask_id)
    if token is None or _token_id(tokenizer, token) != mask_id:
        return False
    tokenizer.mask_token = token
    return True


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


def _load_model(name: str, family: str, config: dict, dtype: torch.dtype | None,
                trust_remote_code: bool) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """The model of a non-tiny family with every tensor its checkpoint does not hold recomputed."""
    if family not in REMOTE_CODE_FAMILIES:
        model, compat = AutoModelForMaskedLM.from_pretrained(name, dtype=dtype), ()
    elif trust_remote_code and "auto_map" in config:
        model, compat = load_remote(name, config, dtype)
    else:
        model, compat = AutoModel.from_pretrained(name, dtype=dtype, trust_remote_code=trust_remote_code), ()
    rebuild_unsaved_tensors(model)
    return model, compat


def _assemble(model: torch.nn.Module, tokenizer, special: SpecialTokens, eot_id: int | None, config: dict, family: str, *,
              device: str, compat: tuple[str, ...] = (), kind: str, record: dict | None = None) -> LoadedMDLM:
    """The :class:`LoadedMDLM` of a loaded model, on ``device`` in eval mode, its padding probed once."""
    refuse_unfinished(model)
    loaded = LoadedMDLM(model=model.to(device).eval(), tokenizer=tokenizer, special=special, family=family,
                        shift_logits=family in SHIFTED_FAMILIES, max_length=_max_length(config, tokenizer),
                        eot_id=eot_id, chat=bool(getattr(tokenizer, "chat_template", None)), compat=compat, kind=kind, record=record)
    pad_id = next(i for i in (special.pad_id, special.eos_id, special.mask_id) if i is not None)
    loaded.honours_padding = probe_padding(loaded.denoiser(), _probe_row(tokenizer, special), pad_id=pad_id)
    return loaded


def _load_checkpoint(name: str, *, kind: str, device: str, dtype: torch.dtype | None, family: str | None,
                     trust_remote_code: bool) -> LoadedMDLM:
    """A Hugging Face checkpoint folder or hub name of any family (module docstring)."""
    config = _config_dict(name)
    family = _resolve_family(config, family, trust_remote_code)
    remote = trust_remote_code if family in REMOTE_CODE_FAMILIES else False
    record = None
    if family == "tiny":  # strictly: no missing, unexpected or reshaped tensor (a released or trained folder, no marker needed)
        model, tokenizer = load_tiny(name, external=True)  # the stored dtype: a run's record is checked on it
        if kind == "folder" and _is_finished_run(Path(name)):
            record, kind = read_record(name), "trained"
            _check_recorded_weights(Path(name), record, weights_sha256(model))
        model = model.to(dtype=dtype)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=remote)
    special, eot_id = _special_tokens(tokenizer, config, family)
    declare_mask_token(tokenizer, special.mask_id)
    model, compat = (model, ()) if family == "tiny" else _load_model(name, family, config, dtype, remote)
    return _assemble(model, tokenizer, special, eot_id, config, family, device=device, compat=compat, kind=kind, record=record)


def _is_finished_run(folder: Path) -> bool:
    """Whether ``folder`` is the final checkpoint of a finished study run: the trainer's completion marker
    and the run's ``training.json`` beside it (a released model's files, copied out, have no marker)."""
    return (folder / MARKER).is_file() and (folder / RECORD).is_file()


def _check_recorded_weights(folder: Path, record: dict, sha: str) -> None:
    """``ValueError`` unless the loaded weights are the ones the run's ``training.json`` records."""
    if record.get("weights_sha256") != sha:
        raise ValueError(f"{folder}: the weights have SHA-256 {sha}, but {RECORD} records {record.get('weights_sha256')}")


def study_model_dir(name: str, checkpoints_dir: str | Path) -> Path:
    """The folder of study model ``name`` in ``checkpoints_dir``: the layout notebook 01 trains into
    (``mdlm_study.training.recipes``), or the release's (``models/``).

    - a release folder (it holds ``MANIFEST.json``): ``<checkpoints_dir>/<name>`` for a name its manifest
      lists (``ValueError`` listing them otherwise);
    - ``"base"`` elsewhere: the fine-tuning experiment's base model, the ``default`` run's first snapshot
      (``default/step<N>``, as the run's ``training.json`` records it);
    - any other name: ``<checkpoints_dir>/<name>`` (``ValueError`` saying how to train it, or which
      released model to use, when there is no such folder)."""
    if is_release_dir(checkpoints_dir):
        return released_path(name, checkpoints_dir)
    root = Path(checkpoints_dir)
    if name == "base":
        if not (root / "default").is_dir():
            raise ValueError(f"{root / 'default'}: no such directory: the base model is the default run's snapshot; "
                             + missing_model_message("default", checkpoints_dir))
        record = read_record(root / "default")
        if not record.get("snapshots"):
            raise ValueError(f"{root / 'default' / RECORD}: records no snapshot to serve as the base model")
        return root / "default" / record["snapshots"][0]
    if not (root / name).is_dir():
        raise ValueError(f"{root / name}: no such directory: {missing_model_message(name, checkpoints_dir)}")
    return root / name


def _load_study_model(name: str, folder: Path, checkpoints_dir: str | Path, *, device: str, dtype: torch.dtype | None) -> LoadedMDLM:
    """Study model ``name`` from its ``folder`` in ``checkpoints_dir`` (:func:`study_model_dir`), verified end
    to end: a released one against the release manifest (every file's size and SHA-256, then the loaded
    weights' SHA-256); a trained one by its completion marker and the weights SHA-256 its ``training.json``
    records (``base``: the snapshot's marker). Checked on the CPU in the stored dtype, then moved and cast."""
    if is_release_dir(checkpoints_dir):
        entry = check_release(name, checkpoints_dir)
        model, tokenizer = load_tiny(folder, external=True)
        sha, kind, record = weights_sha256(model), "released", released_record(name, checkpoints_dir)
        if sha != entry["weights_sha256"]:
            raise ValueError(f"released model {name!r} ({folder}): loaded weights have SHA-256 {sha}, but {MANIFEST} records "
                             f"{entry['weights_sha256']}; restore it with `git checkout -- {relative(folder)}`")
    else:
        record = {"recipe": "base", "source": str(folder)} if name == "base" else read_record(folder)
        model, tokenizer = load_tiny(folder)  # its completion marker, and the weights SHA-256 the marker records
        sha, kind = weights_sha256(model), "trained"
        if name != "base":
            _check_recorded_weights(folder, record, sha)
    config = _config_dict(str(folder))
    special, eot_id = _special_tokens(tokenizer, config, "tiny")
    loaded = _assemble(model.to(dtype=dtype), tokenizer, special, eot_id, config, "tiny", device=device, kind=kind, record=record)
    if dtype is None:
        loaded._sha256 = sha  # the weights as verified
    return loaded


def _is_name(value: str) -> bool:
    """A bare name, without a path separator: looked up as a study model before anything else."""
    return bool(value) and "/" not in value and os.sep not in value and value not in (".", "..")


def load_model(name_or_path: str | Path, *, checkpoints_dir: str | Path | None = None, device: str = "cpu", dtype=None,
               family: str | None = None, trust_remote_code: bool = False) -> LoadedMDLM:
    """Load any model by name or path, with its tokenizer and its MDLM facts (module docstring); probe
    once whether it honours attention masks. The package's one loader.

    Resolution order, the first that applies:

    1. a bare name (a string without ``/``; a ``Path`` is always a folder) is a study model's
       (:func:`study_model_dir`): with ``checkpoints_dir=None``
       a released model in ``models/`` (``"default"``, ``"answer_only"``, ``"sudoku"``, ``"base"``,
       ``"default_seed3"``, ...); with ``checkpoints_dir`` a release folder, one released there; with any
       other ``checkpoints_dir``, the run notebook 01 trained there (``"base"``: the default run's
       snapshot). A name found there is never looked for elsewhere, and one not found there is a
       ``ValueError`` unless it is a local folder: a model asked for in ``checkpoints`` is never
       silently the released one;
    2. an existing local folder: a released model's folder (its parent holds the manifest) is verified
       as in 1; any other needs a ``config.json`` and loads by its family (the tiny study checkpoint
       strictly, its completion marker verified when it has one; LLaDA, Dream, any masked LM). A
       finished study run's folder (``checkpoints/chains``: a completion marker and a ``training.json``)
       is kind ``"trained"``, its record read and the weights checked against the SHA-256 it records;
    3. a hub name ``owner/name`` (downloaded, or from the Hugging Face cache).

    Anything else (a missing path, a folder that is not a checkpoint, an unknown name) is a
    ``ValueError`` naming the value and what was tried. :attr:`LoadedMDLM.kind` says which source it
    was (``"released"``, ``"trained"``, ``"folder"``, ``"hub"``), :attr:`LoadedMDLM.record` holds a
    study model's training record.

    ``trust_remote_code`` is used only when the caller passes it; remote-code families refuse to load
    without it (``ValueError`` saying how to enable it). ``dtype=None`` keeps the checkpoint's dtype;
    ``family`` overrides the detected family of a folder or hub model (a study model is ``"tiny"``)."""
    value, trust_remote_code, torch_dtype = str(name_or_path), parse_bool(trust_remote_code, name="trust_remote_code"), _dtype(dtype)
    path = Path(value)
    if not isinstance(name_or_path, Path) and _is_name(value):
        where = RELEASED_DIR if checkpoints_dir is None else checkpoints_dir
        try:
            folder = study_model_dir(value, where)
        except ValueError as err:
            if not path.is_dir():
                raise ValueError(f"{value!r} names no model: {err}; nor is it a local folder or a hub name (owner/name)") from None
        else:
            if family not in (None, "tiny"):
                raise ValueError(f"study model {value!r} is of family 'tiny', not {family!r}")
            return _load_study_model(value, folder, where, device=device, dtype=torch_dtype)
    if path.exists():
        if is_release_dir(path.parent) and path.name in released_names(path.parent):
            return _load_study_model(path.name, path, path.parent, device=device, dtype=torch_dtype)
        if not (path / "config.json").is_file():
            raise ValueError(f"{value!r} is a local path but not a model folder (no config.json), nor a released model's folder")
        return _load_checkpoint(value, kind="folder", device=device, dtype=torch_dtype, family=family, trust_remote_code=trust_remote_code)
    if _HUB_NAME.match(value):
        return _load_checkpoint(value, kind="hub", device=device, dtype=torch_dtype, family=family, trust_remote_code=trust_remote_code)
    raise ValueError(f"{value!r} names no model: no such local folder, not a hub name (owner/name), and not a study model's name "
                     "(a bare name such as 'default')")
