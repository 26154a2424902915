"""Pooling with the training seed as the unit, families of tests, power, and two scores on the same traces.

- :func:`random_effects`: DerSimonian-Laird between-seed variance, the Hartung-Knapp interval (with
  Knapp & Hartung's floor, so it is never narrower than the DerSimonian-Laird one), Cochran's Q, I²
  and the prediction interval of what a new seed would show.
- :func:`t_quantile`: Student's t quantiles for an integer number of degrees of freedom (closed-form
  distribution function, bisection), so the package needs no scipy.
- :func:`holm`: Holm's step-down adjusted p-values for a family of hypotheses.
- :func:`smallest_detectable`: the smallest true effect a test detects with a given power.
- :func:`paired_auroc_difference`: DeLong's test of two AUROCs measured on the same traces.

Numpy and the standard library only; differences are "second minus first", as in :mod:`mdlm_study.core.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.stats import _chi2_sf

_NORMAL = NormalDist()


def _t_two_sided_mass(t: float, df: int) -> float:
    """``P(|T| <= t)`` for T ~ Student's t with a positive integer ``df`` (Abramowitz & Stegun 26.7.3/26.7.4:
    with theta = atan(t / sqrt(df)), a finite series in cos(theta))."""
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2 == 0:  # sin(theta) [1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ... up to cos^(df-2)]
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= c2 * (2 * j - 1) / (2 * j)
            total += term
        return s * total
    if df == 1:
        return 2 * theta / math.pi
    # (2/pi) [theta + sin cos (1 + 2/3 cos^2 + 2.4/(3.5) cos^4 + ... up to cos^(df-3))]
    term, total = 1.0, 1.0
    for j in range(1, (df - 1) // 2):
        term *= c2 * (2 * j) / (2 * j + 1)
        total += term
    return 2 / math.pi * (theta + s * math.cos(theta) * total)


def t_sf(t: float, df: int) -> float:
    """``P(T > t)`` for Student's t with a positive integer ``df``."""
    _check_df(df)
    tail = 0.5 * (1 - _t_two_sided_mass(t, df))
    return tail if t >= 0 else 1 - tail


def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with a positive integer ``df`` (e.g. 0.975, 4 -> 2.776),
    by 200 halvings of a bracket on :func:`t_sf` (well below double precision)."""
    _check_df(df)
    if not 0 < probability < 1:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    if probability < 0.5:
        return -t_quantile(1 - probability, df)
    low, high = 0.0, 1.0
    while t_sf(high, df) > 1 - probability:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_sf(mid, df) > 1 - probability else (low, mid)
    return (low + high) / 2


def _check_df(df: int) -> None:
    int_at_least("df", df)


def _level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


def random_effects(estimates: Sequence[float], variances: Sequence[float], *, level: float = 0.95) -> dict:
    """Random-effects pooling of per-seed effects ``estimates`` with their within-seed ``variances``.

    Between-seed variance (DerSimonian & Laird 1986): with ``w = 1 / v``, the inverse-variance mean
    ``fixed = sum w y / sum w``, Cochran's ``q = sum w (y - fixed)^2`` on ``df = k - 1`` and
    ``tau2 = max(0, (q - df) / (sum w - sum w^2 / sum w))``; ``i2 = max(0, (q - df) / q)`` (Higgins &
    Thompson 2002). Pooled effect: ``estimate = sum w* y / sum w*`` with ``w* = 1 / (v + tau2)``.

    Interval (Hartung & Knapp 2001; Sidik & Jonkman 2002): ``estimate +- t_{k-1} se`` with
    ``se^2 = max(1, q*) / sum w*`` and ``q* = sum w* (y - estimate)^2 / (k - 1)``. The floor at 1 is
    Knapp & Hartung's (2003) modification: without it, seeds that agree more closely than their
    within-seed noise predicts would give an interval narrower than the DerSimonian-Laird z interval.
    ``p_value`` is the matching t test of no effect.

    Prediction interval (Higgins, Thompson & Spiegelhalter 2009): where a new seed's true effect lies,
    ``estimate +- t_{k-2} sqrt(tau2 + se^2)`` (needs k >= 3; None otherwise), with the Hartung-Knapp se.

    ``fixed``, ``fixed_low``, ``fixed_high``: the inverse-variance (fixed-effect) pooling, kept for
    comparison. Returns also ``k``, ``tau2``, ``q``, ``df``, ``p_heterogeneity`` (Q's chi-square tail),
    ``i2``, ``level``, ``critical`` (the t quantile of the interval), ``method``.
    """
    y, v = np.asarray(estimates, dtype=np.float64), np.asarray(variances, dtype=np.float64)
    if y.ndim != 1 or y.shape != v.shape or y.size < 2:
        raise ValueError(f"need two 1-D sequences of the same length >= 2, got shapes {y.shape} and {v.shape}")
    if not (np.isfinite(y).all() and np.isfinite(v).all()) or (v <= 0).any():
        raise ValueError(f"estimates must be finite and variances finite and > 0, got {y.tolist()} and {v.tolist()}")
    _level(level)
    k = y.size
    w = 1 / v
    fixed = float((w * y).sum() / w.sum())
    q = float((w * (y - fixed) ** 2).sum())
    df = k - 1
    tau2 = max(0.0, (q - df) / float(w.sum() - (w**2).sum() / w.sum()))
    w_star = 1 / (v + tau2)
    estimate = float((w_star * y).sum() / w_star.sum())
    q_star = float((w_star * (y - estimate) ** 2).sum()) / df
    se = math.sqrt(max(1.0, q_star) / float(w_star.sum()))
    critical = t_quantile((1 + level) / 2, df)
    z = _NORMAL.inv_cdf((1 + level) / 2)
    fixed_se = math.sqrt(1 / float(w.sum()))
    out = {
        "k": k, "estimate": estimate, "se": se, "low": estimate - critical * se, "high": estimate + critical * se,
        "level": level, "critical": critical, "p_value": 2 * t_sf(abs(estimate) / se, df) if se > 0 else 0.0,
        "tau2": tau2, "q": q, "df": df, "p_heterogeneity": _chi2_sf(q, df), "i2": max(0.0, (q - df) / q) if q > 0 else 0.0,
        "fixed": fixed, "fixed_low": fixed - z * fixed_se, "fixed_high": fixed + z * fixed_se,
        "prediction_low": None, "prediction_high": None,
        "method": "random effects (DerSimonian-Laird, Hartung-Knapp)",
    }
    if k >= 3:
        half = t_quantile((1 + level) / 2, k - 2) * math.sqrt(tau2 + se**2)
        out["prediction_low"], out["prediction_high"] = estimate - half, estimate + half
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values, in the input order: sorted ascending, the i-th
    (from 0) is multiplied by ``m - i``, made non-decreasing and capped at 1. Rejecting every
    hypothesis whose adjusted p is below alpha keeps the family-wise error rate at alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p_values must be a non-empty list of numbers in [0, 1], got {list(p_values)!r}")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out.tolist()


def smallest_detectable(se: float, *, level: float = 0.95, power: float = 0.8, critical: float | None = None) -> float:
    """The smallest true effect a two-sided test at ``1 - level`` detects with probability ``power``:
    ``(critical + z_power) se`` (the normal approximation of the test statistic; ``critical`` defaults
    to the normal quantile of ``level``; pass a t quantile for a t test). In the units of ``se``."""
    _level(level)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"se must be a finite number >= 0, got {se}")
    crit = _NORMAL.inv_cdf((1 + level) / 2) if critical is None else critical
    return (crit + _NORMAL.inv_cdf(power)) * se


def _placements(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: per positive, the share of negatives it outscores (ties 1/2);
    per negative, the share of positives that outscore it (ties 1/2)."""
    neg, pos = np.sort(negative), np.sort(positive)
    v10 = (np.searchsorted(neg, positive, "left") + 0.5 * (np.searchsorted(neg, positive, "right") - np.searchsorted(neg, positive, "left"))) / neg.size
    above = pos.size - np.searchsorted(pos, negative, "right")
    ties = np.searchsorted(pos, negative, "right") - np.searchsorted(pos, negative, "left")
    return v10, (above + 0.5 * ties) / pos.size


def paired_auroc_difference(first_positive: Sequence[float], first_negative: Sequence[float],
                            second_positive: Sequence[float], second_negative: Sequence[float], *, level: float = 0.95) -> dict:
    """Two scores of the same traces (the i-th positive and j-th negative are the same traces under both
    scores): ``difference = auroc(second) - auroc(first)`` with DeLong, DeLong & Clarke-Pearson's (1988)
    variance, ``var = (s10_11 + s10_22 - 2 s10_12) / m + (s01_11 + s01_22 - 2 s01_12) / n`` (s10, s01
    the covariances of the two scores' structural components over the m positives and n negatives),
    its normal interval and two-sided p-value. Pairing removes the shared trace-to-trace noise that
    comparing two separate intervals counts twice.

    Returns ``first``, ``second`` (the AUROCs), ``difference``, ``se``, ``low``, ``high``, ``level``, ``p_value``.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (first_positive, first_negative, second_positive, second_negative)]
    if any(a.ndim != 1 or a.size < 2 or not np.isfinite(a).all() for a in arrays):
        raise ValueError("each score list must be 1-D, finite, with at least 2 traces")
    if arrays[0].size != arrays[2].size or arrays[1].size != arrays[3].size:
        raise ValueError(f"the two scores must score the same traces: {arrays[0].size}/{arrays[2].size} positives, "
                         f"{arrays[1].size}/{arrays[3].size} negatives")
    _level(level)
    (a10, a01), (b10, b01) = _placements(arrays[0], arrays[1]), _placements(arrays[2], arrays[3])
    s10, s01 = np.cov(np.vstack([a10, b10])), np.cov(np.vstack([a01, b01]))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / a10.size + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / a01.size
    first, second = float(a10.mean()), float(b10.mean())
    difference, se = second - first, math.sqrt(max(float(variance), 0.0))
    z = _NORMAL.inv_cdf((1 + level) / 2)
    p = 1.0 if se == 0 and difference == 0 else 0.0 if se == 0 else math.erfc(abs(difference) / se / math.sqrt(2))
    return {"first": first, "second": second, "difference": difference, "se": se, "low": difference - z * se,
            "high": difference + z * se, "level": level, "p_value": p}
