"""Statistics helpers on known values, published examples, limiting cases and small simulations."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from mdlm_study.core.clustered_stats import (
    cluster_bootstrap_ci,
    clustered_proportion_ci,
    cmh_paired,
    count_holding,
    each_cluster_once_ci,
    seed_heterogeneity,
    two_level_bootstrap_ci,
)
from mdlm_study.core.stats import (
    _chi2_sf,
    _mcnemar_p,
    auroc,
    bootstrap_ci,
    effect_ratio,
    interval_vs_range,
    mcnemar_exact,
    paired_difference_ci,
    paired_difference_ci_from_counts,
    paired_equivalence,
    paired_noninferiority,
    paired_vs_reference,
    wilson_interval,
)

Z = NormalDist().inv_cdf(0.975)


@pytest.mark.parametrize(
    "k, n, expected",
    [
        (5, 10, (0.2365931, 0.7634069)),  # textbook values (e.g. statsmodels method="wilson")
        (0, 10, (0.0, 0.2775328)),
        (10, 10, (0.7224672, 1.0)),
        (81, 263, (0.2552885, 0.3662096)),  # by hand: centre 0.310745, half-width 0.055457
    ],
)
def test_wilson_known_values(k, n, expected):
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("n", [1, 3, 88, 173, 299, 300, 1000])
def test_wilson_bounds_are_exact_at_zero_and_n_and_contain_p(n):
    for k in range(n + 1):
        low, high = wilson_interval(k, n)
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_wilson_empty_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5), (0, -1)])
def test_wilson_bad_input(k, n):
    with pytest.raises(ValueError, match=str(k)):
        wilson_interval(k, n)


def test_auroc_known_values():
    assert auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auroc([0, 1, 2], [3, 4, 5]) == 0.0
    assert auroc([1, 1, 1], [1, 1]) == 0.5
    assert auroc([0.9, 0.8], [0.1, 0.85]) == 0.75
    assert auroc([1, 2], [1]) == 0.75  # one tie (1/2) and one win


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairwise = ((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])).mean()
    assert auroc(pos, neg) == pytest.approx(pairwise)


def test_auroc_bad_input():
    with pytest.raises(ValueError, match="0 negative"):
        auroc([1.0], [])
    with pytest.raises(ValueError, match="NaN"):
        auroc([np.nan], [1.0])


def test_bootstrap_constant_sample_has_zero_width():
    assert bootstrap_ci(np.mean, [2.5] * 20, n_boot=50) == (2.5, 2.5)


def test_bootstrap_mean_matches_normal_theory():
    sample = np.random.default_rng(1).normal(size=2000)
    low, high = bootstrap_ci(np.mean, sample, n_boot=2000, seed=3)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(sample.size)
    assert low == pytest.approx(sample.mean() - half, abs=0.01)
    assert high == pytest.approx(sample.mean() + half, abs=0.01)


def test_bootstrap_is_seeded_and_takes_two_samples():
    a, b = [0.1, 0.4, 0.9, 0.3], [0.2, 0.5, 0.0]
    first = bootstrap_ci(auroc, a, b, n_boot=200, seed=7)
    assert first == bootstrap_ci(auroc, a, b, n_boot=200, seed=7)
    assert 0.0 <= first[0] <= auroc(a, b) <= first[1] <= 1.0


@pytest.mark.parametrize("kwargs, match", [({"n_boot": 0}, "n_boot"), ({"level": 1.5}, "1.5")])
def test_bootstrap_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(np.mean, [1.0, 2.0], **kwargs)


@pytest.mark.parametrize("only_a, only_b, expected", [(10, 0, 2 / 1024), (8, 2, 2 * 56 / 1024), (2, 8, 2 * 56 / 1024), (5, 5, 1.0), (0, 0, 1.0)])
def test_mcnemar_exact_known_values(only_a, only_b, expected):
    a = [True] * only_a + [False] * only_b
    b = [False] * only_a + [True] * only_b
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (only_a, only_b)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)


def test_mcnemar_ignores_concordant_problems_and_is_symmetric():
    a, b = [True] * 9 + [False] * 3, [False] * 9 + [True] * 3
    base = mcnemar_exact(a, b)
    padded = mcnemar_exact(a + [True] * 100 + [False] * 50, b + [True] * 100 + [False] * 50)
    assert padded == base
    swapped = mcnemar_exact(b, a)
    assert swapped == {"only_a": 3, "only_b": 9, "p_value": base["p_value"]}


@pytest.mark.parametrize("a, b", [([True, False], [True]), ([[True]], [[True]])])
def test_mcnemar_bad_input(a, b):
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact(a, b)


def test_paired_vs_reference_names_the_sides_as_the_benchmarks_record_them():
    reference, this = [True] * 9 + [False] * 3, [False] * 9 + [True] * 3
    test = mcnemar_exact(reference, this)
    assert paired_vs_reference(reference, this) == {"only_reference": 9, "only_this": 3, "p_value": test["p_value"]}
    with pytest.raises(ValueError, match="same length"):
        paired_vs_reference([True], [True, False])


# --- helpers -----------------------------------------------------------------------------------------


def vectors(only_a, only_b, both=0, neither=0):
    """Paired correct-vectors (a, b) with the given discordant and concordant counts."""
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return a, b


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.84, 9.0, 30.0, 120.0])
def test_chi2_sf_matches_scipy(df, x):
    stats = pytest.importorskip("scipy.stats")
    assert _chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-11, abs=1e-300)


def test_chi2_sf_known_values():
    assert _chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)  # the 95% quantile of chi2(1)
    assert _chi2_sf(2 * math.log(20), 2) == pytest.approx(0.05, rel=1e-12)  # chi2(2) tail is exp(-x/2)
    assert _chi2_sf(0.0, 3) == 1.0


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (1, 0), (30, 45), (451, 549), (2000, 2100)])
def test_mcnemar_p_matches_the_binomial_sum(only_a, only_b):
    n, k = only_a + only_b, min(only_a, only_b)
    expected = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    assert _mcnemar_p(only_a, only_b) == expected


# --- paired difference: Tango's score interval --------------------------------------------------------


def test_paired_difference_published_example():
    # Cavo et al. (2012), complete response before/after consolidation: 59 both, 6 only before, 16 only
    # after, 80 neither (n = 161). Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
    # Tables" (2017), ch. 8: Tango score CI -0.0621 (-0.1240 to -0.0054); McNemar exact P = 0.052479.
    a, b = vectors(only_a=16, only_b=6, both=59, neither=80)
    result = paired_difference_ci(a, b)
    assert result["difference"] == pytest.approx(-10 / 161)
    assert result["low"] == pytest.approx(-0.1240, abs=5e-5)
    assert result["high"] == pytest.approx(-0.0054, abs=5e-5)
    assert result["p_value"] == pytest.approx(0.052479, abs=5e-7)
    assert (result["n"], result["only_a"], result["only_b"], result["method"]) == (161, 16, 6, "tango")


@pytest.mark.parametrize("n", [1, 10, 100, 1500])
def test_paired_difference_without_discordant_problems(n):
    # only_a = only_b = 0: the score statistic is -sqrt(n d / (1 - d)), so |T| = z at d = z^2 / (n + z^2)
    result = paired_difference_ci_from_counts(n, 0, 0)
    bound = Z**2 / (n + Z**2)
    assert result["difference"] == 0.0 and result["p_value"] == 1.0
    assert result["low"] == pytest.approx(-bound, rel=1e-12)
    assert result["high"] == pytest.approx(bound, rel=1e-12)


@pytest.mark.parametrize("n", [1, 5, 10, 200])
def test_paired_difference_when_every_problem_is_discordant_one_way(n):
    # only_a = n: the restricted estimate is q = (1 - d) / 2, the statistic -sqrt(n (1 + d) / (1 - d)),
    # so the upper bound solves n (1 + d) / (1 - d) = z^2: d = (z^2 - n) / (z^2 + n); the lower bound is -1
    result = paired_difference_ci_from_counts(n, n, 0)
    assert result["difference"] == -1.0 and result["low"] == -1.0
    assert result["high"] == pytest.approx((Z**2 - n) / (Z**2 + n), rel=1e-12, abs=1e-15)
    flipped = paired_difference_ci_from_counts(n, 0, n)
    assert (flipped["low"], flipped["high"]) == pytest.approx((-result["high"], 1.0), rel=1e-15)


def test_paired_difference_swapping_sides_flips_the_sign():
    for only_a, only_b, both, neither in [(16, 6, 59, 80), (0, 3, 10, 2), (7, 1, 1, 12), (5, 5, 0, 0)]:
        a, b = vectors(only_a, only_b, both, neither)
        ab, ba = paired_difference_ci(a, b), paired_difference_ci(b, a)
        assert ba["difference"] == -ab["difference"]
        assert (ba["low"], ba["high"]) == pytest.approx((-ab["high"], -ab["low"]), abs=1e-15)
        assert ba["p_value"] == ab["p_value"]


def test_paired_difference_counts_and_vectors_agree_and_levels_nest():
    a, b = vectors(12, 20, 300, 68)
    result = paired_difference_ci(a, b, level=0.9)
    assert result == paired_difference_ci_from_counts(400, 12, 20, level=0.9)
    wide = paired_difference_ci(a, b, level=0.99)
    assert wide["low"] < result["low"] < result["difference"] < result["high"] < wide["high"]


def test_paired_difference_excludes_zero_exactly_when_the_uncorrected_mcnemar_test_rejects():
    # the score statistic at 0 is (only_b - only_a) / sqrt(only_a + only_b)
    for only_a in range(16):
        for only_b in range(16):
            result = paired_difference_ci_from_counts(40, only_a, only_b)
            rejects = only_a + only_b > 0 and abs(only_b - only_a) / math.sqrt(only_a + only_b) > Z
            assert (result["low"] > 0 or result["high"] < 0) == rejects, (only_a, only_b)
            assert -1 <= result["low"] <= result["difference"] <= result["high"] <= 1


def test_paired_difference_coverage_by_simulation():
    # 2,000 paired samples of 150 problems: P(only a) = 0.06, P(only b) = 0.10, true difference 0.04
    rng = np.random.default_rng(2024)
    draws = rng.multinomial(150, [0.06, 0.10, 0.84], size=2000)
    cache = {}
    for only_a, only_b, _ in map(tuple, draws):
        if (only_a, only_b) not in cache:
            result = paired_difference_ci_from_counts(150, int(only_a), int(only_b))
            cache[only_a, only_b] = result["low"] <= 0.04 <= result["high"]
    coverage = np.mean([cache[only_a, only_b] for only_a, only_b, _ in map(tuple, draws)])
    assert 0.93 <= coverage <= 0.97


@pytest.mark.parametrize(
    "a, b, match",
    [
        ([True, False], [True], "same length"),
        ([[True]], [[True]], "1-D"),
        ([], [], "non-empty"),
        ([True, False], [1, 2], r"correct_b .*\[2\]"),
        ([0.5, 1], [1, 1], r"correct_a .*\[0.5\]"),
        (["yes"], [True], "correct_a"),
    ],
)
def test_paired_difference_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_difference_ci(a, b)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [((10, 6, 5), {}, "only_a=6, only_b=5"), ((0, 0, 0), {}, "n=0"), ((10, -1, 0), {}, "only_a=-1"), ((10.0, 1, 1), {}, "n must be an integer"), ((10, 1, 1), {"level": 1.0}, "level")],
)
def test_paired_difference_from_counts_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_difference_ci_from_counts(*args, **kwargs)


# --- equivalence and non-inferiority --------------------------------------------------------------


def tango_by_hand(n, only_ref, only_this, delta0):
    """Tango (1998), eq. for the paired score statistic, written out on scalars."""
    a = 2 * n
    b = -only_ref - only_this + (2 * n - only_this + only_ref) * delta0
    c = -only_ref * delta0 * (1 - delta0)
    q = (math.sqrt(b * b - 4 * a * c) - b) / (2 * a)
    return (only_this - only_ref - n * delta0) / math.sqrt(n * (2 * q + delta0 * (1 - delta0)))


def test_equivalence_known_values():
    # n = 1000, 10 problems right only under the reference, 10 only under this, margin 2 points.
    # At delta0 = -0.02: A = 2000, B = -20 + 2000 (-0.02) = -60, C = -10 (-0.02)(1.02) = 0.204,
    # q = (sqrt(3600 - 1632) + 60) / 4000 = 0.0260905, variance = 1000 (0.052181 - 0.0204) = 31.781,
    # T = 20 / 5.6375 = 3.5477, p_lower = P(Z > 3.5477) = 1.94e-4; p_upper is the same by symmetry.
    ref, this = vectors(10, 10, 600, 380)
    result = paired_equivalence(ref, this, margin=0.02)
    t = tango_by_hand(1000, 10, 10, -0.02)
    assert t == pytest.approx(3.5477, abs=1e-4)
    assert result["p_lower"] == pytest.approx(0.5 * math.erfc(t / math.sqrt(2)), rel=1e-12)
    assert result["p_lower"] == pytest.approx(1.94e-4, abs=1e-6)
    assert result["p_upper"] == pytest.approx(result["p_lower"], rel=1e-12)
    assert result["equivalent"] and result["noninferior"]
    assert (result["alpha"], result["ci_level"], result["difference"]) == (0.05, 0.9, 0.0)
    assert result["high"] == pytest.approx(-result["low"]) and result["high"] < 0.02


def test_equivalence_p_values_match_the_score_statistic_written_out():
    ref, this = vectors(30, 18, 100, 52)
    result = paired_equivalence(ref, this, margin=0.1, level=0.9)
    assert result["p_lower"] == pytest.approx(0.5 * math.erfc(tango_by_hand(200, 30, 18, -0.1) / math.sqrt(2)), rel=1e-12)
    assert result["p_upper"] == pytest.approx(0.5 * math.erfc(-tango_by_hand(200, 30, 18, 0.1) / math.sqrt(2)), rel=1e-12)
    assert result["p_value"] == max(result["p_lower"], result["p_upper"])
    assert result["ci_level"] == pytest.approx(0.8)


def test_equivalence_agrees_with_its_interval():
    # TOST at alpha is equivalent to the 1 - 2 alpha score interval lying inside (-margin, margin)
    for only_ref in range(0, 25, 3):
        for only_this in range(0, 25, 4):
            ref, this = vectors(only_ref, only_this, 100, 100 - only_ref - only_this)
            for margin in (0.03, 0.06, 0.1):
                result = paired_equivalence(ref, this, margin=margin)
                assert result["equivalent"] == (-margin < result["low"] and result["high"] < margin)
                assert result["noninferior"] == (-margin < result["low"])
                assert result["low"] == paired_difference_ci(ref, this, level=0.9)["low"]


def test_noninferiority_p_value_is_alpha_at_its_lower_bound():
    # the score test inverts the interval: testing at margin = -(lower bound) gives p = alpha exactly
    ref, this = vectors(25, 12, 140, 23)
    low = paired_noninferiority(ref, this, margin=0.1)["low"]
    assert paired_noninferiority(ref, this, margin=-low)["p_value"] == pytest.approx(0.05, abs=1e-9)
    equivalence = paired_equivalence(ref, this, margin=0.2)
    assert paired_noninferiority(ref, this, margin=0.2)["p_value"] == equivalence["p_lower"]


def test_equivalence_swapping_sides_swaps_the_one_sided_tests():
    ref, this = vectors(9, 21, 50, 20)
    forward, backward = paired_equivalence(ref, this, margin=0.15), paired_equivalence(this, ref, margin=0.15)
    assert backward["p_lower"] == pytest.approx(forward["p_upper"], rel=1e-12)
    assert backward["p_upper"] == pytest.approx(forward["p_lower"], rel=1e-12)
    assert backward["difference"] == -forward["difference"]


def test_equivalence_limiting_cases():
    # identical decodings: equivalent with enough problems (the bound z^2/(n + z^2) at z = 1.645 is
    # 0.0027 at n = 1000), not with 20 (0.119 > 0.1)
    same = [True] * 600 + [False] * 400
    assert paired_equivalence(same, same, margin=0.01)["equivalent"]
    assert not paired_equivalence(same[:20], same[:20], margin=0.1)["equivalent"]
    # far better than the reference: non-inferior, not equivalent
    ref, this = vectors(0, 300, 500, 200)
    better = paired_equivalence(ref, this, margin=0.05)
    assert better["noninferior"] and not better["equivalent"] and better["p_upper"] > 0.99


def test_noninferiority_size_at_the_margin_by_simulation():
    # true difference exactly -margin: the test should reject about alpha = 5% of the time
    rng = np.random.default_rng(11)
    n, margin = 300, 0.05
    draws = rng.multinomial(n, [0.10, 0.05, 0.85], size=2000)  # P(only ref) - P(only this) = 0.05
    cache = {}
    for only_ref, only_this, _ in map(tuple, draws):
        if (only_ref, only_this) not in cache:
            ref, this = vectors(int(only_ref), int(only_this), 0, n - only_ref - only_this)
            cache[only_ref, only_this] = paired_noninferiority(ref, this, margin=margin)["noninferior"]
    rate = np.mean([cache[r, t] for r, t, _ in map(tuple, draws)])
    assert 0.03 <= rate <= 0.07


@pytest.mark.parametrize("kwargs, match", [({"margin": 0.0}, "margin"), ({"margin": 1.0}, "margin"), ({"margin": 0.1, "level": 0.4}, "level"), ({"margin": float("nan")}, "margin")])
def test_equivalence_bad_input(kwargs, match):
    ref, this = vectors(3, 4, 5, 6)
    with pytest.raises(ValueError, match=match):
        paired_equivalence(ref, this, **kwargs)
    with pytest.raises(ValueError, match=match):
        paired_noninferiority(ref, this, **kwargs)


def test_equivalence_bad_vectors_name_the_argument():
    with pytest.raises(ValueError, match="correct_this"):
        paired_equivalence([True, False], [True, 3], margin=0.1)


# --- against the paper -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours, paper, relation, gap",
    [
        ((0.10, 0.20), (0.15, 0.15), "inside", 0.0),  # a point value inside our interval
        ((0.10, 0.20), (0.18, 0.30), "inside", 0.0),  # overlapping ranges
        ((0.10, 0.20), (0.20, 0.30), "inside", 0.0),  # touching ends count as overlap
        ((0.10, 0.20), (0.25, 0.30), "below", 0.05),
        ((0.10, 0.20), (-0.3, 0.02), "above", 0.08),
        ((-0.05, -0.01), (0.034, 0.034), "below", 0.044),
    ],
)
def test_interval_vs_range(ours, paper, relation, gap):
    result = interval_vs_range(*ours, *paper)
    assert result["relation"] == relation
    assert result["gap"] == pytest.approx(gap, abs=1e-15)


def test_interval_vs_range_covers_paper():
    assert interval_vs_range(0.0, 1.0, 0.2, 0.3)["covers_paper"]
    assert not interval_vs_range(0.0, 0.25, 0.2, 0.3)["covers_paper"]


@pytest.mark.parametrize("args, match", [((0.2, 0.1, 0.0, 0.0), "low=0.2"), ((0.0, 0.1, 0.3, 0.2), "paper_low=0.3"), ((float("nan"), 0.1, 0.0, 0.0), "low"), ((0.0, 0.1, None, 0.0), "paper_low")])
def test_interval_vs_range_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        interval_vs_range(*args)


def test_effect_ratio_positive_and_negative_paper():
    # ours 0.02 (0.01 to 0.03) against the paper's 0.04: half the effect, 0.25 to 0.75 of it
    assert effect_ratio(0.02, 0.01, 0.03, 0.04) == pytest.approx({"ratio": 0.5, "low": 0.25, "high": 0.75, "direction": "same"})
    # both negative: dividing by a negative paper swaps the ends (-0.03 / -0.04 = 0.75 is the top)
    assert effect_ratio(-0.02, -0.03, -0.01, -0.04) == pytest.approx({"ratio": 0.5, "low": 0.25, "high": 0.75, "direction": "same"})
    # opposite signs: a negative ratio
    assert effect_ratio(-0.02, -0.03, -0.01, 0.04)["direction"] == "opposite"
    unclear = effect_ratio(0.02, -0.01, 0.05, -0.04)
    assert (unclear["ratio"], unclear["low"], unclear["high"], unclear["direction"]) == pytest.approx((-0.5, -1.25, 0.25, "unclear"))


@pytest.mark.parametrize("args, match", [((0.1, 0.0, 0.2, 0.0), "paper is 0"), ((0.3, 0.0, 0.2, 0.1), "ours_low <= ours <= ours_high"), ((0.1, 0.0, 0.2, float("inf")), "paper")])
def test_effect_ratio_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        effect_ratio(*args)


# --- across seeds ----------------------------------------------------------------------------------


def strata_from_counts(tables):
    """[(correct_reference, correct_this)] from (only_ref, only_this, both, neither) per seed."""
    return [vectors(*t) for t in tables]


def test_cmh_one_stratum_is_the_unstratified_analysis():
    ref, this = vectors(16, 6, 59, 80)
    result = cmh_paired([(ref, this)])
    single = paired_difference_ci(ref, this)
    assert (result["difference"], result["low"], result["high"]) == (single["difference"], single["low"], single["high"])
    assert result["p_exact"] == mcnemar_exact(ref, this)["p_value"] == pytest.approx(0.052479, abs=5e-7)
    # McNemar with continuity correction on this table: P = 0.055009, Z = 1.919 (Fagerland et al. 2017)
    assert result["chi2"] == pytest.approx(81 / 22) and math.sqrt(result["chi2"]) == pytest.approx(1.919, abs=5e-4)
    assert result["p_chi2"] == pytest.approx(0.055009, abs=5e-7)
    assert result["per_seed"] == [single]


def test_cmh_hand_computed():
    # discordant (only_ref, only_this) per seed: (3, 7), (2, 5), (4, 4) with n = 20, 30, 25.
    # B = 9, C = 16, N = 75: chi2 = (|16 - 9| - 1)^2 / 25 = 1.44, difference = 7/75,
    # se^2 = (25/75 - (7/75)^2) / 75, exact p = 2 P(Bin(25, 1/2) <= 9)
    result = cmh_paired(strata_from_counts([(3, 7, 5, 5), (2, 5, 20, 3), (4, 4, 10, 7)]))
    assert (result["strata"], result["n"], result["only_reference"], result["only_this"]) == (3, 75, 9, 16)
    assert result["chi2"] == pytest.approx(1.44)
    assert result["p_chi2"] == pytest.approx(math.erfc(math.sqrt(0.72)), rel=1e-12)
    assert result["p_exact"] == pytest.approx(2 * sum(math.comb(25, i) for i in range(10)) / 2**25, rel=1e-12)
    assert result["difference"] == pytest.approx(7 / 75)
    assert result["se"] == pytest.approx(math.sqrt((25 / 75 - (7 / 75) ** 2) / 75))
    assert [s["difference"] for s in result["per_seed"]] == pytest.approx([4 / 20, 3 / 30, 0.0])
    assert result["per_seed"][0] == paired_difference_ci_from_counts(20, 3, 7)


def test_cmh_matches_the_textbook_formulas_with_each_pair_a_stratum():
    # The general CMH statistic (continuity 1/2) and the Mantel-Haenszel risk difference with Sato's
    # variance, computed over 2x2 tables (decoding x correct), one per matched pair.
    rng = np.random.default_rng(5)
    strata = [(rng.random(60) < 0.5, rng.random(60) < 0.65) for _ in range(4)]
    x0 = np.concatenate([np.asarray(r, float) for r, _ in strata])  # reference correct
    x1 = np.concatenate([np.asarray(t, float) for _, t in strata])  # this correct
    m1 = x0 + x1  # column total "correct" in each pair's table, rows (this, reference) of size 1
    expected_a = m1 / 2
    variance = np.where((m1 > 0) & (m1 < 2), 1 / 4, 0.0)  # hypergeometric 1 * 1 * m1 * (2 - m1) / (4 * 1)
    cmh = (abs((x1 - expected_a).sum()) - 0.5) ** 2 / variance.sum()
    w = 1 * 1 / 2
    rd = (w * (x1 - x0)).sum() / (w * x1.size)
    p = ((x0 - x1 + 0) / 4).sum()  # Sato's P: (n1^2 x0 - n0^2 x1 + n1 n0 (n0 - n1) / 2) / N^2
    q = ((x1 * (1 - x0) + x0 * (1 - x1)) / 4).sum()  # Sato's Q: (x1 (n0 - x0) + x0 (n1 - x1)) / (2 N)
    result = cmh_paired(strata)
    assert result["chi2"] == pytest.approx(cmh, rel=1e-12)
    assert result["difference"] == pytest.approx(rd, rel=1e-12)
    assert result["se"] ** 2 == pytest.approx((rd * p + q) / (w * x1.size) ** 2, rel=1e-12)


def test_cmh_regrouping_the_pairs_changes_nothing_but_the_per_seed_part():
    rng = np.random.default_rng(9)
    ref, this = rng.random(300) < 0.6, rng.random(300) < 0.55
    pooled = cmh_paired([(ref, this)])
    split = cmh_paired([(ref[:100], this[:100]), (ref[100:250], this[100:250]), (ref[250:], this[250:])])
    for key in ("n", "only_reference", "only_this", "difference", "se", "low", "high", "chi2", "p_chi2", "p_exact"):
        assert split[key] == pooled[key], key
    assert len(split["per_seed"]) == 3


def test_cmh_symmetry_and_limits():
    strata = strata_from_counts([(3, 7, 5, 5), (2, 5, 20, 3)])
    forward = cmh_paired(strata)
    backward = cmh_paired([(t, r) for r, t in strata])
    assert backward["difference"] == -forward["difference"]
    assert (backward["low"], backward["high"]) == pytest.approx((-forward["high"], -forward["low"]), abs=1e-15)
    assert (backward["chi2"], backward["p_exact"]) == (forward["chi2"], forward["p_exact"])
    none = cmh_paired(strata_from_counts([(0, 0, 5, 5), (0, 0, 3, 1)]))
    assert (none["chi2"], none["p_chi2"], none["p_exact"], none["difference"], none["se"]) == (0.0, 1.0, 1.0, 0.0, 0.0)
    one_way = cmh_paired(strata_from_counts([(0, 6, 0, 0), (0, 4, 0, 0)]))
    assert (one_way["difference"], one_way["high"]) == (1.0, 1.0)
    assert one_way["p_exact"] == 2 / 2**10 and one_way["chi2"] == pytest.approx(81 / 10)


@pytest.mark.parametrize(
    "strata, match",
    [
        ([], "strata is empty"),
        ([([True], [True], [False])], r"strata\[0\] must be a"),
        ([([True], [True]), ([True, False], [True])], r"strata\[1\] correct_reference and strata\[1\] correct_this must have the same length"),
        ([([True], [2])], r"strata\[0\] correct_this"),
    ],
)
def test_cmh_bad_input(strata, match):
    with pytest.raises(ValueError, match=match):
        cmh_paired(strata)


def test_seed_heterogeneity_hand_computed():
    # two seeds of 100 problems: (only_ref, only_this) = (10, 20) and (20, 10): d = +0.1 and -0.1,
    # v = (0.3 - 0.01) / 100 = 0.0029 each, pooled 0, Q = 2 (0.01 / 0.0029) = 6.8966 on 1 df,
    # I^2 = (Q - 1) / Q, tau^2 = (Q - 1) / (2/v - (2/v^2) / (2/v)) = (Q - 1) v
    result = seed_heterogeneity(strata_from_counts([(10, 20, 40, 30), (20, 10, 40, 30)]))
    q = 0.02 / 0.0029
    assert result["differences"] == pytest.approx([0.1, -0.1])
    assert result["variances"] == pytest.approx([0.0029, 0.0029])
    assert result["pooled"] == pytest.approx(0.0, abs=1e-15)
    assert (result["q"], result["df"]) == (pytest.approx(q), 1)
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(q / 2)), rel=1e-12)
    assert result["i2"] == pytest.approx((q - 1) / q)
    assert result["tau2"] == pytest.approx((q - 1) * 0.0029)


def test_seed_heterogeneity_agreeing_seeds_and_symmetry():
    same = seed_heterogeneity(strata_from_counts([(5, 9, 50, 36)] * 4))
    assert (same["q"], same["i2"], same["tau2"], same["p_value"], same["df"]) == (0.0, 0.0, 0.0, 1.0, 3)
    tables = [(5, 9, 50, 36), (12, 3, 40, 45), (7, 7, 60, 26)]
    forward = seed_heterogeneity(strata_from_counts(tables))
    backward = seed_heterogeneity([(t, r) for r, t in strata_from_counts(tables)])
    assert backward["differences"] == pytest.approx([-d for d in forward["differences"]])
    assert backward["q"] == pytest.approx(forward["q"])
    stats = pytest.importorskip("scipy.stats")
    assert forward["p_value"] == pytest.approx(stats.chi2.sf(forward["q"], 2), rel=1e-11)


def test_seed_heterogeneity_zero_variance_seed_keeps_a_finite_weight():
    # the second seed has no discordant problem: 1/2 is added to each of its cells (n = 102),
    # d = 0 and v = (1/102) / 102
    result = seed_heterogeneity(strata_from_counts([(10, 20, 40, 30), (0, 0, 60, 40)]))
    assert result["differences"][1] == 0.0
    assert result["variances"][1] == pytest.approx(1 / 102**2)
    assert math.isfinite(result["q"]) and result["q"] > 0


def test_seed_heterogeneity_needs_two_strata():
    with pytest.raises(ValueError, match="at least 2 strata, got 1"):
        seed_heterogeneity(strata_from_counts([(1, 2, 3, 4)]))


def test_count_holding():
    results = cmh_paired(strata_from_counts([(30, 5, 50, 15), (20, 18, 40, 22), (25, 4, 30, 41)]))["per_seed"]
    worse = count_holding(results, rule=lambda r: r["difference"] < 0 and r["p_value"] < 0.05)
    assert worse == {"holding": 2, "total": 3, "which": [0, 2]}
    assert count_holding(results, rule=lambda r: r["difference"] < 0)["holding"] == 3
    assert count_holding(results, rule=lambda r: r["difference"] > 0) == {"holding": 0, "total": 3, "which": []}
    assert count_holding([{"x": 1}], rule=lambda r: np.bool_(r["x"] > 0))["holding"] == 1  # numpy bools are bools


@pytest.mark.parametrize(
    "results, rule, match",
    [
        ([], lambda r: True, "empty"),
        ([{"difference": 0.1}], "difference < 0", "callable"),
        ([{"difference": 0.1}], lambda r: r["p_value"] < 0.05, r"per_seed_results\[0\].*p_value"),
        ([{"difference": 0.1}], lambda r: r["difference"], "must return a bool, got 0.1"),
        ([{"difference": 0.1}], lambda r: None, "must return a bool, got None"),
    ],
)
def test_count_holding_bad_input(results, rule, match):
    with pytest.raises(ValueError, match=match):
        count_holding(results, rule=rule)


# --- traces nested in problems ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 40, 263])
def test_clustered_proportion_with_one_row_per_cluster_is_wilson(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n} - {-1}):
        successes = [True] * k + [False] * (n - k)
        result = clustered_proportion_ci(successes, list(range(n)))
        assert (result["low"], result["high"]) == pytest.approx(wilson_interval(k, n), rel=1e-12, abs=1e-15)
        assert result["deff"] == pytest.approx(1.0) and result["clusters"] == n


def test_clustered_proportion_with_perfectly_correlated_traces():
    # 30 problems x 4 traces, 12 problems all right, 18 all wrong (p = 0.4): the cluster variance is
    # p (1 - p) / (K - 1), so deff = (n - 1) / (K - 1) = 119 / 29 and n_eff = 120 * 29 / 119
    successes = np.repeat([True] * 12 + [False] * 18, 4)
    clusters = np.repeat(np.arange(30), 4)
    result = clustered_proportion_ci(successes, clusters)
    assert result["deff"] == pytest.approx(119 / 29)
    n_eff = 120 * 29 / 119
    assert result["n_eff"] == pytest.approx(n_eff)
    assert (result["low"], result["high"]) == pytest.approx(wilson_interval(0.4 * n_eff, n_eff), rel=1e-12)
    naive = wilson_interval(48, 120)
    assert result["low"] < naive[0] and result["high"] > naive[1]


def test_clustered_proportion_never_narrower_than_naive():
    # every problem has exactly 2 of its 4 traces right: no between-problem spread, deff 0 -> 1
    successes = np.tile([True, True, False, False], 25)
    result = clustered_proportion_ci(successes, np.repeat(np.arange(25), 4))
    assert result["deff"] == 1.0
    assert (result["low"], result["high"]) == pytest.approx(wilson_interval(50, 100), rel=1e-12)


def test_clustered_proportion_when_correlation_cannot_be_estimated():
    # all wrong: one observation per problem (n_eff = K); one cluster: n_eff = 1
    all_wrong = clustered_proportion_ci([False] * 40, np.repeat(np.arange(10), 4))
    assert (all_wrong["n_eff"], all_wrong["low"]) == (10.0, 0.0)
    assert all_wrong["high"] == pytest.approx(wilson_interval(0, 10)[1], rel=1e-12)
    one = clustered_proportion_ci([True, False, True], ["p1"] * 3)
    assert one["n_eff"] == 1.0 and one["clusters"] == 1


def test_each_cluster_once_is_wilson_at_the_number_of_clusters():
    # Table D's records: 15 of 96 traces right on 24 problems -> Wilson(3.75, 24) = 0.0607-0.347 (not the traces' 0.097-0.242)
    assert each_cluster_once_ci(15 / 96, 24) == pytest.approx(wilson_interval(3.75, 24), rel=1e-12)
    assert each_cluster_once_ci(15 / 96, 24) == pytest.approx((0.06072, 0.34665), abs=1e-5)
    # the worst case of clustered_proportion_ci (every trace of a problem alike: n_eff 120 x 29 / 119 = 29.2, its
    # small-sample factor aside), from the fraction and the number of problems alone
    assert each_cluster_once_ci(0.4, 30) == pytest.approx(wilson_interval(12, 30), rel=1e-12)
    for bad, match in (((0.5, 0), "n_clusters must be an integer >= 1, got 0"), ((0.5, 2.5), "got 2.5"), ((1.2, 4), "fraction must be in")):
        with pytest.raises(ValueError, match=match):
            each_cluster_once_ci(*bad)


def test_clustered_proportion_coverage_by_simulation():
    # 2,000 samples of 100 problems x 4 traces; each problem's rate ~ Beta(0.6, 1.4): mean 0.3,
    # within-problem correlation 1 / (0.6 + 1.4 + 1) = 1/3 (design effect 2)
    rng = np.random.default_rng(7)
    clusters = np.repeat(np.arange(100), 4)
    covered, naive_covered = 0, 0
    for _ in range(2000):
        successes = rng.random(400) < np.repeat(rng.beta(0.6, 1.4, 100), 4)
        result = clustered_proportion_ci(successes, clusters)
        covered += result["low"] <= 0.3 <= result["high"]
        low, high = wilson_interval(int(successes.sum()), 400)
        naive_covered += low <= 0.3 <= high
    assert 0.93 <= covered / 2000 <= 0.97
    assert naive_covered / 2000 < 0.88


@pytest.mark.parametrize(
    "successes, clusters, kwargs, match",
    [
        ([True, False], [0], {}, "one label per row"),
        ([True, 2], [0, 1], {}, r"successes .*\[2\]"),
        ([], [], {}, "non-empty"),
        ([True, False], [0, 1], {"level": 0.0}, "level"),
    ],
)
def test_clustered_proportion_bad_input(successes, clusters, kwargs, match):
    with pytest.raises(ValueError, match=match):
        clustered_proportion_ci(successes, clusters, **kwargs)


def test_cluster_bootstrap_with_one_row_per_cluster_is_the_row_bootstrap():
    values = np.random.default_rng(3).normal(size=50)
    assert cluster_bootstrap_ci(values, np.arange(50), n_boot=300, seed=4) == bootstrap_ci(np.mean, values, n_boot=300, seed=4)


def test_cluster_bootstrap_of_identical_traces_is_the_bootstrap_of_problems():
    per_problem = np.random.default_rng(8).random(40)
    values, clusters = np.repeat(per_problem, 3), np.repeat(np.arange(40), 3)
    low, high = cluster_bootstrap_ci(values, clusters, n_boot=400, seed=2)
    assert (low, high) == pytest.approx(bootstrap_ci(np.mean, per_problem, n_boot=400, seed=2), rel=1e-12)
    row_low, row_high = bootstrap_ci(np.mean, values, n_boot=400, seed=2)
    assert high - low > 1.4 * (row_high - row_low)  # about sqrt(3) wider than treating traces as problems


def test_cluster_bootstrap_agrees_with_the_closed_form_and_ignores_row_order():
    rng = np.random.default_rng(12)
    clusters = np.repeat(np.arange(300), rng.integers(1, 6, 300))
    successes = rng.random(clusters.size) < rng.beta(1, 1.5, 300)[clusters]
    boot = cluster_bootstrap_ci(successes, clusters, n_boot=2000, seed=0)
    closed = clustered_proportion_ci(successes, clusters)
    assert boot == pytest.approx((closed["low"], closed["high"]), abs=0.01)
    order = rng.permutation(clusters.size)
    assert cluster_bootstrap_ci(successes[order], clusters[order], n_boot=2000, seed=0) == pytest.approx(boot, abs=1e-12)


def test_cluster_bootstrap_other_statistics_and_determinism():
    values, clusters = [1.0, 2.0, 2.0, 9.0, 3.0], ["a", "a", "b", "c", "c"]
    first = cluster_bootstrap_ci(values, clusters, np.median, n_boot=200, seed=1)
    assert first == cluster_bootstrap_ci(values, clusters, np.median, n_boot=200, seed=1)
    assert 1.0 <= first[0] <= first[1] <= 9.0
    assert cluster_bootstrap_ci([0.5] * 6, [0, 0, 1, 1, 2, 2], n_boot=50) == (0.5, 0.5)


@pytest.mark.parametrize(
    "values, clusters, kwargs, match",
    [([1.0, 2.0], [0, 1], {"n_boot": 0}, "n_boot"), ([1.0, 2.0], [0, 1], {"level": 2}, "level"), ([1.0, 2.0], [0], {}, "one label per row"), ([[1.0]], [[0]], {}, "1-D")],
)
def test_cluster_bootstrap_bad_input(values, clusters, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cluster_bootstrap_ci(values, clusters, **kwargs)


# --- seeds x problems ------------------------------------------------------------------------------


def test_two_level_bootstrap_width_matches_its_variance_formula():
    # additive matrix: seed effects, problem effects, residual. The bootstrap variance of the grand mean
    # is sum a_i^2 / S^2 + sum b_j^2 / P^2 + sum e_ij^2 / (S P)^2 with a, b, e the observed effects.
    rng = np.random.default_rng(21)
    seeds, problems = 8, 400
    m = 0.6 + rng.normal(0, 0.05, (seeds, 1)) + rng.normal(0, 0.3, (1, problems)) + rng.normal(0, 0.4, (seeds, problems))
    a = m.mean(axis=1) - m.mean()
    b = m.mean(axis=0) - m.mean()
    e = m - m.mean(axis=1, keepdims=True) - m.mean(axis=0, keepdims=True) + m.mean()
    variance = (a**2).sum() / seeds**2 + (b**2).sum() / problems**2 + (e**2).sum() / (seeds * problems) ** 2
    low, high = two_level_bootstrap_ci(m, n_boot=4000, seed=1)
    assert high - low == pytest.approx(2 * Z * math.sqrt(variance), rel=0.08)
    assert low < m.mean() < high


def test_two_level_bootstrap_widens_when_seeds_disagree():
    rng = np.random.default_rng(4)
    correct = rng.random((5, 300)) < 0.6
    shifted = correct | (rng.random((5, 300)) < np.array([0.0, 0.0, 0.1, 0.2, 0.3])[:, None])
    pooled_only = bootstrap_ci(np.mean, shifted.mean(axis=0), n_boot=1000, seed=0)  # problems resampled only
    low, high = two_level_bootstrap_ci(shifted, n_boot=1000, seed=0)
    assert high - low > 1.5 * (pooled_only[1] - pooled_only[0])


def test_two_level_bootstrap_limits_and_determinism():
    assert two_level_bootstrap_ci(np.full((3, 10), 0.25), n_boot=50) == (0.25, 0.25)
    m = np.random.default_rng(0).random((4, 30))
    assert two_level_bootstrap_ci(m, n_boot=100, seed=3) == two_level_bootstrap_ci(m, n_boot=100, seed=3)
    # one seed: only problems are resampled, the ordinary bootstrap of that row up to resampling noise
    row = m[:1]
    assert two_level_bootstrap_ci(row, n_boot=3000, seed=5) == pytest.approx(bootstrap_ci(np.mean, row[0], n_boot=3000, seed=6), abs=0.02)
    # a paired difference: pass correct_this - correct_reference
    ref, this = np.ones((2, 20)), np.zeros((2, 20))
    assert two_level_bootstrap_ci(this - ref, n_boot=20) == (-1.0, -1.0)


@pytest.mark.parametrize(
    "matrix, kwargs, match",
    [([1.0, 2.0], {}, r"2-D \[seeds, problems\]"), (np.zeros((0, 3)), {}, "non-empty"), ([[1.0, np.nan]], {}, "NaN"), ([[1.0]], {"n_boot": -1}, "n_boot"), ([[1.0]], {"level": 1}, "level")],
)
def test_two_level_bootstrap_bad_input(matrix, kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_level_bootstrap_ci(matrix, **kwargs)
