"""Each verdict word at its boundaries, on hand-built intervals; the intervals on hand-checked counts."""

import math

import pytest

from mdlm_study import stats
from mdlm_study import verdicts as v


def iv(estimate, low, high, level=0.95):
    return v.Interval(estimate, low, high, "hand-built", level)


@pytest.mark.parametrize(("low", "high", "word"), [
    (0.10, 0.35, v.NOT_REPRODUCED),   # just below the range
    (0.10, 0.36, v.REPRODUCED),       # touching its lower end
    (0.43, 0.50, v.REPRODUCED),       # touching its upper end
    (0.431, 0.50, v.NOT_REPRODUCED),  # just above
    (0.30, 0.50, v.REPRODUCED),       # covering it
])
def test_against_value_is_reproduced_exactly_when_the_intervals_overlap(low, high, word):
    assert v.against_value(iv((low + high) / 2, low, high), 0.36, 0.43).word == word


@pytest.mark.parametrize(("estimate", "low", "high", "word"), [
    (-0.10, -0.15, -0.05, v.REPRODUCED),       # ratio 0.33-1.0: holds 1
    (-0.10, -0.14, -0.05, v.SMALLER),          # ratio 0.33-0.93: between 0 and 1
    (-0.20, -0.25, -0.151, v.LARGER),          # ratio 1.007-1.67: above 1
    (-0.05, -0.16, 0.01, v.INCONCLUSIVE),      # holds both 0 and 1
    (-0.05, -0.14, 0.0, v.NOT_REPRODUCED),     # holds 0, excludes 1 (paper's size excluded)
    (0.05, 0.01, 0.09, v.NOT_REPRODUCED),      # the opposite direction
])
def test_against_effect_reads_the_ratio_interval(estimate, low, high, word):
    assert v.against_effect(iv(estimate, low, high), -0.15).word == word


def test_against_effect_of_a_positive_paper_effect_and_its_reason():
    verdict = v.against_effect(iv(0.38, 0.31, 0.44), 0.115)
    assert verdict.word == v.LARGER and "ratio to the paper's +11.5 points: 3.30" in verdict.reason


@pytest.mark.parametrize(("ci95", "ci90", "denied", "word"), [
    ((-0.02, 0.012), (-0.009, 0.009), -1, v.EQUIVALENT),      # 90% inside +-1 point
    ((-0.02, 0.012), (-0.010, 0.009), -1, v.INCONCLUSIVE),    # touching the margin is not inside
    ((-0.03, -0.001), (-0.025, -0.005), -1, v.NOT_REPRODUCED),  # a loss beyond the noise
    ((0.001, 0.03), (0.005, 0.025), -1, v.REPRODUCED),        # better beyond the noise
    ((0.001, 0.03), (0.005, 0.025), +1, v.NOT_REPRODUCED),    # "does not beat", but it does
    ((-0.03, -0.001), (-0.025, -0.005), +1, v.REPRODUCED),    # "does not beat", and is worse
    ((-0.005, 0.008), (-0.004, 0.007), +1, v.EQUIVALENT),
])
def test_no_loss_and_its_tost_margin(ci95, ci90, denied, word):
    est = (ci95[0] + ci95[1]) / 2
    assert v.no_loss(iv(est, *ci95), iv(est, *ci90, level=0.9), denied=denied).word == word


def test_no_loss_agrees_with_the_stats_tost_on_paired_counts():
    """The equivalence verdict on recorded counts is stats.paired_equivalence's decision."""
    for n, only_ref, only_this in ((300, 1, 0), (300, 0, 0), (1500, 3, 5), (1500, 2, 7), (300, 10, 9)):
        ref = [True] * only_ref + [False] * only_this + [True] * (n - only_ref - only_this)
        this = [False] * only_ref + [True] * only_this + [True] * (n - only_ref - only_this)
        tost = stats.paired_equivalence(ref, this, margin=v.MARGIN)
        verdict = v.no_loss(v.paired_difference(n, only_ref, only_this), v.paired_difference(n, only_ref, only_this, level=v.TOST_LEVEL))
        assert (verdict.word == v.EQUIVALENT) == tost["equivalent"], (n, only_ref, only_this)
    with pytest.raises(ValueError, match="denied must be -1 or \\+1, got 0"):
        v.no_loss(iv(0, -1, 1), iv(0, -1, 1), denied=0)


@pytest.mark.parametrize(("ours", "word"), [
    ((0.60, 0.50, 0.70), v.NOT_REPRODUCED),   # low at chance: does not exceed it
    ((0.60, 0.51, 0.69), v.NOT_REPRODUCED),   # above chance, below the baseline's interval
    ((0.75, 0.70, 0.80), v.INCONCLUSIVE),     # touching the baseline's lower end
    ((0.90, 0.851, 0.95), v.REPRODUCED),      # above the baseline's interval
    ((0.90, 0.85, 0.95), v.INCONCLUSIVE),     # touching its upper end
])
def test_against_baseline(ours, word):
    assert v.against_baseline(iv(*ours), chance=0.5, baseline=iv(0.77, 0.70, 0.85)).word == word


@pytest.mark.parametrize(("interval", "sign", "word"), [
    ((0.01, 0.001, 0.02), 1, v.REPRODUCED), ((0.01, 0.0, 0.02), 1, v.INCONCLUSIVE),
    ((-0.01, -0.02, -0.001), 1, v.NOT_REPRODUCED), ((-0.01, -0.02, -0.001), -1, v.REPRODUCED),
])
def test_direction(interval, sign, word):
    assert v.direction(iv(*interval), sign=sign).word == word


@pytest.mark.parametrize(("interval", "speedup", "word", "says"), [
    ((0.0, -0.008, 0.008), 3.6, v.REPRODUCED, "non-inferior at a 1-point margin"),
    ((0.0, -0.008, 0.008), 3.4, v.NOT_REPRODUCED, "short of the 3.5x target"),  # accurate, but not fast enough
    ((-0.03, -0.04, -0.02), 9.0, v.NOT_REPRODUCED, "a loss beyond 1 point"),
    ((-0.005, -0.015, 0.005), 4.0, v.INCONCLUSIVE, "neither excluded nor shown"),
    ((0.02, 0.005, 0.035), 3.5, v.REPRODUCED, "3.50x fewer NFE"),  # exactly the target counts
])
def test_faster_within_needs_the_speed_and_a_bounded_loss(interval, speedup, word, says):
    verdict = v.faster_within(iv(*interval), speedup, min_speedup=3.5, margin=0.01)
    assert verdict.word == word and says in verdict.reason


def test_worst_takes_the_least_favourable_part():
    parts = [v.Verdict(v.SMALLER, "a"), v.Verdict(v.REPRODUCED, "b")]
    assert v.worst(*parts).word == v.SMALLER
    assert v.worst(*parts, v.Verdict(v.INCONCLUSIVE, "c")).word == v.INCONCLUSIVE
    assert v.worst(v.Verdict(v.LARGER, "x"), v.Verdict(v.NOT_REPRODUCED, "y"), labels=["k = 2", "k = 4"]).reason == \
        "k = 2: larger effect, x; k = 4: not reproduced, y"
    with pytest.raises(ValueError):
        v.worst()


def test_counts_from_p_value_inverts_the_exact_mcnemar_test():
    assert v.counts_from_p_value(300, -12 / 300, stats._mcnemar_p(22, 10)) == (22, 10)
    assert v.counts_from_p_value(1500, 2 / 1500, stats._mcnemar_p(3, 5)) == (3, 5)
    assert v.counts_from_p_value(300, -1 / 300, 1.0) is None  # one problem apart: p = 1 for every count
    assert v.counts_from_p_value(300, -12 / 300, 0.123456) is None


def test_recorded_difference_is_paired_when_the_counts_are_known_else_unpaired():
    paired = v.recorded_difference(300, 0.92, 0.88, stats._mcnemar_p(22, 10))
    assert paired.method.startswith("paired") and paired.estimate == pytest.approx(-0.04)
    unpaired = v.recorded_difference(300, 0.92, 0.88)
    assert unpaired.method.startswith("unpaired") and unpaired.high - unpaired.low > paired.high - paired.low


def test_unpaired_difference_is_newcombes_hybrid_score_interval():
    """Newcombe (1998), Table II, example (a): 56/70 - 48/80 = 0.2, 95% interval 0.0524 to 0.3339."""
    d = v.unpaired_difference(48 / 80, 80, 56 / 70, 70)
    assert (d.estimate, d.low, d.high) == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-4)


def test_seeded_difference_adds_the_seed_spread():
    one = v.seeded_difference([0.5], [0.6], 100)
    assert one.high - one.estimate == pytest.approx(1.959964 * math.sqrt(0.25 / 100 + 0.24 / 100), rel=1e-5)
    spread = v.seeded_difference([0.5], [0.5, 0.6, 0.7], 100)
    assert spread.estimate == pytest.approx(0.1) and spread.high - spread.low > one.high - one.low
    with pytest.raises(ValueError):
        v.seeded_difference([], [0.5], 100)


def test_wilson_rejects_an_empty_sample():
    assert v.wilson(0.5, 24).low == pytest.approx(stats.wilson_interval(12, 24)[0])
    with pytest.raises(ValueError, match="n must be > 0, got 0"):
        v.wilson(0.5, 0)


def test_every_verdict_word_has_one_definition():
    assert set(v.DEFINITIONS) == set(v.VERDICTS) and set(v.HOLDING) < set(v.VERDICTS)
    assert all(len(text) > 40 for text in v.DEFINITIONS.values())
