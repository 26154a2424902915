"""Regime diagnostics: how late the answer settles, read off one decoding's history.

The paper's decoding claims (early exit, MED + exit) rest on the answer coming out of the reasoning:
LLaDA on GSM8K exits at γ = 0.1 late in its 256-step decoding (Table C, :data:`mdlm_study.core.paper.TABLE_C`), so
the answer slot settles late. A model that
computes the answer in the masked slot before writing any reasoning is in another regime, where the
same decoders look better than they would on the paper's task. Four numbers say which regime a
decoding is in (docs/decisions.md, "Which regime a decoding is in"):

- ``blank_slot_accuracy``: the answer read off the first forward pass, the reasoning still masked
  (the answer slot's argmax at pass 1, graded by the task's rule);
- ``settle_step``: the pass at which the answer slot's argmax first equals its final value (mean,
  and its distribution as quantiles of the fraction of the row's passes);
- ``exit_saving``: the share of forward passes that an exit at γ (0.1, the paper's) would save:
  1 - (first pass with H_UB < γ) / NFE, pooled over rows (the paper's: :data:`mdlm_study.core.paper.EXIT_SAVING`);
- ``right_at_half``: the share of problems whose answer slot's argmax is already right at half the
  row's passes (Prophet's share on GSM8K for LLaDA: :data:`mdlm_study.core.paper.PROPHET_RIGHT_AT_HALF`).

With them, ``accuracy``: the decoding's own exact-answer accuracy. :func:`regime_check` compares a
model against :data:`PAPER_REGIME`, the bounds a model must meet to be in the paper's regime.

All four come from ONE decoding with ``return_history=True`` and no exit (a deterministic decoding
with an exit follows the same passes until it exits, so the exit's saving is read off the same
history). The answer slot at pass t holds, position by position, the token committed before t or,
while masked, the token the model would put there at t (the history's ``predicted``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mdlm_study.core import paper
from mdlm_study.core.checks import int_at_least
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import read_canvas
from mdlm_study.experiments.analysis import decode_questions_with_history
from mdlm_study.tasks.task import Task, get_task


def answer_slot_trajectory(history: Sequence[dict], input_ids: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """[T, B, A] long: the answer slot of every row at every pass of ``history`` (committed tokens,
    and the model's ``predicted`` token where the position is still masked; -1 where a row was no
    longer active). ``input_ids`` [B, L] is the canvas decoding started from, ``answer`` [B, 2] each
    row's answer span (all of one width)."""
    widths = (answer[:, 1] - answer[:, 0]).unique()
    if len(widths) != 1:
        raise ValueError(f"answer spans must all have one width, got widths {widths.tolist()}")
    width = int(widths[0])
    cols = answer[:, :1] + torch.arange(width)  # [B, A]
    current = input_ids.gather(1, cols).clone()
    known = torch.zeros_like(current, dtype=torch.bool)  # committed by an earlier pass (or given)
    steps = []
    for record in history:
        predicted = record["predicted"].gather(1, cols)
        view = torch.where(known | (predicted < 0), current, predicted)
        steps.append(torch.where(record["active"][:, None], view, torch.full_like(view, -1)))
        committed, revoked = record["committed"].gather(1, cols), record["revoked"].gather(1, cols)
        current = torch.where(committed, record["tokens"].gather(1, cols), current)
        known = (known | committed) & ~revoked
    if not steps:
        raise ValueError("the history is empty: decode with return_history=True")
    return torch.stack(steps)


def settle_steps(trajectory: torch.Tensor, nfe: torch.Tensor) -> torch.Tensor:
    """[B] long: the 1-based pass at which each row's answer slot first equals its final value (the
    value at the row's last pass)."""
    final = trajectory[nfe - 1, torch.arange(trajectory.shape[1])]  # [B, A]
    same = (trajectory == final[None]).all(-1)  # [T, B]
    same &= torch.arange(trajectory.shape[0])[:, None] < nfe[None]
    return same.int().argmax(0) + 1


def exit_passes(history: Sequence[dict], nfe: torch.Tensor, gamma: float) -> torch.Tensor:
    """[B] long: the pass at which an exit at ``gamma`` fires (the first with H_UB < γ), else the row's NFE."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    h_ub = torch.stack([record["answer_entropy"] for record in history])  # [T, B]
    below = (h_ub < gamma) & (torch.arange(len(history))[:, None] < nfe[None])
    return torch.where(below.any(0), below.int().argmax(0) + 1, nfe)


def answers_at(trajectory: torch.Tensor, passes: torch.Tensor, tokenizer) -> list[str]:
    """The answer text of each row at a given (1-based) pass."""
    slots = trajectory[passes - 1, torch.arange(trajectory.shape[1])]
    return [tokenizer.decode([t for t in row.tolist() if t >= 0], skip_special_tokens=True).strip() for row in slots]


def regime_rows(task: str | Task, problems: Sequence, decoded, canvas, tokenizer, *, gamma: float = 0.1) -> dict[str, np.ndarray]:
    """Each row's readings of one decoding (``decoded``: a :class:`~mdlm_study.engine.decoding.Decoded`
    with history, no exit) of ``problems`` on ``canvas``: ``correct``, ``blank_slot`` and ``right_at_half``
    (bool), ``settle``, ``exit`` and ``nfe`` (passes). :func:`summarise_rows` turns any subset into the
    four diagnostics, so one decoding serves the whole set and each of its groups."""
    task = get_task(task)
    if decoded.history is None:
        raise ValueError("regime diagnostics read the decoding's history: decode with return_history=True")
    if bool(decoded.exited.any()):
        raise ValueError("regime diagnostics need a decoding without an exit (its exit saving is read off the full history)")
    nfe = decoded.nfe.long()
    trajectory = answer_slot_trajectory(decoded.history, canvas.input_ids, canvas.answer)
    half = torch.div(nfe + 1, 2, rounding_mode="floor").clamp(min=1)
    return {
        "correct": np.asarray(task.grade_answers(problems, [r.answer for r in read_canvas(tokenizer, decoded.sequences, canvas)]), bool),
        "blank_slot": np.asarray(task.grade_answers(problems, answers_at(trajectory, torch.ones_like(nfe), tokenizer)), bool),
        "right_at_half": np.asarray(task.grade_answers(problems, answers_at(trajectory, half, tokenizer)), bool),
        "settle": settle_steps(trajectory, nfe).numpy(),
        "exit": exit_passes(decoded.history, nfe, gamma).numpy(),
        "nfe": nfe.numpy(),
        "gamma": np.asarray(gamma),
    }


def summarise_rows(rows: dict[str, np.ndarray], keep: np.ndarray | None = None) -> dict:
    """The four diagnostics (module docstring) of the rows ``keep`` selects (a bool mask; default all)
    of :func:`regime_rows`."""
    n = len(rows["nfe"])
    keep = np.ones(n, bool) if keep is None else np.asarray(keep, bool)
    if keep.shape != (n,) or not keep.any():
        raise ValueError(f"keep must select at least one of the {n} rows, got a mask of shape {keep.shape} selecting {int(keep.sum())}")
    r = {k: v[keep] for k, v in rows.items() if k != "gamma"}
    fraction = r["settle"] / r["nfe"]
    return {
        "accuracy": float(r["correct"].mean()),
        "blank_slot_accuracy": float(r["blank_slot"].mean()),
        "settle_step_mean": float(r["settle"].mean()),
        "settle_fraction_quantiles": {str(q): float(np.quantile(fraction, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
        "exit_gamma": float(rows["gamma"]),
        "exit_saving": float(1 - r["exit"].sum() / r["nfe"].sum()),
        "right_at_half": float(r["right_at_half"].mean()),
        "mean_nfe": float(r["nfe"].mean()),
        "n_problems": int(keep.sum()),
    }


def regime_diagnostics(task: str | Task, problems: Sequence, decoded, canvas, tokenizer, *, gamma: float = 0.1) -> dict:
    """The four diagnostics (module docstring) of one decoding of ``problems`` (:func:`regime_rows`)."""
    return summarise_rows(regime_rows(task, problems, decoded, canvas, tokenizer, gamma=gamma))


# The paper's regime, as bounds fixed before the deep regime's models were trained: the answer comes
# out of the reasoning (accurate with it, rarely right from the first pass or without a reasoning slot).
PAPER_REGIME = {"accuracy": (">=", 0.70), "blank_slot_accuracy": ("<=", 0.25), "answer_only_accuracy": ("<=", 0.25)}
SEED_SPREAD = 0.05  # the recipe's seeds land within 5 points of each other (accuracy)
# The deep regime's depth floor: its bounds and claims read the test chains of at least this many steps. A
# trained seed may compose a two-step chain in one pass (blank slot 25-74% on them across the 9,000-step
# seeds, 13-24% at every depth from three on), so two-step chains are decoded and reported by depth beside
# the others but are not the regime (docs/decisions.md, "Two regimes"; docs/recipe_history.md).
DEEP_MIN_STEPS = 3


def deep_chains(problems: Sequence, min_steps: int) -> tuple[list[bool], list]:
    """For each problem, whether it takes at least ``min_steps`` steps (its dependency depth, ``len(p.ops)``), and
    those problems in order: the chains the deep regime's bounds, its answer-only twin and its claims are read on
    (:data:`DEEP_MIN_STEPS`; docs/decisions.md, "Two regimes")."""
    int_at_least("min_steps", min_steps)
    keep = [len(p.ops) >= min_steps for p in problems]
    return keep, [p for p, k in zip(problems, keep, strict=True) if k]


def regime_check(diagnostics: dict, answer_only_accuracy: float | None = None) -> dict:
    """Each bound of :data:`PAPER_REGIME` against a model's diagnostics (and its answer-only twin's
    accuracy): ``{name: {"value", "bound", "holds"}}``; ``holds`` is None for a value not measured."""
    values = {**diagnostics, "answer_only_accuracy": answer_only_accuracy}
    out = {}
    for name, (op, bound) in PAPER_REGIME.items():
        value = values.get(name)
        holds = None if value is None else (value >= bound if op == ">=" else value <= bound)
        out[name] = {"value": value, "bound": f"{op} {bound:g}", "holds": holds}
    return out


def in_regime(diagnostics: dict, answer_only_accuracy: float | None = None) -> bool:
    """Whether a model's own diagnostics meet the bounds of :data:`PAPER_REGIME` (exact answers, blank slot;
    the answer-only twin is the recipe's, checked beside the seeds, and counts only when given): a seed
    outside them is a model that did not learn to reason the answer out, and the paper's claims are not
    measured on it."""
    return all(c["holds"] is not False for c in regime_check(diagnostics, answer_only_accuracy).values())


def outside_regime_reason(diagnostics: dict) -> str:
    """The bounds a model's diagnostics miss, in words (empty when :func:`in_regime`)."""
    checks = regime_check(diagnostics)
    return "; ".join(f"{name.replace('_', ' ')} {checks[name]['value']:.1%} not {op} {bound:.0%}"
                     for name, (op, bound) in PAPER_REGIME.items() if checks[name]["holds"] is False)


def seeds_within(accuracies: Sequence[float], spread: float = SEED_SPREAD) -> bool:
    """Whether the seeds' accuracies lie within ``spread`` of each other (max - min <= spread)."""
    if len(accuracies) < 2:
        raise ValueError(f"seeds_within needs at least two seeds' accuracies, got {list(accuracies)}")
    return max(accuracies) - min(accuracies) <= spread + 1e-12


def expected_range(k: int) -> float:
    """E[max - min] of ``k`` independent standard normal draws (quality control's d2 constant: 1.128 for two,
    2.326 for five): the spread ``k`` seeds show on average, in units of one seed's standard deviation."""
    if k < 2:
        raise ValueError(f"expected_range needs at least two draws, got k={k}")
    x = np.linspace(-10.0, 10.0, 20001)
    cdf = torch.special.ndtr(torch.from_numpy(x)).numpy()
    return float(np.trapezoid(1.0 - cdf**k - (1.0 - cdf) ** k, x))


def seed_spread(accuracies: Sequence[float], n_problems: int, spread: float = SEED_SPREAD) -> dict:
    """The seeds' accuracy spread, split into the test set's share and the recipe's.

    Each seed's accuracy is read on ``n_problems`` problems, so it carries a binomial variance p(1 - p)/n
    besides the recipe's own variance between seeds. As in a random-effects model (method of moments,
    equal weights), the between-seed variance is the seeds' sample variance less the mean binomial one,
    floored at 0. ``expected_range`` is the spread another set of as many seeds, read the same way, would
    show on average (:func:`expected_range` times the total standard deviation); ``largest_sd`` is the
    total standard deviation at which that expected spread equals the bound ``spread``."""
    accuracies = [float(a) for a in accuracies]
    if len(accuracies) < 2:
        raise ValueError(f"seed_spread needs at least two seeds' accuracies, got {accuracies}")
    int_at_least("n_problems", n_problems)
    if any(not 0.0 <= a <= 1.0 for a in accuracies):
        raise ValueError(f"accuracies must lie in [0, 1], got {accuracies}")
    k = len(accuracies)
    measurement = float(np.mean([a * (1.0 - a) / n_problems for a in accuracies]))
    between = max(0.0, float(np.var(accuracies, ddof=1)) - measurement)
    d2 = expected_range(k)
    return {"n_seeds": k, "n_problems": n_problems, "range": max(accuracies) - min(accuracies), "bound": spread,
            "within_bound": seeds_within(accuracies, spread), "measurement_sd": measurement**0.5,
            "between_seed_sd": between**0.5, "expected_range": d2 * (between + measurement) ** 0.5, "largest_sd": spread / d2}


def describe(diagnostics: dict) -> str:
    """One line a notebook prints under its table."""
    d = diagnostics
    return (f"blank slot {d['blank_slot_accuracy']:.1%} right; the answer settles at pass {d['settle_step_mean']:.1f} of "
            f"{d['mean_nfe']:.1f} (median {d['settle_fraction_quantiles']['0.5']:.0%} of the passes); an exit at γ = {d['exit_gamma']:g} "
            f"saves {d['exit_saving']:.0%} of the passes (paper: {paper.EXIT_SAVING:.0%}); right at half the passes: "
            f"{d['right_at_half']:.1%} (Prophet: {paper.PROPHET_RIGHT_AT_HALF:.0%})")


def diagnose(model, tokenizer, problems: Sequence, template, task: str | Task, config=None, *, gamma: float = 0.1,
             batch_size: int = 256, groups: Sequence | None = None, keep: Sequence[bool] | None = None) -> dict:
    """Decode ``problems`` with ``config`` (default: entropy order, one token per pass, the reference of
    the decoding claims) keeping the history, and return its :func:`regime_diagnostics`. With ``groups``
    (one label per problem, e.g. its dependency depth) also ``"by_group"``: the diagnostics of each
    label's problems, read off the same decoding. With ``keep`` (one bool per problem) the overall
    diagnostics are those of the kept problems only (the population a regime is checked on, e.g. the
    chains deeper than a model composes in one pass), while ``"by_group"`` still covers every problem."""
    task = get_task(task)
    config = DecodeConfig.coerce(config, defaults={"sampler": "entropy"})
    if config.exit_gamma is not None:
        raise ValueError(f"diagnose a decoding without an exit (exit_gamma={config.exit_gamma}); the exit's saving is computed from it")
    if groups is not None and len(groups) != len(problems):
        raise ValueError(f"groups must give one label per problem: {len(groups)} labels for {len(problems)} problems")
    if keep is not None and len(keep) != len(problems):
        raise ValueError(f"keep must give one bool per problem: {len(keep)} for {len(problems)} problems")
    canvas, decoded = decode_questions_with_history(model, tokenizer, [task.question(p) for p in problems], template, config, batch_size=batch_size)
    rows = regime_rows(task, problems, decoded, canvas, tokenizer, gamma=gamma)
    out = summarise_rows(rows, None if keep is None else np.asarray(keep, bool))
    if groups is not None:
        labels = np.asarray([str(g) for g in groups])
        out["by_group"] = {g: summarise_rows(rows, labels == g) for g in sorted(set(labels), key=lambda x: (len(x), x))}
    return out
