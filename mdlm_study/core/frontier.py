"""Accuracy against cost: tokens per forward pass, AUP, and the accuracy-versus-NFE Pareto frontier.

- ``tokens_per_forward``: decoded tokens over forward passes, pooled over problems (total tokens /
  total NFE, the parallelism of hao-ai-lab's AUP leaderboard, "tokens per forward", TPF);
- :func:`aup`: hao-ai-lab's Accuracy Under Parallelism of a curve of (TPF, accuracy %) points,
  ``ρ1·y1 + ½ Σ (ρi − ρi−1)(yi·W(yi) + yi−1·W(yi−1))`` over the points with accuracy >= y1 − 5
  (y1: the accuracy at the lowest TPF), ``W(y) = min(exp(−α(1 − y/y_max)), 1)``, α = 3, y_max the
  best accuracy on the task. One point (one decoding record) has AUP = ρ·y;
- :func:`pareto_frontier` / :func:`frontier_share`: which settings no other setting beats on both
  accuracy (higher) and mean NFE (lower), per group (a seed, a template) or pooled, and how often each
  decoder is on the frontier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

AUP_ALPHA = 3.0  # hao-ai-lab's penalty factor α
AUP_FLOOR_POINTS = 5.0  # points below y1 - 5 are left out


def tokens_per_forward(n_decoded: Iterable[int], nfe: Iterable[int]) -> float:
    """Total decoded tokens over total forward passes (``ValueError`` when no pass was made)."""
    tokens, passes = sum(int(n) for n in n_decoded), sum(int(n) for n in nfe)
    if passes <= 0:
        raise ValueError(f"tokens per forward needs at least one forward pass, got total NFE {passes}")
    return tokens / passes


def aup_weight(y: float, y_max: float, alpha: float = AUP_ALPHA) -> float:
    """W(y) = min(exp(-α (1 - y / y_max)), 1)."""
    return min(math.exp(-alpha * (1 - y / y_max)), 1.0)


def aup(points: Sequence[tuple[float, float]], *, y_max: float | None = None, alpha: float = AUP_ALPHA) -> float:
    """AUP of ``points`` = (tokens per forward, accuracy in %) of one decoder's settings (module
    docstring); ``y_max`` defaults to the best accuracy among the points."""
    if not points:
        raise ValueError("aup needs at least one (tokens per forward, accuracy %) point")
    for rho, y in points:
        if not (rho > 0 and math.isfinite(rho)) or not (0 <= y <= 100):
            raise ValueError(f"aup points must be (tokens per forward > 0, accuracy in [0, 100]), got ({rho!r}, {y!r})")
    ordered = sorted(points)
    floor = ordered[0][1] - AUP_FLOOR_POINTS
    kept = [(rho, y) for rho, y in ordered if y >= floor]
    best = max(y for _, y in kept) if y_max is None else y_max
    if best <= 0:
        return 0.0
    total = kept[0][0] * kept[0][1]
    for (r0, y0), (r1, y1) in zip(kept, kept[1:], strict=False):
        total += 0.5 * (r1 - r0) * (y1 * aup_weight(y1, best, alpha) + y0 * aup_weight(y0, best, alpha))
    return total


def pareto_frontier(table: pd.DataFrame, *, cost: str = "mean_nfe", score: str = "accuracy") -> pd.Series:
    """Bool Series: rows that no other row dominates (cost <= and score >= with one strict)."""
    missing = [c for c in (cost, score) if c not in table]
    if missing:
        raise ValueError(f"pareto_frontier needs columns {missing}; the table has {list(table.columns)}")
    costs, scores = table[cost].to_numpy(float), table[score].to_numpy(float)
    on = []
    for c, s in zip(costs, scores, strict=True):
        dominated = ((costs <= c) & (scores >= s) & ((costs < c) | (scores > s))).any()
        on.append(not dominated)
    return pd.Series(on, index=table.index, name="on_frontier")


def frontier_share(table: pd.DataFrame, *, groups: Sequence[str] = ("seed",), decoder: str = "decoder", cost: str = "mean_nfe",
                   score: str = "accuracy") -> pd.DataFrame:
    """Per decoder: in how many groups (e.g. seeds) at least one of its settings is on that group's
    frontier, out of how many groups it was run in."""
    missing = [c for c in (*groups, decoder) if c not in table]
    if missing:
        raise ValueError(f"frontier_share needs columns {missing}; the table has {list(table.columns)}")
    marked = table.assign(on_frontier=False)
    for _, part in table.groupby(list(groups), dropna=False):
        marked.loc[part.index, "on_frontier"] = pareto_frontier(part, cost=cost, score=score)
    per_group = marked.groupby([decoder, *groups], dropna=False)["on_frontier"].any().reset_index()
    share = per_group.groupby(decoder)["on_frontier"].agg(on_frontier="sum", groups="count").reset_index()
    return share.sort_values(["on_frontier", decoder], ascending=[False, True], ignore_index=True)
