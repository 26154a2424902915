"""Posterior sampling of reasoning given the answer (the paper's posterior sampling; docs/decisions.md, "Posterior sampler"), its exact grading,
log-probability filtering, and export as fine-tuning data.

The answer is written into the answer slot (its tokens, then EOS fill, docs/decisions.md, "Answer fill") and the reasoning slot
is infilled by :func:`mdlm_study.engine.generate` with any rule, so each trace is a sample of the
model's own ``p(reasoning | question, answer)`` with no importance weights (strictly the model's
joint only for one token per step at temperature 1). The engine never changes a non-mask token, so
the answer slot stays as written.

What the notebooks use (docs/decisions.md, "Posterior sampler"): ``sampler="entropy"`` (the evaluation sampler), ``temperature=1.0``
(samples, not the mode), ``n_samples`` ≥ 4 so that per-problem filtering has something to rank,
and ``normalize="per_token"`` for filtering (a sum favours short traces). The fine-tuning arm of
The paper's fine-tuning uses one unfiltered sample per problem (``n_samples=1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.clustered_stats import each_cluster_once_ci
from mdlm_study.core.stats import wilson_interval
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.decoding import decode_canvas
from mdlm_study.engine.templates import Canvas, Template, build_canvas, read_canvas
from mdlm_study.tasks.arithmetic import Problem, grade_trace

NORMALIZATIONS = ("per_token", "sum")
GRADE_COLUMNS = ("trace_correct", "first_wrong", "n_correct_steps", "n_ops")


POSTERIOR_DEFAULTS = {"sampler": "entropy", "temperature": 1.0}


def sample_posterior(model, tokenizer, problems: Sequence, template: Template, config: DecodeConfig | dict | None = None, *,
                     n_samples: int = 4, batch_size: int = 256, grader: Callable | None = None, shift_logits: bool = False,
                     first_problem: int = 0, length_buckets: bool = False, **settings) -> pd.DataFrame:
    """One row per (problem, sample): the infilled reasoning, its log-probability, NFE and grade.

    ``problems`` have ``question``, ``answer`` and ``uid`` attributes. Arithmetic ``Problem``\\ s are
    graded exactly with :func:`~mdlm_study.tasks.arithmetic.grade_trace`; for other tasks (GSM8K)
    pass ``grader(problem, steps)`` returning a bool (fully correct) or an object with ``correct``,
    ``first_wrong`` and ``n_correct_steps``; without one the grade columns are None.

    The decoding is ``config`` or keyword settings (default: entropy order at temperature 1, seed 0;
    see docs/decisions.md, "Posterior sampler"). Each problem is repeated ``n_samples`` times and
    every row has its own random stream, keyed ``(first_problem + problem index, sample index)``
    (:func:`mdlm_study.engine.decoding.decode_canvas`), so the copies are independent samples, the same seed
    gives a bit-identical table whatever ``batch_size``, and sample k of a problem does not depend on
    ``n_samples``. An early exit is refused: with the answer given, H_UB = 0. ``logprob`` is the
    engine's sum of the log-probabilities of the committed reasoning tokens at commit time (EOS fill
    included); ``n_reasoning_tokens`` counts the non-special tokens of the reasoning slot.
    """
    config = DecodeConfig.coerce(config, defaults=POSTERIOR_DEFAULTS, **settings)
    int_at_least("n_samples", n_samples)
    if not problems:
        raise ValueError("problems is empty: nothing to sample")
    if config.exit_rule is not None:
        raise ValueError(f"exit_rule={config.exit_rule!r} (exit_gamma={config.exit_gamma}) makes no sense here: the answer is given, so every row would exit at once")
    repeated = [p for p in problems for _ in range(n_samples)]
    canvas = build_canvas(tokenizer, [p.question for p in repeated], template, answers=[p.answer for p in repeated])
    keys = [(first_problem + i // n_samples, i % n_samples) for i in range(len(repeated))]
    out = decode_canvas(model, canvas, config, batch_size=batch_size, keys=keys, shift_logits=shift_logits, length_buckets=length_buckets)
    readouts = read_canvas(tokenizer, out.sequences, canvas)
    n_tokens = _content_tokens(out.sequences, canvas)
    rows = []
    for i, (problem, read) in enumerate(zip(repeated, readouts, strict=True)):
        rows.append({"problem": i // n_samples, "uid": getattr(problem, "uid", ""), "sample": i % n_samples,
                     "reasoning": read.reasoning, "steps": read.steps, "answer": read.answer,
                     "logprob": float(out.logprob[i]), "nfe": int(out.nfe[i]),
                     "n_reasoning_tokens": int(n_tokens[i]), **_grade(problem, read.steps, grader)})
    return pd.DataFrame(rows)


def _content_tokens(sequences: torch.Tensor, canvas: Canvas) -> torch.Tensor:
    """Number of reasoning-slot tokens that are not special (EOS, PAD, BOS, mask) [B]."""
    r0, r1 = canvas.reasoning[0].tolist()
    special = [t for t in (canvas.special.eos_id, canvas.special.pad_id, canvas.special.bos_id, canvas.special.mask_id) if t is not None]
    slot = sequences[:, r0:r1]
    return (~torch.isin(slot, torch.tensor(special))).sum(1)


def _grade(problem, steps: list[str], grader: Callable | None) -> dict:
    if isinstance(problem, Problem) and grader is None:
        grade = grade_trace(problem, steps)
        return {"trace_correct": grade.correct, "first_wrong": grade.first_wrong,
                "n_correct_steps": grade.n_correct_steps, "n_ops": len(problem.ops)}
    row = dict.fromkeys(GRADE_COLUMNS)
    if grader is not None:
        result = grader(problem, steps)
        if hasattr(result, "correct"):
            row.update(trace_correct=bool(result.correct), first_wrong=getattr(result, "first_wrong", None),
                       n_correct_steps=getattr(result, "n_correct_steps", None))
        else:
            row["trace_correct"] = bool(result)
    return row


def _score(table: pd.DataFrame, normalize: str) -> pd.Series:
    """``sum``: the trace log-probability; ``per_token``: divided by the number of content tokens
    (EOS fill is near-certain, so this is close to the mean log-probability of the written tokens)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalize {normalize!r}; expected one of {NORMALIZATIONS}")
    if normalize == "sum":
        return table["logprob"].astype(float)
    return table["logprob"] / table["n_reasoning_tokens"].clip(lower=1)


def filter_by_logprob(table: pd.DataFrame, *, keep: float = 0.5, threshold: float | None = None,
                      normalize: str = "per_token") -> pd.DataFrame:
    """Keep the ``ceil(keep · n)`` highest-scoring traces of each problem (ties: lower sample index
    first), or, when ``threshold`` is given, every trace whose score is ≥ it. Adds a ``score``
    column; rows stay in their original order."""
    scored = table.assign(score=_score(table, normalize))
    if threshold is not None:
        return scored[scored["score"] >= threshold]
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    group = "problem" if "problem" in scored else "uid"
    order = scored.sort_values([group, "score", "sample"], ascending=[True, False, True], kind="stable")
    rank = order.groupby(group, sort=False).cumcount()
    size = order.groupby(group, sort=False)[group].transform("size")
    kept = order[rank < np.ceil(keep * size - 1e-9)]
    return kept.sort_index()


def _require_grades(table: pd.DataFrame) -> None:
    if "trace_correct" not in table or table["trace_correct"].isna().any():
        raise ValueError("the table has ungraded traces (trace_correct is None); pass a grader to sample_posterior")


def _rate(correct: pd.Series) -> dict:
    k, n = int(correct.astype(bool).sum()), len(correct)
    low, high = wilson_interval(k, n)
    return {"n": n, "n_correct": k, "fraction_correct": k / n if n else math.nan, "ci_low": low, "ci_high": high}


def filtering_gain(table: pd.DataFrame, fractions: Sequence[float] = (1.0, 0.75, 0.5, 0.25), *,
                   normalize: str = "per_token") -> pd.DataFrame:
    """One row per kept fraction: how many traces are kept, the fraction fully correct with a Wilson
    95% CI, and ``gain`` = that fraction minus the unfiltered one (the paper's filtering gain)."""
    _require_grades(table)
    base = _rate(table["trace_correct"])["fraction_correct"]
    rows = []
    for keep in fractions:
        rate = _rate(filter_by_logprob(table, keep=keep, normalize=normalize)["trace_correct"])
        rows.append({"keep": keep, **rate, "gain": rate["fraction_correct"] - base})
    return pd.DataFrame(rows)


def posterior_on_failures(eval_table: pd.DataFrame, posterior_table: pd.DataFrame) -> dict:
    """Table D of the paper: among problems the model got wrong when decoding freely (``eval_table``
    of :func:`~mdlm_study.experiments.evaluate.evaluate_arithmetic`, column ``correct``), the fraction of their
    posterior traces that are fully correct, and the fraction of those problems with at least one fully
    correct trace. Counts are reported with both.

    The traces' interval (``ci_low``, ``ci_high``) counts each problem once
    (:func:`~mdlm_study.core.clustered_stats.each_cluster_once_ci`: the traces of one problem are not
    independent): the interval the claims table judges Table D with, so the notebook and the claim
    show one interval for one number. It needs the same number of traces per problem, as
    :func:`sample_posterior` gives; otherwise a ValueError names the counts."""
    _require_grades(posterior_table)
    failed = set(eval_table.loc[~eval_table["correct"].astype(bool), "uid"])
    traces = posterior_table[posterior_table["uid"].isin(failed)]
    per_problem = traces.groupby("uid")["trace_correct"].any()
    problems, rate = _rate(per_problem), _rate(traces["trace_correct"])
    if len(per_problem):
        rate["ci_low"], rate["ci_high"] = _each_problem_once(traces, rate["fraction_correct"])
    return {"n_failed_problems": len(failed), "n_failed_sampled": len(per_problem), **rate,
            "problems_any_correct": problems["n_correct"], "fraction_problems_any_correct": problems["fraction_correct"],
            "problems_ci_low": problems["ci_low"], "problems_ci_high": problems["ci_high"]}


def _each_problem_once(traces: pd.DataFrame, fraction: float) -> tuple[float, float]:
    """The interval of ``fraction`` of ``traces`` counting each problem once; the same traces per problem required."""
    sizes = traces.groupby("uid").size()
    if sizes.nunique() > 1:
        raise ValueError(f"problems have different numbers of traces ({sorted(set(sizes.tolist()))}): counting each problem once "
                         "needs the same number per problem")
    return each_cluster_once_ci(fraction, len(sizes))


def traces_to_sft(table: pd.DataFrame, problems: Sequence[Problem], *, only_correct: bool = False,
                  keep: float | None = None, normalize: str = "per_token") -> tuple[list[str], list[str], list[str]]:
    """(questions, reasonings, answers) for ``mdlm_study.training.tokenized.tokenize_examples``: every trace, or
    only the fully correct ones, or the top ``keep`` fraction per problem by log-probability."""
    by_uid = {p.uid: p for p in problems}
    missing = set(table["uid"]) - set(by_uid)
    if missing:
        raise ValueError(f"traces for unknown problem uids: {sorted(missing)[:5]}")
    if keep is not None:
        table = filter_by_logprob(table, keep=keep, normalize=normalize)
    if only_correct:
        _require_grades(table)
        table = table[table["trace_correct"].astype(bool)]
    chosen = [by_uid[u] for u in table["uid"]]
    return [p.question for p in chosen], list(table["reasoning"]), [p.answer for p in chosen]
