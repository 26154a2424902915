"""The trace claims on every training seed: posterior traces where free decoding failed (the paper's
Table D), log-probability filtering of posterior traces (its appendix), step scoring (§6: telling
correct from flawed traces, locating the first wrong step), and the order analysis (how often an
any-order rule commits the leftmost mask).

One seed's model (:func:`measure_trace_seed`) decodes held-out problems freely (left to right), samples
``n_samples`` posterior traces per problem (the answer given, the reasoning infilled), and scores the
gold and a corrupted trace of each of the first problems step by step, and decodes the problems once more
in entropy order over the whole canvas for the order analysis. Each measure keeps what its
pooling needs: a fraction with the number of independent units behind it, or an estimate with its
interval. :func:`trace_claims` then pools every measure over the seeds with the seed as the unit
(:func:`pool_over_seeds`: DerSimonian-Laird with the Hartung-Knapp interval and a prediction interval
for a new seed), the pooling the decoding claims use (:mod:`mdlm_study.experiments.seeds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mdlm_study.core import verdicts as v
from mdlm_study.core.pooling import random_effects
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import Template
from mdlm_study.experiments.analysis import decode_questions_with_history, leftmost_distances
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.posterior import filtering_gain, posterior_on_failures, sample_posterior
from mdlm_study.experiments.scoring import evaluate_step_scoring, summarize_step_scoring

FILTER_KEEP = 0.5  # the kept fraction of the filtering claim (the top half by log-probability per token)
MEASURES = ("table_d", "filtering_gain", "auroc", "localisation", "leftmost")


def measure_trace_seed(model, tokenizer, problems: Sequence, template: Template, *, seed: int, n_samples: int = 4, n_scored: int = 300,
                       batch_size: int = 300, task: str = "arithmetic") -> dict:
    """One seed's trace measures on ``problems`` (module docstring): each is ``{estimate, low, high, units}``
    plus its counts. ``n_scored``: how many of the problems give a gold and a corrupted trace to score."""
    if n_samples < 1 or n_scored < 1:
        raise ValueError(f"n_samples and n_scored must be >= 1, got {n_samples} and {n_scored}")
    free = evaluate_task(task, model, tokenizer, problems, template, DecodeConfig("l2r"), batch_size=batch_size)
    posterior = sample_posterior(model, tokenizer, problems, template, DecodeConfig("entropy", temperature=1.0, seed=seed),
                                 n_samples=n_samples, batch_size=batch_size)
    failures = posterior_on_failures(free, posterior)
    gain = filtering_gain(posterior, fractions=(1.0, FILTER_KEEP)).set_index("keep")
    overall, kept = float(gain.loc[1.0, "fraction_correct"]), float(gain.loc[FILTER_KEEP, "fraction_correct"])
    gain_iv = v.unpaired_difference(overall, len(problems), kept, len(problems))
    scoring = evaluate_step_scoring(model, tokenizer, problems[:n_scored], template, methods=("answer_loglik",), seed=seed,
                                    batch_size=batch_size)
    row = summarize_step_scoring(scoring, seed=seed).set_index("score").loc["answer_loglik"]
    return {
        "free_accuracy": float(free["correct"].mean()), "n_problems": len(problems), "n_samples": n_samples,
        "table_d": {"estimate": failures["fraction_correct"], "low": failures.get("ci_low"), "high": failures.get("ci_high"),
                    "units": failures["n_failed_sampled"], "n_traces": failures["n"]},
        "filtering_gain": {"estimate": gain_iv.estimate, "low": gain_iv.low, "high": gain_iv.high, "units": len(problems),
                           "overall": overall, "kept": kept, "keep": FILTER_KEEP},
        "auroc": {"estimate": float(row["auroc"]), "low": float(row["auroc_low"]), "high": float(row["auroc_high"]),
                  "units": int(row["n_gold"])},
        "localisation": {"estimate": float(row["loc_accuracy"]), "low": float(row["loc_low"]), "high": float(row["loc_high"]),
                         "units": int(row["n_corrupted"]), "chance": float(row["loc_chance"])},
        "leftmost": measure_leftmost(model, tokenizer, problems, template, batch_size=batch_size),
    }


def measure_leftmost(model, tokenizer, problems: Sequence, template: Template, *, batch_size: int = 300) -> dict:
    """The paper's order analysis on one seed (notebook 02's): entropy order over the whole canvas, the answer
    slot among the candidates, and the share of reasoning commits made at the leftmost masked position, with
    the mean distance from it. Its interval counts each problem's commits as one observation (Wilson over
    the problems), as notebook 02's claim does."""
    canvas, out = decode_questions_with_history(model, tokenizer, [p.question for p in problems], template,
                                                DecodeConfig("entropy", answer_last=False), batch_size=batch_size)
    distances = leftmost_distances(out.history, canvas.span_mask("reasoning"))
    fraction = float((distances == 0).mean())
    iv = v.wilson(fraction, len(problems))
    return {"estimate": fraction, "low": iv.low, "high": iv.high, "units": len(problems), "mean_distance": float(distances.mean())}


def _variance(entry: Mapping) -> float:
    """A seed's variance of one measure, read off its 95% interval's half-width (a fraction whose
    interval is degenerate gets the binomial variance of half a unit, Haldane's correction)."""
    se = (entry["high"] - entry["low"]) / 2 / v.stats._z(v.LEVEL)
    if se > 0:
        return se**2
    p = (entry["estimate"] * entry["units"] + 0.5) / (entry["units"] + 1)
    return p * (1 - p) / (entry["units"] + 1)


def pool_over_seeds(entries: Sequence[Mapping], *, level: float = v.LEVEL) -> tuple[v.Interval, dict]:
    """One measure pooled with the seed as the unit (:func:`mdlm_study.core.pooling.random_effects`), each
    seed weighted by the variance its own interval states. One seed: its own interval."""
    if not entries:
        raise ValueError("pooling a measure needs at least one seed's entry")
    if len(entries) == 1:
        e = entries[0]
        return v.Interval(e["estimate"], e["low"], e["high"], "one seed", level), {"k": 1, "i2": None, "prediction_low": None,
                                                                                  "prediction_high": None}
    r = random_effects([e["estimate"] for e in entries], [_variance(e) for e in entries], level=level)
    return v.Interval(r["estimate"], r["low"], r["high"], f"{r['method']} over {r['k']} seeds, I² {r['i2']:.2f}", level, r["critical"]), r


def trace_claims(states: Sequence[Mapping]) -> dict:
    """Every trace measure across the seeds (``states``: one :func:`measure_trace_seed` record per
    seed): per seed, and pooled (:func:`pool_over_seeds`) with its interval, I² and prediction
    interval; ``units`` sums the independent units (failed problems for Table D, problems otherwise),
    ``n_problems`` the problems decoded."""
    if not states:
        raise ValueError("no trace records: run benchmarks/bench_trace_seeds.py")
    out = {}
    for measure in MEASURES:
        entries = [s["traces"][measure] for s in states]
        iv, r = pool_over_seeds(entries)
        out[measure] = {"per_seed": [{"seed": s.get("seed"), **s["traces"][measure]} for s in states], "estimate": iv.estimate, "low": iv.low,
                        "high": iv.high, "method": iv.method, "critical": iv.critical, "i2": r.get("i2"),
                        "prediction_low": r.get("prediction_low"), "prediction_high": r.get("prediction_high"),
                        "units": sum(int(e["units"]) for e in entries), "k": len(entries),
                        "n_problems": sum(int(s["traces"]["n_problems"]) for s in states)}
    chances = [s["traces"]["localisation"]["chance"] for s in states]
    out["localisation"]["chance"] = sum(chances) / len(chances)
    return out


def pooled_interval(result: Mapping) -> v.Interval:
    """A :func:`trace_claims` entry as the interval the verdicts read."""
    return v.Interval(result["estimate"], result["low"], result["high"], result["method"], v.LEVEL, result.get("critical"))


def trace_table(states: Sequence[Mapping]) -> pd.DataFrame:
    """One row per seed: each measure's estimate (for docs and notebooks)."""
    return pd.DataFrame([{"seed": s.get("seed"), "model": s.get("model"), "free_accuracy": s["traces"]["free_accuracy"],
                          **{m: s["traces"][m]["estimate"] for m in MEASURES}} for s in states])
