"""Small statistics helpers for the study's tables: Wilson intervals, percentile bootstrap, AUROC,
the exact McNemar test for paired decodings.

Everything is numpy-only and deterministic: the bootstrap takes an explicit ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile (a two-sided 95% interval)


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n`` (95% by default).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is sensible at 0 or n successes.
    ``n == 0`` gives the uninformative interval ``(0.0, 1.0)``.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact bounds at 0 and n successes, and never a bound on the wrong side of p (rounding gave
    # 8.7e-19 for 0/300 and 1 - 1.1e-16 for 88/88, i.e. negative error bars)
    low = 0.0 if successes == 0 else min(p, centre - half)
    high = 1.0 if successes == n else max(p, centre + half)
    return float(low), float(high)


def auroc(scores_positive: Sequence[float], scores_negative: Sequence[float]) -> float:
    """Area under the ROC curve = P(positive score > negative score) + 1/2 P(tie).

    The Mann-Whitney U statistic divided by ``n_pos * n_neg``; ties count 1/2. Perfectly separated
    scores give 1, identical scores 0.5. Computed by sorting, O((n + m) log m).
    """
    pos = np.asarray(scores_positive, dtype=np.float64)
    neg = np.sort(np.asarray(scores_negative, dtype=np.float64))
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"auroc needs both classes, got {pos.size} positive and {neg.size} negative scores")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise ValueError("auroc got NaN scores")
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))


def bootstrap_ci(
    statistic: Callable[..., float],
    *samples: Sequence[float],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    Each sample is resampled with replacement independently of the others (for :func:`auroc` this
    is the stratified bootstrap that keeps both class sizes fixed). Deterministic given ``seed``.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("bootstrap_ci needs at least one non-empty sample")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        values[b] = statistic(*(a[rng.integers(0, a.size, a.size)] for a in arrays))
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """Exact McNemar test of two decodings of the same problems.

    ``only_a``: problems only decoding a gets right; ``only_b``: only b. Under the null hypothesis
    (the two are equally accurate) each discordant problem favours either side with probability 1/2,
    so ``only_a`` ~ Binomial(only_a + only_b, 1/2); ``p_value`` is the two-sided exact tail
    (1.0 when there is no discordant problem). Pairing makes it far more sensitive than comparing two
    accuracies as independent samples (``summary.noise_band``), because problems both decodings get
    right or both get wrong carry no noise about their difference.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D sequences of the same length, got shapes {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n if n else 0.5
    return {"only_a": only_a, "only_b": only_b, "p_value": min(1.0, 2 * tail)}


def paired_vs_reference(reference: Sequence[bool], this: Sequence[bool]) -> dict:
    """:func:`mcnemar_exact` of a decoding against a reference decoding of the same problems, as the
    benchmarks record it: ``only_reference`` / ``only_this`` count the problems only one gets right."""
    test = mcnemar_exact(reference, this)
    return {"only_reference": test["only_a"], "only_this": test["only_b"], "p_value": test["p_value"]}
