"""LoRA fine-tuning of any loaded MDLM (the fine-tuning experiment's path for 8B models, docs/decisions.md, "Fine-tuning").

The adapter is added with ``peft``; training is ``mdlm_study.training.train.train`` unchanged (LLaDA's SFT
objective, GUIDELINES.md), run on the adapter-wrapped model through ``LoadedMDLM.denoiser(aligned=True)``
so Dream's shifted logits are aligned before the loss. Only the LoRA matrices have
``requires_grad``, so the trainer's optimiser sees nothing else.

Target modules per architecture (:data:`LORA_TARGETS`, regexes that peft full-matches against module
names). They cover every attention and MLP projection of the transformer blocks and never the LM
head (LLaDA's head is also called ``ff_out``, at ``transformer.ff_out``, hence the ``blocks.N.`` anchor):

- LLaDA (``modeling_llada.py``, ``LLaDALlamaBlock``): ``q_proj k_proj v_proj attn_out ff_proj up_proj ff_out``;
- Dream (Qwen2 layout): ``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``;
- EuroBERT (the tiny default, Llama layout): ``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``;
- BERT: ``query key value`` and the ``dense`` layers of ``encoder.layer.N``;
- ModernBERT: ``attn.Wqkv attn.Wo mlp.Wi mlp.Wo``.

For LLaDA-8B on one 80 GB GPU: load with ``dtype="bfloat16"``, ``TrainConfig(bf16=False)`` (the
weights are already bf16; the flag is CPU autocast), and a small ``batch_size``; see docs/real_models.md.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from mdlm_study.engine.templates import Template, reasoning_fits
from mdlm_study.experiments.evaluate import summarize
from mdlm_study.models.loader import LoadedMDLM
from mdlm_study.training.finetune import ARMS, arm_data
from mdlm_study.training.tokenized import TokenizedSet, tokenize_examples
from mdlm_study.training.train import TrainConfig, train

LORA_TARGETS: dict[str, str] = {
    "llada": r".*\.blocks\.\d+\.(q_proj|k_proj|v_proj|attn_out|ff_proj|up_proj|ff_out)",
    "dream": r".*\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))",
    "eurobert": r".*\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))",
    "bert": r".*\.layer\.\d+\..*(query|key|value|dense)",
    "modernbert": r".*\.layers\.\d+\.(attn\.(Wqkv|Wo)|mlp\.(Wi|Wo))",
}
_ARCH_OF_MODEL_TYPE = {"mdlm-tiny": "bert", "bert": "bert", "mdlm-tiny-modern": "modernbert", "modernbert": "modernbert",
                       "mdlm-tiny-euro": "eurobert", "eurobert": "eurobert"}


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16  # rank of the update
    alpha: int = 32  # scale = alpha / r
    dropout: float = 0.0  # dropout on the LoRA input (the MDLM masking already regularises)
    target_modules: str | tuple[str, ...] | None = None  # None: LORA_TARGETS for the model's architecture

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"need r >= 1, alpha > 0, 0 <= dropout < 1; got r={self.r}, alpha={self.alpha}, dropout={self.dropout}")


def lora_targets(loaded: LoadedMDLM) -> str:
    """The target-module regex for ``loaded`` (module docstring)."""
    if loaded.family in ("llada", "dream"):
        return LORA_TARGETS[loaded.family]
    model_type = getattr(loaded.model.config, "model_type", "")
    if model_type not in _ARCH_OF_MODEL_TYPE:
        raise ValueError(f"no default LoRA targets for model_type={model_type!r}; pass LoraSettings(target_modules=...)")
    return LORA_TARGETS[_ARCH_OF_MODEL_TYPE[model_type]]


def add_lora(loaded: LoadedMDLM, settings: LoraSettings = LoraSettings()) -> LoadedMDLM:
    """A copy of ``loaded`` whose model is wrapped in a fresh LoRA adapter (base weights frozen)."""
    targets = settings.target_modules or lora_targets(loaded)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(targets) if isinstance(targets, tuple) else targets)
    return replace(loaded, model=get_peft_model(loaded.model, config))


def train_lora(loaded: LoadedMDLM, data: TokenizedSet, config: TrainConfig, *, out_dir: str | Path | None = None,
               progress: bool = False) -> list[dict]:
    """Train the adapter of ``loaded`` (from :func:`add_lora`) with the project's trainer; save the
    adapter to ``out_dir`` when given. Returns the trainer's history."""
    if not isinstance(loaded.model, PeftModel):
        raise ValueError(f"train_lora needs a model wrapped by add_lora, got {type(loaded.model).__name__}")
    history = train(loaded.denoiser(aligned=True), data, config, mask_id=loaded.special.mask_id, progress=progress)
    if out_dir is not None:
        save_adapter(loaded, out_dir)
    return history


def save_adapter(loaded: LoadedMDLM, out_dir: str | Path) -> Path:
    """Write only the adapter (``adapter_config.json`` + ``adapter_model.safetensors``)."""
    if not isinstance(loaded.model, PeftModel):
        raise ValueError(f"no LoRA adapter to save on {type(loaded.model).__name__}")
    loaded.model.save_pretrained(str(out_dir))
    return Path(out_dir)


def load_adapter(base: LoadedMDLM, adapter_dir: str | Path) -> LoadedMDLM:
    """``base`` (a freshly loaded model) with the saved adapter attached, in eval mode."""
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise ValueError(f"{adapter_dir} is not a LoRA adapter directory (no adapter_config.json)")
    return replace(base, model=PeftModel.from_pretrained(base.model, str(adapter_dir)).eval())


def merge_adapter(loaded: LoadedMDLM) -> LoadedMDLM:
    """Fold the adapter into the base weights (``merge_and_unload``): a plain model, same logits."""
    if not isinstance(loaded.model, PeftModel):
        raise ValueError(f"no LoRA adapter to merge on {type(loaded.model).__name__}")
    return replace(loaded, model=loaded.model.merge_and_unload().eval())


def fitting_examples(tokenizer, data: tuple[list[str], list[str], list[str]], template: Template) -> tuple[list[str], list[str], list[str]]:
    """The (question, reasoning, answer) triples whose reasoning fits the template's reasoning slot
    (a GSM8K gold solution can be longer than a short canvas; such an example is left out)."""
    kept = [row for row in zip(*data, strict=True) if reasoning_fits(tokenizer, row[1], template)]
    return tuple(list(column) for column in zip(*kept, strict=True)) if kept else ([], [], [])


def _lora_run(loaded: LoadedMDLM, data: TokenizedSet, config: TrainConfig, settings: LoraSettings, evaluate: Callable,
              test_problems: Sequence) -> tuple[pd.DataFrame, float]:
    """Add a fresh adapter (its initialisation seeded by ``config.seed``), train it, evaluate, remove
    it again (``unload``: the base weights were never changed). Returns the table and the seconds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        adapted = add_lora(loaded, settings)
    started = time.perf_counter()
    train_lora(adapted, data, config)
    seconds = time.perf_counter() - started
    adapted.model.eval()
    try:
        return evaluate(adapted, test_problems), seconds
    finally:
        adapted.model.unload()


def run_lora_finetune_experiment(loaded: LoadedMDLM, train_problems: Sequence, test_problems: Sequence, posterior: pd.DataFrame,
                                 template: Template, *, config: TrainConfig, evaluate: Callable, grade: Callable,
                                 seeds: Sequence[int] = (0, 1, 2), arms: Sequence[str] = ARMS,
                                 settings: LoraSettings = LoraSettings()) -> pd.DataFrame:
    """The paper's Table E on a real model through LoRA (:func:`mdlm_study.training.finetune.run_finetune_experiment`
    is the study models' full fine-tuning): one row per (arm, seed), plus the base model's row.

    Each run adds a fresh adapter to ``loaded`` and trains it on the arm's data
    (:func:`~mdlm_study.training.finetune.arm_data`; examples whose reasoning does not fit the slot left out,
    :func:`fitting_examples`), then ``evaluate(adapted, test_problems)`` (the free decoding of the
    notebook, a per-problem table with ``correct``, ``nfe`` and ``reasoning``), and removes the
    adapter. ``trace_accuracy`` is the fraction of decoded traces ``grade(problem, steps).correct``.
    An arm none of whose examples fits is left out of the table, with a warning naming it."""
    if not seeds:
        raise ValueError("seeds is empty: the experiment needs at least one seed")
    for arm in arms:
        if arm not in ARMS:
            raise ValueError(f"unknown arm {arm!r}; expected one of {ARMS}")

    def row(arm: str, seed: int, n_train: int, seconds: float, table: pd.DataFrame) -> dict:
        traces = [bool(grade(p, [s.strip() for s in r.split(template.step_separator) if s.strip()]).correct)
                  for p, r in zip(test_problems, table["reasoning"], strict=True)]
        return {"arm": arm, "seed": seed, "n_train": n_train, "train_seconds": seconds, **summarize(table),
                "trace_accuracy": sum(traces) / max(1, len(traces))}

    rows = [row("base", -1, 0, 0.0, evaluate(loaded, test_problems))]
    for arm in arms:
        data = fitting_examples(loaded.tokenizer, arm_data(arm, train_problems, posterior), template)
        if not data[0]:  # e.g. a random model's traces, which re-tokenize longer than they were sampled
            warnings.warn(f"arm {arm!r} left out: none of its examples fits the reasoning slot ({template.reasoning_len} tokens)", stacklevel=2)
            continue
        tokenized = tokenize_examples(loaded.tokenizer, *data, template)
        for seed in seeds:
            table, seconds = _lora_run(loaded, tokenized, replace(config, seed=seed), settings, evaluate, test_problems)
            rows.append(row(arm, seed, len(data[0]), seconds, table))
    return pd.DataFrame(rows)
