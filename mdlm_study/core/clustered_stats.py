"""Statistics where one problem counts more than once: across seeds, traces nested in problems, seeds
crossed with problems.

Across seeds (the same problems decoded by independently trained models): :func:`cmh_paired`
(stratified McNemar and the Mantel-Haenszel difference), :func:`seed_heterogeneity` (Cochran's Q, I²),
:func:`count_holding`. Traces nested in problems: :func:`clustered_proportion_ci`,
:func:`each_cluster_once_ci` (its worst case, from the fraction and the number of problems alone),
:func:`cluster_bootstrap_ci` (whole problems resampled). Seeds crossed with problems:
:func:`two_level_bootstrap_ci`.

The same conventions as :mod:`mdlm_study.core.stats` (whose input checks and tails these share):
numpy and the standard library, deterministic (each resampling function takes an explicit ``seed``),
differences in fraction units, "second argument minus first".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from mdlm_study.core.stats import (  # the shared input checks and tails
    _binary,
    _check_resampling,
    _chi2_sf,
    _mcnemar_p,
    _paired_counts,
    _percentile_interval,
    _tango_bounds,
    _z,
    paired_difference_ci_from_counts,
    wilson_interval,
)

# ---------------------------------------------------------------------------------------------------
# Across seeds: the same problems decoded by several independently trained models.


def _strata_counts(strata) -> list[tuple[int, int, int]]:
    """``[(n, only_reference, only_this)]`` of each (correct_reference, correct_this) stratum."""
    strata = list(strata)
    if not strata:
        raise ValueError("strata is empty: need at least one (correct_reference, correct_this) pair")
    counts = []
    for i, stratum in enumerate(strata):
        if not isinstance(stratum, tuple | list) or len(stratum) != 2:
            raise ValueError(f"strata[{i}] must be a (correct_reference, correct_this) pair")
        counts.append(_paired_counts(*stratum, names=(f"strata[{i}] correct_reference", f"strata[{i}] correct_this")))
    return counts


def cmh_paired(strata: Sequence[tuple[Sequence[bool], Sequence[bool]]], *, level: float = 0.95) -> dict:
    """Cochran-Mantel-Haenszel analysis of paired decodings stratified by seed: each stratum is
    ``(correct_reference, correct_this)`` for one seed's model (the same problems, or not).

    Test. In the CMH test (Cochran 1954; Mantel & Haenszel 1959) every matched pair is its own 2x2
    stratum (decoding x correct), so it reduces to McNemar's test on the discordant counts summed over
    seeds, B = sum only_reference and C = sum only_this (the stratified McNemar; grouping the pairs by
    seed changes nothing): ``chi2 = max(|C - B| - 1, 0)^2 / (B + C)`` with the continuity correction,
    ``p_chi2`` its chi-square(1) tail, and ``p_exact`` the exact conditional test: given B + C, each
    discordant pair is equally likely either way under H0, so B ~ Binomial(B + C, 1/2)
    (:func:`mcnemar_exact` on the pooled counts).

    Estimate. ``difference`` is the Mantel-Haenszel risk difference with the pairs as strata (each has
    weight 1/2), which is the pooled ``(C - B) / N``, N the number of pairs: each seed weighs by its
    problems, and it is the estimate the CMH test is the score test of (a mean of per-seed differences
    with per-seed variances would weigh seeds by their noise, not their size, and matches no test here).
    ``se`` is Sato's (1989, Biometrics 45:1323-1324) variance of that estimator, which for matched pairs
    is the paired variance ``((B + C) / N - difference^2) / N``; ``low``/``high`` are Tango's score
    interval on the pooled counts (:func:`paired_difference_ci`), whose test at 0 is the uncorrected
    CMH statistic. This treats the seeds as fixed and the pairs as independent: problems shared by the
    seeds make it too narrow for a claim about new seeds or new problems; use
    :func:`two_level_bootstrap_ci` for that and :func:`seed_heterogeneity` to see whether seeds disagree.

    Returns ``strata``, ``n``, ``only_reference``, ``only_this``, ``difference``, ``se``, ``low``,
    ``high``, ``level``, ``chi2``, ``p_chi2``, ``p_exact``, and ``per_seed``: one
    :func:`paired_difference_ci` result per stratum (``only_a`` = reference, ``only_b`` = this,
    ``p_value`` the seed's exact McNemar p).
    """
    counts = _strata_counts(strata)
    z = _z(level)
    n = sum(c[0] for c in counts)
    only_ref, only_this = sum(c[1] for c in counts), sum(c[2] for c in counts)
    difference = (only_this - only_ref) / n
    discordant = only_ref + only_this
    chi2 = max(abs(only_this - only_ref) - 1, 0) ** 2 / discordant if discordant else 0.0
    low, high = _tango_bounds(n, only_ref, only_this, z)
    return {
        "strata": len(counts),
        "n": n,
        "only_reference": only_ref,
        "only_this": only_this,
        "difference": difference,
        "se": math.sqrt(max(discordant / n - difference**2, 0.0) / n),
        "low": low,
        "high": high,
        "level": level,
        "chi2": chi2,
        "p_chi2": _chi2_sf(chi2, 1),
        "p_exact": _mcnemar_p(only_ref, only_this),
        "per_seed": [paired_difference_ci_from_counts(*c, level=level) for c in counts],
    }


def seed_heterogeneity(strata: Sequence[tuple[Sequence[bool], Sequence[bool]]]) -> dict:
    """Do the seeds agree on the paired difference (this minus reference)? Cochran's (1954) Q and
    Higgins & Thompson's (2002) I² over the per-seed differences d_s.

    ``q = sum w_s (d_s - pooled)^2`` with inverse-variance weights ``w_s = 1 / v_s``, v_s the seed's
    paired variance ``((only_ref + only_this) / n - d_s^2) / n`` (Sato's, as in :func:`cmh_paired`), and
    ``pooled = sum w_s d_s / sum w_s``; ``p_value`` is Q's chi-square(S - 1) tail, ``i2 = max(0, (Q - df) / Q)``
    the share of the spread beyond sampling noise, ``tau2`` DerSimonian & Laird's (1986) between-seed
    variance ``max(0, (Q - df) / (sum w - sum w^2 / sum w))``. A seed whose variance would be 0 (no
    discordant problem, or all discordant one way) gets 1/2 added to each of its four cells (Haldane's
    correction) so it keeps a finite weight. Seeds decoded on the same problems have positively
    correlated differences, which makes Q conservative: it under-reports disagreement, never invents it.

    Returns ``differences``, ``variances`` (lists, one per seed), ``pooled``, ``q``, ``df``, ``p_value``,
    ``i2``, ``tau2``. Needs at least two strata.
    """
    counts = np.array(_strata_counts(strata), dtype=np.float64)
    if len(counts) < 2:
        raise ValueError(f"seed_heterogeneity needs at least 2 strata, got {len(counts)}")
    n, only_ref, only_this = counts.T
    d = (only_this - only_ref) / n
    v = ((only_ref + only_this) / n - d**2) / n
    fix = v <= 0  # Haldane: 1/2 more in each of the four cells of such a seed's table
    n, only_ref, only_this = n + 2 * fix, only_ref + 0.5 * fix, only_this + 0.5 * fix
    d = (only_this - only_ref) / n
    v = ((only_ref + only_this) / n - d**2) / n
    w = 1 / v
    pooled = float((w * d).sum() / w.sum())
    q = float((w * (d - pooled) ** 2).sum())
    df = len(d) - 1
    return {
        "differences": d.tolist(),
        "variances": v.tolist(),
        "pooled": pooled,
        "q": q,
        "df": df,
        "p_value": _chi2_sf(q, df),
        "i2": max(0.0, (q - df) / q) if q > 0 else 0.0,
        "tau2": max(0.0, (q - df) / float(w.sum() - (w**2).sum() / w.sum())),
    }


def count_holding(per_seed_results: Sequence[dict], *, rule: Callable[[dict], bool]) -> dict:
    """In how many strata does an effect hold? ``rule`` maps one stratum's result (e.g. an entry of
    ``cmh_paired(...)["per_seed"]``) to True or False, for example
    ``lambda r: r["difference"] < 0 and r["p_value"] < 0.05``.

    Returns ``holding`` (how many), ``total`` and ``which`` (their indices). Raises when there is no
    stratum, when ``rule`` is not callable, fails on a result (e.g. a missing key), or returns anything
    but a boolean (a number or None would be counted silently by truthiness).
    """
    results = list(per_seed_results)
    if not callable(rule):
        raise ValueError(f"rule must be a callable returning a bool, got {rule!r}")
    if not results:
        raise ValueError("per_seed_results is empty: no stratum to count")
    which = []
    for i, result in enumerate(results):
        try:
            verdict = rule(result)
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(f"rule failed on per_seed_results[{i}]: {type(err).__name__}: {err}") from err
        if not isinstance(verdict, bool | np.bool_):
            raise ValueError(f"rule must return a bool, got {verdict!r} on per_seed_results[{i}]")
        if verdict:
            which.append(i)
    return {"holding": len(which), "total": len(results), "which": which}


# ---------------------------------------------------------------------------------------------------
# Traces nested in problems; seeds crossed with problems.


def _clusters(values: Sequence[float], clusters: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float array, cluster index 0..K-1 per row), both 1-D and the same length."""
    v, labels = np.asarray(values), np.asarray(clusters)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {v.shape}")
    if labels.shape != v.shape:
        raise ValueError(f"clusters must give one label per row of {name}: shapes {labels.shape} and {v.shape}")
    _, index = np.unique(labels, return_inverse=True)
    return v, index.reshape(-1)


def clustered_proportion_ci(successes: Sequence[bool], clusters: Sequence, *, level: float = 0.95) -> dict:
    """A proportion of rows (e.g. posterior traces fully correct) when rows come in clusters (the traces
    of one problem): the Wilson interval at the design-effect-adjusted sample size (Kish 1965; Korn &
    Graubard 1998, Survey Methodology 24:193-201).

    With p = successes / n, K clusters of m_k rows and y_k successes, the cluster-robust (ratio
    estimator) variance ``V = K / (K - 1) sum_k (y_k - p m_k)^2 / n^2`` is compared with the binomial
    one ``p (1 - p) / (n - 1)`` (both with their small-sample factor, so clusters of one row give a
    design effect of exactly 1): ``deff = max(1, V / (p (1 - p) / (n - 1)))`` and the interval is
    :func:`wilson_interval` with ``n_eff = n / deff`` rows and ``p n_eff`` successes. Chosen over a
    cluster bootstrap for proportions because it is closed-form, deterministic and keeps Wilson's good
    behaviour near 0 and 1, where percentile bootstraps collapse (all problems wrong gives [0, 0]).
    When the data cannot estimate the correlation (one cluster, or p = 0 or 1) it takes the worst
    case, one observation per cluster (``n_eff = K``); deff below 1 (negative correlation, noise for
    traces of one problem) is taken as 1, so the interval is never narrower than the naive Wilson one.

    Returns ``estimate``, ``low``, ``high``, ``level``, ``n``, ``clusters``, ``deff``, ``n_eff``.
    """
    y = _binary(successes, "successes").astype(np.float64)
    _, index = _clusters(y, clusters, "successes")
    n, k = y.size, int(index.max()) + 1
    p = float(y.mean())
    if k == 1 or p in (0.0, 1.0):
        n_eff = float(k)
    else:
        y_k, m_k = np.bincount(index, weights=y, minlength=k), np.bincount(index, minlength=k)
        v_cluster = k / (k - 1) * float(((y_k - p * m_k) ** 2).sum()) / n**2
        n_eff = n / max(1.0, v_cluster / (p * (1 - p) / (n - 1)))
    low, high = wilson_interval(p * n_eff, n_eff, z=_z(level))
    return {"estimate": p, "low": low, "high": high, "level": level, "n": n, "clusters": k, "deff": n / n_eff, "n_eff": n_eff}


def each_cluster_once_ci(fraction: float, n_clusters: int, *, level: float = 0.95) -> tuple[float, float]:
    """The interval of a proportion of rows that come in ``n_clusters`` clusters of equal size (e.g.
    posterior traces, the same number per problem), counting each cluster once: Wilson's interval at
    ``n_eff = n_clusters`` with ``fraction n_eff`` successes. The worst case of the rows' correlation
    within a cluster (all rows of a cluster alike), so it needs only the fraction and the number of
    clusters, not the rows: a record that kept only those still gives it (:func:`clustered_proportion_ci`
    estimates the correlation from the rows instead)."""
    if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or n_clusters < 1:
        raise ValueError(f"n_clusters must be an integer >= 1, got {n_clusters!r}")
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    return wilson_interval(fraction * n_clusters, int(n_clusters), z=_z(level))


def cluster_bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(values)`` that resamples whole clusters (problems)
    with replacement, keeping each cluster's rows (traces) together (the cluster bootstrap: Davison &
    Hinkley 1997, section 3.8; Field & Welsh 2007, JRSS B 69:369-390).

    Rows of one problem are correlated, so resampling rows would treat n traces as n independent
    problems and give too narrow an interval; resampling problems keeps the correlation inside each
    draw. Each replicate draws K cluster indices (K the number of clusters) and applies ``statistic``
    to the rows of the drawn clusters, in the order drawn. With one row per cluster it is exactly
    :func:`bootstrap_ci` on ``values`` (same draws for the same ``seed``). For a plain proportion prefer
    :func:`clustered_proportion_ci` (closed form, sound at 0 and 1). Deterministic given ``seed``.
    """
    _check_resampling(n_boot, level)
    v, index = _clusters(values, clusters, "values")
    v = v.astype(np.float64)
    order = np.argsort(index, kind="stable")
    sizes = np.bincount(index)
    starts = np.cumsum(sizes) - sizes
    rows_sorted = v[order]
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for b in range(n_boot):
        draw = rng.integers(0, sizes.size, sizes.size)
        m = sizes[draw]
        ends = np.cumsum(m)
        rows = np.repeat(starts[draw] - (ends - m), m) + np.arange(ends[-1])
        replicates[b] = statistic(rows_sorted[rows])
    return _percentile_interval(replicates, level)


def two_level_bootstrap_ci(
    matrix: np.ndarray | Sequence[Sequence[float]],
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(matrix)`` for a [seeds, problems] matrix, resampling
    seeds and problems independently with replacement (crossed design: every seed decodes every problem;
    the "pigeonhole" bootstrap of Owen 2007, Annals of Applied Statistics 1:386-411).

    Use it for a pooled accuracy (``matrix`` of 0/1 correct) or a pooled paired difference (``matrix``
    of ``correct_this - correct_reference`` in {-1, 0, 1}, same problem order in every row). It
    estimates the spread of the grand mean over a new draw of training seeds and of problems, the
    question "would another set of trained models, on other problems from the same source, show this
    effect?", which the pooled intervals of :func:`cmh_paired` (seeds and problems fixed) do not answer.
    For the mean, the bootstrap variance is exactly ``sum a_i^2 / S^2 + sum b_j^2 / P^2 + sum e_ij^2 / (S P)^2``
    (a, b, e the seed, problem and residual effects of the matrix's two-way decomposition); under the
    random-effects model ``y = mu + seed + problem + residual`` that is about
    ``var_seed / S + var_problem / P + 3 var_residual / (S P)`` against the true
    ``var_seed / S + var_problem / P + var_residual / (S P)``: it counts the residual three times
    (conservative; McCullagh 2000, Bernoulli 6:285-301, shows no resampling scheme is exact for crossed
    designs), it scales the seed part by ``1 - 1/S`` (20% short at 5 seeds) and it can only draw among
    S seed values, so read it as approximate when the seeds disagree.
    Deterministic given ``seed`` (each replicate draws S seed indices, then P problem indices).
    """
    _check_resampling(n_boot, level)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"matrix must be 2-D [seeds, problems] and non-empty, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("matrix has NaN or infinite entries")
    seeds, problems = m.shape
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for b in range(n_boot):
        rows, cols = rng.integers(0, seeds, seeds), rng.integers(0, problems, problems)
        replicates[b] = statistic(m[np.ix_(rows, cols)])
    return _percentile_interval(replicates, level)
