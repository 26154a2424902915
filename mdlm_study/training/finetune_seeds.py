"""The paper's Table E on every training seed: fine-tuning each seed's own base snapshot on gold traces,
on its own posterior traces, and on both (:mod:`mdlm_study.training.finetune`, notebook 05's experiment).

One training seed (:func:`measure_finetune_seed`): its base model (the default recipe's run of that seed
at :data:`~mdlm_study.training.recipes.BASE_STEP`, below its ceiling) samples one posterior trace per
fine-tuning problem (the answer given, the reasoning infilled), then every arm is fine-tuned from the base
with each fine-tuning seed and graded on the same held-out problems (greedy, left to right). Each of
Table E's comparisons on that seed (:data:`COMPARISONS`) is the difference of two arms' mean accuracies,
its interval counting the problems and the fine-tuning seeds' spread
(:func:`mdlm_study.core.verdicts.seeded_difference`). :func:`finetune_claims` pools each comparison over
the training seeds with the seed as the unit (:func:`mdlm_study.experiments.trace_seeds.pool_over_seeds`:
DerSimonian-Laird, Hartung-Knapp, a prediction interval for a new seed), as every other seeds claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mdlm_study.core import verdicts as v
from mdlm_study.core.checks import int_at_least
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import Template
from mdlm_study.experiments.posterior import sample_posterior
from mdlm_study.experiments.trace_seeds import pool_over_seeds
from mdlm_study.models import load_model
from mdlm_study.training.finetune import ARMS, run_finetune_experiment
from mdlm_study.training.train import TrainConfig

TRACE_ARMS = ("gold", "posterior")
BETTER_ARM = "better"  # stands for the better of gold and posterior on that seed (by mean accuracy)
# Table E's comparisons, each (reference arm, this arm): this - reference in accuracy
COMPARISONS = {"on_par": ("gold", "posterior"), "gain_gold": ("base", "gold"), "gain_posterior": ("base", "posterior"),
               "both_over_better": (BETTER_ARM, "both")}
COMPARISON_WORDS = {"on_par": "posterior − gold", "gain_gold": "gold − base", "gain_posterior": "posterior − base",
                    "both_over_better": "both − the better arm"}  # each comparison in words, as the documents print it


def arm_accuracies(table: pd.DataFrame) -> dict[str, list[float]]:
    """Each arm's accuracies, one per fine-tuning seed (the base model: its one accuracy), from
    :func:`~mdlm_study.training.finetune.run_finetune_experiment`'s table."""
    missing = {"base", *ARMS} - set(table["arm"])
    if missing:
        raise ValueError(f"a fine-tuning table needs the arms base, {', '.join(ARMS)}; missing {sorted(missing)}")
    return {arm: [float(x) for x in table.loc[table["arm"] == arm, "accuracy"]] for arm in ("base", *ARMS)}


def arm_means(arms: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each arm's mean accuracy over its fine-tuning seeds."""
    return {arm: sum(x) / len(x) for arm, x in arms.items()}


def better_arm(arms: Mapping[str, Sequence[float]]) -> str:
    """The better of the gold and posterior arms by mean accuracy (gold on a tie)."""
    means = arm_means(arms)
    return max(TRACE_ARMS, key=means.__getitem__)


def seed_comparisons(arms: Mapping[str, Sequence[float]], n_problems: int) -> dict[str, dict]:
    """Each comparison of :data:`COMPARISONS` on one training seed: ``this - reference`` with its 95% and
    90% intervals (:func:`~mdlm_study.core.verdicts.seeded_difference`), ``units`` the held-out problems."""
    int_at_least("n_problems", n_problems)
    out = {}
    for name, (reference, this) in COMPARISONS.items():
        reference = better_arm(arms) if reference == BETTER_ARM else reference
        iv95 = v.seeded_difference(arms[reference], arms[this], n_problems)
        iv90 = v.seeded_difference(arms[reference], arms[this], n_problems, level=v.TOST_LEVEL)
        out[name] = {"estimate": iv95.estimate, "low": iv95.low, "high": iv95.high, "low90": iv90.low, "high90": iv90.high,
                     "units": n_problems, "reference": reference, "this": this}
    return out


def measure_finetune_seed(base_dir: str | Path, train_problems: Sequence, test_problems: Sequence, template: Template, *, seed: int,
                          config: TrainConfig, finetune_seeds: Sequence[int] = (0, 1, 2), sampler: str = "entropy",
                          temperature: float = 1.0, batch_size: int = 256) -> dict:
    """One training seed's Table E (module docstring): its base model at ``base_dir`` samples one posterior
    trace per ``train_problems`` (``sampler`` order at ``temperature``, seeded by the training seed, as
    notebook 05 samples for seed 0), every arm is fine-tuned with ``config`` for each of ``finetune_seeds``
    and graded on ``test_problems``. Returns the arms' accuracies, the comparisons and every run's row."""
    if not finetune_seeds:
        raise ValueError("finetune_seeds is empty: each arm needs at least one fine-tuning seed")
    base = load_model(Path(base_dir))
    posterior = sample_posterior(base.model, base.tokenizer, train_problems, template, DecodeConfig(sampler, temperature=temperature, seed=seed),
                                 n_samples=1, batch_size=batch_size)
    table = run_finetune_experiment(base_dir, train_problems, test_problems, posterior, template, config=config, seeds=finetune_seeds,
                                    eval_kwargs={"batch_size": batch_size})
    arms = arm_accuracies(table)
    return {"arms": arms, "comparisons": seed_comparisons(arms, len(test_problems)), "n_problems": len(test_problems),
            "n_train": len(train_problems), "finetune_seeds": list(finetune_seeds),
            "posterior_trace_correct": float(posterior["trace_correct"].mean()), "runs": table.to_dict("records")}


def finetune_claims(states: Sequence[Mapping]) -> dict:
    """Every comparison of :data:`COMPARISONS` across the training seeds (``states``: records holding a
    :func:`measure_finetune_seed` result under ``"finetune"``): per seed, and pooled with the seed as the
    unit at 95% and 90% (:func:`~mdlm_study.experiments.trace_seeds.pool_over_seeds`) with I² and the
    prediction interval; ``arms``: each arm's mean accuracy per seed."""
    if not states:
        raise ValueError("no fine-tuning records: run benchmarks/bench_finetune_seeds.py")
    out = {}
    for name in COMPARISONS:
        entries = [s["finetune"]["comparisons"][name] for s in states]
        iv95, r = pool_over_seeds(entries)
        iv90, _ = pool_over_seeds(entries, level=v.TOST_LEVEL)
        out[name] = {"per_seed": [{"seed": s.get("seed"), **s["finetune"]["comparisons"][name]} for s in states],
                     "estimate": iv95.estimate, "low": iv95.low, "high": iv95.high, "low90": iv90.low, "high90": iv90.high,
                     "method": iv95.method, "critical": iv95.critical, "critical90": iv90.critical, "i2": r.get("i2"),
                     "prediction_low": r.get("prediction_low"), "prediction_high": r.get("prediction_high"), "k": len(entries),
                     "n_problems": sum(int(s["finetune"]["n_problems"]) for s in states)}
    out["arms"] = {str(s.get("seed")): arm_means(s["finetune"]["arms"]) for s in states}
    return out


def finetune_table(states: Sequence[Mapping]) -> pd.DataFrame:
    """One row per training seed: each arm's mean accuracy and each comparison (for docs and the bench's print)."""
    rows = []
    for s in states:
        f = s["finetune"]
        rows.append({"seed": s.get("seed"), "model": s.get("model"), **arm_means(f["arms"]),
                     **{name: c["estimate"] for name, c in f["comparisons"].items()}})
    return pd.DataFrame(rows)
