"""Statistics for the study's tables and claims.

Single proportions: :func:`wilson_interval`.
Paired decodings (two rules on the same problems): :func:`mcnemar_exact`, :func:`paired_vs_reference`,
:func:`paired_difference_ci` (Tango's score interval), :func:`paired_equivalence` and
:func:`paired_noninferiority` (score-based TOST / one-sided test against a margin).
Resampling: :func:`bootstrap_ci`. Against the paper: :func:`interval_vs_range`, :func:`effect_ratio`.
Also :func:`auroc`. Where one problem counts more than once (seeds, traces nested in problems):
:mod:`mdlm_study.core.clustered_stats`.

Everything is numpy and the standard library, exact where a closed form exists, and deterministic: each
resampling function takes an explicit ``seed``. Differences are in fraction units (0.034 = 3.4 points),
always "second argument minus first" (this minus reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np

from mdlm_study.core.checks import int_at_least

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
    int_at_least("n_boot", n_boot)
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
    accuracies as independent samples (``verdicts.unpaired_difference``), because problems both decodings get
    right or both get wrong carry no noise about their difference.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D sequences of the same length, got shapes {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return {"only_a": only_a, "only_b": only_b, "p_value": _mcnemar_p(only_a, only_b)}


def _mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: ``2 P(X <= min(only_a, only_b))``, X ~ Binomial(only_a + only_b, 1/2),
    capped at 1 (1.0 with no discordant pair). The binomial coefficients are exact integers, built one
    from the previous (C(n, i + 1) = C(n, i) (n - i) / (i + 1)), so thousands of discordant pairs stay fast."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    total, term = 0, 1
    for i in range(k + 1):
        total += term
        term = term * (n - i) // (i + 1)
    return min(1.0, 2 * (total / 2**n))


def paired_vs_reference(reference: Sequence[bool], this: Sequence[bool]) -> dict:
    """:func:`mcnemar_exact` of a decoding against a reference decoding of the same problems, as the
    benchmarks record it: ``only_reference`` / ``only_this`` count the problems only one gets right."""
    test = mcnemar_exact(reference, this)
    return {"only_reference": test["only_a"], "only_this": test["only_b"], "p_value": test["p_value"]}


# ---------------------------------------------------------------------------------------------------
# Shared helpers: normal and chi-square tails, input checks.

_NORMAL = NormalDist()


def _z(level: float, name: str = "level") -> float:
    """Two-sided normal quantile ``z`` with ``P(|Z| <= z) = level`` (1.95996... at 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"{name} must be in (0, 1), got {level}")
    return _NORMAL.inv_cdf((1 + level) / 2)


def _normal_sf(x: float) -> float:
    """``P(Z > x)`` for a standard normal Z, exact in the tails (via erfc); x may be +-inf."""
    return 0.5 * math.erfc(x / math.sqrt(2))


def _chi2_sf(x: float, df: int) -> float:
    """``P(X > x)`` for X ~ chi-square with a positive integer ``df``: the closed forms of the regularised
    upper incomplete gamma function (Abramowitz & Stegun 26.4.4 for odd df, 26.4.5 for even df)."""
    if x <= 0:
        return 1.0
    if df % 2 == 0:  # exp(-x/2) sum_{r < df/2} (x/2)^r / r!
        term, total = 1.0, 1.0
        for r in range(1, df // 2):
            term *= x / 2 / r
            total += term
        return float(min(1.0, math.exp(-x / 2) * total))
    # erfc(sqrt(x/2)) + 2 phi(sqrt x) sum_{r=1}^{(df-1)/2} x^{r-1/2} / (1 3 5 ... (2r-1))
    term, total = math.sqrt(x), 0.0
    for r in range(1, (df + 1) // 2):
        total += term
        term *= x / (2 * r + 1)
    return float(min(1.0, math.erfc(math.sqrt(x / 2)) + 2 * math.exp(-x / 2) / math.sqrt(2 * math.pi) * total))


def _binary(values: Sequence[bool], name: str) -> np.ndarray:
    """A non-empty 1-D vector of 0/1 or False/True as a bool array; anything else raises, naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of booleans, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            bad = arr[~np.isin(arr, (0, 1))][:3] if np.issubdtype(arr.dtype, np.number) else arr[:3]
            raise ValueError(f"{name} must hold only booleans or 0/1, got {bad.tolist()}")
    return arr.astype(bool)


def _paired_counts(first: Sequence[bool], second: Sequence[bool], names: tuple[str, str]) -> tuple[int, int, int]:
    """``(n, only_first, only_second)`` of two paired 0/1 vectors of the same length."""
    a, b = _binary(first, names[0]), _binary(second, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {a.size} and {b.size}")
    return a.size, int((a & ~b).sum()), int((~a & b).sum())


def _check_counts(n: int, only_a: int, only_b: int) -> None:
    for name, value in (("n", n), ("only_a", only_a), ("only_b", only_b)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer count, got {value!r}")
    if n < 1 or only_a < 0 or only_b < 0 or only_a + only_b > n:
        raise ValueError(f"need n >= 1 and 0 <= only_a, only_b with only_a + only_b <= n, got n={n}, only_a={only_a}, only_b={only_b}")


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return float(low), float(high)


def _check_resampling(n_boot: int, level: float) -> None:
    int_at_least("n_boot", n_boot)
    _z(level)


# ---------------------------------------------------------------------------------------------------
# Paired proportions: Tango's score statistic, interval and equivalence tests.


def _tango_statistic(delta0: np.ndarray | float, n: int, only_a: int, only_b: int) -> np.ndarray:
    """Tango's (1998) score statistic for H0: ``p_b - p_a = delta0`` on a paired table, vectorised over delta0.

    The statistic is ``(only_b - only_a - n delta0) / sqrt(n (2 q + delta0 (1 - delta0)))``: the numerator
    has variance ``n (p_only_a + p_only_b - delta0^2)`` and ``p_only_b = p_only_a + delta0`` under H0, with
    q the restricted maximum-likelihood estimate of p_only_a, ``q = (sqrt(B^2 - 4AC) - B) / (2A)`` with
    ``A = 2n``, ``B = -only_a - only_b + (2n - only_b + only_a) delta0``, ``C = -only_a delta0 (1 - delta0)``.
    It decreases in delta0, is 0 at the observed difference and equals the uncorrected McNemar statistic
    ``(only_b - only_a) / sqrt(only_a + only_b)`` at delta0 = 0.
    """
    d = np.asarray(delta0, dtype=np.float64)
    a = 2.0 * n
    b = -only_a - only_b + (2.0 * n - only_b + only_a) * d
    c = -only_a * d * (1 - d)
    root = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        # the same root, written without cancellation for either sign of B (np.where drops the other form)
        q = np.where(b <= 0, (root - b) / (2 * a), -2 * c / (b + root))
        variance = np.maximum(n * (2 * q + d * (1 - d)), 0.0)
        numerator = only_b - only_a - n * d
        return np.where(numerator == 0, 0.0, numerator / np.sqrt(variance))


def _tango_bounds(n: int, only_a: int, only_b: int, z: float) -> tuple[float, float]:
    """The score interval ``{delta0 : |T(delta0)| <= z}``: both roots of ``T(delta0) = +-z`` by bisection
    (80 halvings of [-1, estimate] and [estimate, 1], far below double precision). A bound is -1 or 1 only
    when the estimate is (every problem discordant one way)."""
    estimate = (only_b - only_a) / n
    low, high = np.array([-1.0, estimate]), np.array([estimate, 1.0])
    target = np.array([z, -z])
    for _ in range(80):
        mid = (low + high) / 2
        right = _tango_statistic(mid, n, only_a, only_b) > target  # T decreases: the root is right of mid
        low, high = np.where(right, mid, low), np.where(right, high, mid)
    bounds = (low + high) / 2
    return float(min(bounds[0], estimate)), float(max(bounds[1], estimate))


def paired_difference_ci_from_counts(n: int, only_a: int, only_b: int, *, level: float = 0.95) -> dict:
    """:func:`paired_difference_ci` from the counts: ``n`` problems, ``only_a`` right only under decoding a,
    ``only_b`` right only under b (the rest are right or wrong under both, and do not matter)."""
    _check_counts(n, only_a, only_b)
    low, high = _tango_bounds(n, only_a, only_b, _z(level))
    return {
        "difference": (only_b - only_a) / n,
        "low": low,
        "high": high,
        "level": level,
        "n": n,
        "only_a": only_a,
        "only_b": only_b,
        "p_value": _mcnemar_p(only_a, only_b),
        "method": "tango",
    }


def paired_difference_ci(correct_a: Sequence[bool], correct_b: Sequence[bool], *, level: float = 0.95) -> dict:
    """Difference of two paired accuracies, ``mean(correct_b) - mean(correct_a) = (only_b - only_a) / n``,
    with Tango's score interval (Tango 1998, Statistics in Medicine 17:891-908).

    The interval is every ``delta0`` the score test of H0: difference = delta0 does not reject at
    ``1 - level`` (:func:`_tango_statistic`): it uses the variance of ``only_b - only_a`` under each
    delta0 (restricted maximum likelihood), not the observed one, so it stays inside [-1, 1], is
    sensible with few or no discordant problems (with none it is ``+-z^2 / (n + z^2)``, not a
    zero-width Wald interval), and it is the interval whose test the equivalence and non-inferiority
    tests (:func:`paired_equivalence`) invert, so a claim and its interval never disagree. Fagerland,
    Lydersen & Laake (2014, Statistics in Medicine 33:2850-2875) recommend it, with Newcombe's (1998)
    method 10, among the paired intervals for coverage close to nominal; Newcombe's has no matching test.

    Returns ``difference``, ``low``, ``high``, ``level``, ``n``, ``only_a``, ``only_b``, ``method``
    ("tango") and ``p_value``: the exact McNemar p-value (:func:`mcnemar_exact`, the test the benchmarks
    record). The interval excludes 0 exactly when the uncorrected asymptotic McNemar test rejects, which
    is slightly less conservative than the exact test: at the edge the two can disagree.
    """
    n, only_a, only_b = _paired_counts(correct_a, correct_b, ("correct_a", "correct_b"))
    return paired_difference_ci_from_counts(n, only_a, only_b, level=level)


def _margin_tests(correct_reference, correct_this, margin: float, level: float) -> tuple[int, int, int, float, float]:
    if not 0.5 < level < 1:
        raise ValueError(f"level must be in (0.5, 1) (the test's 1 - alpha), got {level}")
    if not 0 < margin < 1:
        raise ValueError(f"margin must be in (0, 1) (fraction units: 0.02 is 2 points), got {margin}")
    n, only_ref, only_this = _paired_counts(correct_reference, correct_this, ("correct_reference", "correct_this"))
    t_low, t_high = _tango_statistic(np.array([-margin, margin]), n, only_ref, only_this)
    return n, only_ref, only_this, _normal_sf(float(t_low)), _normal_sf(-float(t_high))


def paired_equivalence(correct_reference: Sequence[bool], correct_this: Sequence[bool], *, margin: float, level: float = 0.95) -> dict:
    """Two one-sided tests (Schuirmann 1987, TOST) that this decoding is within ``+-margin`` of the
    reference on the same problems, with Tango's (1998) score statistic (the paired-design equivalence
    test of that paper; Nam 1997, Biometrics 53:1422-1430, gives the same statistic).

    ``difference = mean(correct_this) - mean(correct_reference)``, delta its expectation. The tests are
    H0-: delta <= -margin against delta > -margin (``p_lower = P(Z >= T(-margin))``) and
    H0+: delta >= margin against delta < margin (``p_upper = P(Z <= T(margin))``), T the score statistic
    of :func:`_tango_statistic` (variance under each null by restricted maximum likelihood, so it holds
    up with few discordant problems where the observed paired variance
    ``((only_ref + only_this) / n - difference^2) / n`` does not). ``level`` is the tests' ``1 - alpha``:
    ``equivalent`` when ``p_value = max(p_lower, p_upper) < alpha``, which happens exactly when the
    ``1 - 2 alpha`` score interval (``low``, ``high``; 90% at the default) lies inside
    (-margin, margin). ``noninferior`` (``p_lower < alpha``, the one-sided claim "keeps accuracy", lower
    margin only) is :func:`paired_noninferiority`, reported here too.

    Returns ``difference``, ``low``, ``high``, ``ci_level`` (1 - 2 alpha), ``margin``, ``alpha``,
    ``p_lower``, ``p_upper``, ``p_value``, ``equivalent``, ``noninferior``, ``n``, ``only_reference``,
    ``only_this``.
    """
    n, only_ref, only_this, p_lower, p_upper = _margin_tests(correct_reference, correct_this, margin, level)
    alpha = round(1 - level, 12)  # 0.05, not 0.050000000000000044
    low, high = _tango_bounds(n, only_ref, only_this, _z(1 - 2 * alpha))
    return {
        "difference": (only_this - only_ref) / n,
        "low": low,
        "high": high,
        "ci_level": 1 - 2 * alpha,
        "margin": margin,
        "alpha": alpha,
        "p_lower": p_lower,
        "p_upper": p_upper,
        "p_value": max(p_lower, p_upper),
        "equivalent": bool(max(p_lower, p_upper) < alpha),
        "noninferior": bool(p_lower < alpha),
        "n": n,
        "only_reference": only_ref,
        "only_this": only_this,
    }


def paired_noninferiority(correct_reference: Sequence[bool], correct_this: Sequence[bool], *, margin: float, level: float = 0.95) -> dict:
    """One-sided score test that this decoding loses less than ``margin`` against the reference on the
    same problems: H0: delta <= -margin against delta > -margin, delta the expected
    ``mean(correct_this) - mean(correct_reference)`` (Tango 1998; Nam 1997). The usual form of a
    "keeps accuracy" claim; :func:`paired_equivalence` is its two-sided version.

    ``p_value = P(Z >= T(-margin))`` with Tango's score statistic T; ``noninferior`` when it is below
    ``alpha = 1 - level``, exactly when ``low``, the one-sided ``level`` lower confidence bound (the lower
    end of the ``1 - 2 alpha`` two-sided score interval), is above ``-margin``.

    Returns ``difference``, ``low``, ``margin``, ``alpha``, ``p_value``, ``noninferior``, ``n``,
    ``only_reference``, ``only_this``.
    """
    n, only_ref, only_this, p_lower, _ = _margin_tests(correct_reference, correct_this, margin, level)
    alpha = round(1 - level, 12)
    return {
        "difference": (only_this - only_ref) / n,
        "low": _tango_bounds(n, only_ref, only_this, _z(1 - 2 * alpha))[0],
        "margin": margin,
        "alpha": alpha,
        "p_value": p_lower,
        "noninferior": bool(p_lower < alpha),
        "n": n,
        "only_reference": only_ref,
        "only_this": only_this,
    }


# ---------------------------------------------------------------------------------------------------
# Our interval against the paper's number.


def _finite(**values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")


def interval_vs_range(low: float, high: float, paper_low: float, paper_high: float) -> dict:
    """Where our interval ``[low, high]`` sits against a published value (``paper_low == paper_high``)
    or range ``[paper_low, paper_high]`` (closed intervals, same units).

    ``relation`` is "inside" when the two overlap (our interval contains the paper's value, or shares
    part of its range: the data do not contradict the paper), "below" when ``high < paper_low`` and
    "above" when ``low > paper_high``. ``gap`` is the distance between them (0 when inside; otherwise
    ``paper_low - high`` or ``low - paper_high``, positive), ``covers_paper`` whether our interval holds
    the whole published range.
    """
    _finite(low=low, high=high, paper_low=paper_low, paper_high=paper_high)
    if low > high:
        raise ValueError(f"need low <= high, got low={low}, high={high}")
    if paper_low > paper_high:
        raise ValueError(f"need paper_low <= paper_high, got paper_low={paper_low}, paper_high={paper_high}")
    if high < paper_low:
        relation, gap = "below", paper_low - high
    elif low > paper_high:
        relation, gap = "above", low - paper_high
    else:
        relation, gap = "inside", 0.0
    return {"relation": relation, "gap": float(gap), "covers_paper": bool(low <= paper_low and paper_high <= high)}


def effect_ratio(ours: float, ours_low: float, ours_high: float, paper: float) -> dict:
    """Our effect as a fraction of the paper's: ``ratio = ours / paper`` with bounds ``ours_low / paper``
    and ``ours_high / paper`` (the paper's number taken as exact, so the ratio interval is our interval
    rescaled; dividing by a negative ``paper`` swaps the ends). 1 means the paper's size, 0 no effect, a
    negative ratio the opposite direction.

    ``direction`` is "same" when the whole ratio interval is above 0, "opposite" when it is below 0 and
    "unclear" when it contains 0. ``paper == 0`` raises: no ratio to a zero effect exists (compare the
    intervals with :func:`interval_vs_range` instead).
    """
    _finite(ours=ours, ours_low=ours_low, ours_high=ours_high, paper=paper)
    if not ours_low <= ours <= ours_high:
        raise ValueError(f"need ours_low <= ours <= ours_high, got {ours_low}, {ours}, {ours_high}")
    if paper == 0:
        raise ValueError("paper is 0: a ratio to a zero effect is undefined")
    ends = sorted((ours_low / paper, ours_high / paper))
    direction = "same" if ends[0] > 0 else "opposite" if ends[1] < 0 else "unclear"
    return {"ratio": ours / paper, "low": ends[0], "high": ends[1], "direction": direction}
