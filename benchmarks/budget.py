"""What a longer training budget buys a recipe: the evaluations ``benchmarks/budget_curve.py`` runs
during and after training (greedy accuracy over the run, fixed k at the end, the blank-slot reading)
and its ``KEY=VALUE`` overrides of the training and model configurations."""

from __future__ import annotations

import dataclasses
import math
import time

from mdlm_study.experiments.analysis import sweep
from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize
from mdlm_study.models.tiny_model import ModelConfig
from mdlm_study.runner import parse_overrides
from mdlm_study.training.train import TrainConfig

FIXED_K = (1, 2, 4)


def curve_point(model, tokenizer, problems, template, started: float) -> dict:
    """Greedy left-to-right accuracy on every held-out problem, with the wall time so far."""
    summary = summarize(evaluate_arithmetic(model, tokenizer, problems, template, sampler="l2r", batch_size=300))
    return {"minutes": (time.perf_counter() - started) / 60, "accuracy": summary["accuracy"],
            "step_accuracy": summary["step_accuracy"], "trace_accuracy": summary["trace_accuracy"]}


def fixed_k(model, tokenizer, problems, template) -> list[dict]:
    """Entropy-ordered decoding at k tokens per step (the fixed-k rows of the paper's Table B), by :func:`analysis.sweep`."""
    table = sweep(lambda batch, config: evaluate_arithmetic(model, tokenizer, batch, template, config, batch_size=300), problems,
                  [{"sampler": "entropy", "tokens_per_step": k} for k in FIXED_K])
    return table[["tokens_per_step", "accuracy", "step_accuracy", "trace_accuracy", "mean_nfe"]].to_dict("records")


def blank_slot(model, tokenizer, problems, template) -> dict:
    """The answer read off the first forward pass, the whole reasoning slot still masked
    (``exit_gamma=inf``: the exit fires on pass 1; as in ``bench_answer_source.py``): how much of the
    answer the model computes in the masked slot rather than from the reasoning it writes."""
    table = evaluate_arithmetic(model, tokenizer, problems, template, sampler="entropy", exit_gamma=math.inf, batch_size=300)
    summary = summarize(table)
    return {"accuracy": summary["accuracy"], "mean_nfe": summary["mean_nfe"]}


def field_overrides(pairs: list[str], config_class) -> dict:
    """``KEY=VALUE`` pairs (YAML-parsed values) naming fields of the dataclass ``config_class``."""
    overrides = parse_overrides(pairs)
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} field(s) {unknown}; expected some of {sorted(known)}")
    return overrides


def train_overrides(pairs: list[str]) -> dict:
    """:class:`TrainConfig` fields to change, e.g. ``suffix_mask_prob=0.5`` (not those with their own option)."""
    overrides = field_overrides(pairs, TrainConfig)
    flagged = sorted(set(overrides) & {"steps", "batch_size", "eval_every", "save_every", "seed"})
    if flagged:
        raise ValueError(f"{flagged} have their own options (--steps, --batch-size, --eval-every, --seed); not --set")
    return overrides


def model_overrides(pairs: list[str]) -> dict:
    """:class:`ModelConfig` fields to change, e.g. ``num_layers=3``."""
    return field_overrides(pairs, ModelConfig)
