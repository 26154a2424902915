"""Fine-tuning on posterior traces versus human-written (gold) traces (the paper's Table E).

The experiment at tiny scale (docs/decisions.md, "Study targets"): a base model that does reasoning-as-infilling but sits
below its ceiling (an early checkpoint of the default model's own training run, so it costs no
extra training) is fine-tuned, with the same objective and code as pre-training, on one of

- ``gold``: the generator's gold traces for a set of training problems (the "human-written" arm);
- ``posterior``: the base model's own posterior traces for the same problems, sampled with the
  answer written into the answer slot (:func:`mdlm_study.experiments.posterior.sample_posterior`), unfiltered;
- ``both``: the union;

and evaluated with greedy left-to-right decoding on held-out problems. Every arm is repeated for
several seeds (the seed drives batch order and masks); the table has one row per (arm, seed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from mdlm_study.engine.templates import Template
from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize
from mdlm_study.models import load_model
from mdlm_study.tasks.arithmetic import Problem
from mdlm_study.training.tokenized import tokenize_examples
from mdlm_study.training.train import TrainConfig, train

ARMS = ("gold", "posterior", "both")


def arm_data(arm: str, problems: Sequence[Problem], posterior: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """(questions, reasonings, answers) of one arm. ``posterior`` has one row per trace with the
    columns ``uid`` and ``reasoning`` (the output of ``sample_posterior``)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {ARMS}")
    by_uid = {p.uid: p for p in problems}
    gold = ([p.question for p in problems], [p.reasoning for p in problems], [p.answer for p in problems])
    missing = set(posterior["uid"]) - set(by_uid)
    if missing:
        raise ValueError(f"posterior traces for unknown problems: {sorted(missing)[:5]}")
    post = (
        [by_uid[u].question for u in posterior["uid"]],
        list(posterior["reasoning"]),
        [by_uid[u].answer for u in posterior["uid"]],
    )
    if arm == "gold":
        return gold
    if arm == "posterior":
        return post
    return tuple(a + b for a, b in zip(gold, post, strict=True))


def finetune(base_dir: str | Path, data: tuple[list[str], list[str], list[str]], template: Template, config: TrainConfig):
    """Load the base checkpoint (a folder, ``load_model``) and train it on ``data`` (same objective as pre-training)."""
    base = load_model(Path(base_dir))
    model, tokenizer = base.model, base.tokenizer
    questions, reasonings, answers = data
    tokenized = tokenize_examples(tokenizer, questions, reasonings, answers, template)
    train(model, tokenized, config, mask_id=tokenizer.mask_token_id, progress=False)
    return model.eval(), tokenizer


def run_finetune_experiment(
    base_dir: str | Path,
    train_problems: Sequence[Problem],
    test_problems: Sequence[Problem],
    posterior: pd.DataFrame,
    template: Template,
    *,
    config: TrainConfig,
    seeds: Sequence[int] = (0, 1, 2),
    arms: Sequence[str] = ARMS,
    eval_kwargs: dict | None = None,
) -> pd.DataFrame:
    """One row per (arm, seed) plus the base model's row: accuracy and trace accuracy on
    ``test_problems`` with greedy left-to-right decoding, the number of training traces and time."""
    if not seeds:
        raise ValueError("seeds is empty: the experiment needs at least one seed")
    eval_kwargs = {"sampler": "l2r", **(eval_kwargs or {})}
    base = load_model(Path(base_dir))
    tokenizer = base.tokenizer
    rows = [{"arm": "base", "seed": -1, "n_train": 0, "train_seconds": 0.0,
             **summarize(evaluate_arithmetic(base.model, tokenizer, test_problems, template, **eval_kwargs))}]
    for arm in arms:
        data = arm_data(arm, train_problems, posterior)
        for seed in seeds:
            started = time.perf_counter()
            model, _ = finetune(base_dir, data, template, replace(config, seed=seed))
            seconds = time.perf_counter() - started
            table = evaluate_arithmetic(model, tokenizer, test_problems, template, **eval_kwargs)
            rows.append({"arm": arm, "seed": seed, "n_train": len(data[0]), "train_seconds": seconds, **summarize(table)})
    return pd.DataFrame(rows)


T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}  # Student t, 97.5%


def summarize_arms(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per arm with a 95% Student-t interval over seeds (the paper's Table E layout)."""
    rows = []
    for arm, group in table.groupby("arm", sort=False):
        acc = group["accuracy"]
        n = len(acc)
        half = T975.get(n - 1, 1.96) * acc.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        rows.append({"arm": arm, "n_seeds": n, "accuracy_mean": acc.mean(), "ci95_low": acc.mean() - half, "ci95_high": acc.mean() + half,
                     "trace_accuracy_mean": group["trace_accuracy"].mean()})
    return pd.DataFrame(rows)
