"""Each verdict word at its boundaries, on hand-built intervals; the intervals on hand-checked counts."""

import math

import pytest

from mdlm_study.core import stats
from mdlm_study.core import verdicts as v


def iv(estimate, low, high, level=0.95):
    return v.Interval(estimate, low, high, "hand-built", level)


@pytest.mark.parametrize(("low", "high", "word"), [
    (0.10, 0.35, v.SMALLER),          # just below the range
    (0.10, 0.36, v.REPRODUCED),       # touching its lower end
    (0.43, 0.50, v.REPRODUCED),       # touching its upper end
    (0.431, 0.50, v.LARGER),          # just above
    (0.30, 0.50, v.REPRODUCED),       # covering it
])
def test_against_value_is_reproduced_exactly_when_the_intervals_overlap_else_smaller_or_larger(low, high, word):
    assert v.against_value(iv((low + high) / 2, low, high), 0.36, 0.43).word == word


@pytest.mark.parametrize(("estimate", "low", "high", "word"), [
    (-0.10, -0.15, -0.05, v.REPRODUCED),       # ratio 0.33-1.0: holds 1
    (-0.10, -0.14, -0.05, v.SMALLER),          # ratio 0.33-0.93: between 0 and 1
    (-0.20, -0.25, -0.151, v.LARGER),          # ratio 1.007-1.67: above 1
    (-0.05, -0.16, 0.01, v.INCONCLUSIVE),      # holds both 0 and 1
    (-0.05, -0.14, 0.0, v.NOT_DETECTED),       # holds 0, excludes 1 (paper's size excluded)
    (0.05, 0.01, 0.09, v.OPPOSITE),            # the opposite direction
])
def test_against_effect_reads_the_ratio_interval(estimate, low, high, word):
    assert v.against_effect(iv(estimate, low, high), -0.15).word == word


def test_against_effect_of_a_positive_paper_effect_and_its_reason():
    verdict = v.against_effect(iv(0.38, 0.31, 0.44), 0.115)
    assert verdict.word == v.LARGER and "ratio to the paper's +11.5 points: 3.30" in verdict.reason


@pytest.mark.parametrize(("ci95", "ci90", "denied", "word"), [
    ((-0.02, 0.012), (-0.009, 0.009), -1, v.REPRODUCED),      # 90% inside +-1 point
    ((-0.02, 0.012), (-0.010, 0.009), -1, v.INCONCLUSIVE),    # touching the margin is not inside
    ((-0.03, -0.001), (-0.025, -0.005), -1, v.OPPOSITE),      # a loss beyond the noise
    ((0.001, 0.03), (0.005, 0.025), -1, v.LARGER),            # better beyond the noise: more than claimed
    ((0.001, 0.03), (0.005, 0.025), +1, v.OPPOSITE),          # "does not beat", but it does
    ((-0.03, -0.001), (-0.025, -0.005), +1, v.LARGER),        # "does not beat", and is worse
    ((-0.005, 0.008), (-0.004, 0.007), +1, v.REPRODUCED),
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
        assert (verdict.word == v.REPRODUCED) == tost["equivalent"], (n, only_ref, only_this)
    with pytest.raises(ValueError, match="denied must be -1 or \\+1, got 0"):
        v.no_loss(iv(0, -1, 1), iv(0, -1, 1), denied=0)


@pytest.mark.parametrize(("ours", "word"), [
    ((0.60, 0.50, 0.70), v.INCONCLUSIVE),   # low at chance: not separated from it
    ((0.60, 0.51, 0.69), v.REPRODUCED),     # above chance
    ((0.40, 0.30, 0.49), v.OPPOSITE),       # below chance
])
def test_above_chance(ours, word):
    verdict = v.above_chance(iv(*ours), chance=0.5, baseline="the baseline, paired: +0.010")
    assert verdict.word == word and verdict.reason.endswith("the baseline, paired: +0.010")


@pytest.mark.parametrize(("interval", "sign", "word"), [
    ((0.01, 0.001, 0.02), 1, v.REPRODUCED), ((0.01, 0.0, 0.02), 1, v.INCONCLUSIVE),
    ((-0.01, -0.02, -0.001), 1, v.OPPOSITE), ((-0.01, -0.02, -0.001), -1, v.REPRODUCED),
])
def test_direction(interval, sign, word):
    assert v.direction(iv(*interval), sign=sign).word == word


@pytest.mark.parametrize(("interval", "speedup", "word", "says"), [
    ((0.0, -0.008, 0.008), 3.6, v.REPRODUCED, "non-inferior at a 1-point margin"),
    ((0.0, -0.008, 0.008), 3.4, v.SMALLER, "short of the 3.5x target"),  # accurate, but not fast enough
    ((-0.03, -0.04, -0.02), 9.0, v.OPPOSITE, "a loss beyond 1 point"),
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
    assert v.worst(v.Verdict(v.LARGER, "x"), v.Verdict(v.NOT_DETECTED, "y"), labels=["k = 2", "k = 4"]).reason == \
        "k = 2: larger, x; k = 4: not detected, y"
    assert v.worst(v.Verdict(v.NOT_DETECTED, "x"), v.Verdict(v.OPPOSITE, "y")).word == v.OPPOSITE
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


@pytest.mark.parametrize(("speedups", "word"), [
    ([2.7], v.REPRODUCED), ([2.06, 2.0, 2.1, 2.05, 2.12], v.SMALLER), ([4.0, 4.1], v.LARGER), ([1.5, 4.0], v.REPRODUCED),
])
def test_against_speedup_reads_the_paper_as_approximate(speedups, word):
    assert v.against_speedup(v.speedup_interval(speedups), 256 / 94).word == word


def test_speedup_interval_is_a_t_interval_on_the_log_scale():
    r = v.speedup_interval([2.0, 8.0])  # geometric mean 4; t interval with 1 degree of freedom on the logs
    logs = [math.log(2.0), math.log(8.0)]
    sd = abs(logs[1] - logs[0]) / math.sqrt(2)
    half = 12.706204736 * sd / math.sqrt(2)
    assert (r.estimate, r.low, r.high) == pytest.approx((4.0, 4.0 * math.exp(-half), 4.0 * math.exp(half)), rel=1e-6)
    with pytest.raises(ValueError, match="positive"):
        v.speedup_interval([2.0, 0.0])


def test_seed_pooled_difference_is_random_effects_on_the_per_seed_paired_differences():
    from mdlm_study.core.pooling import random_effects
    strata = [(1500, 20, 40), (1500, 10, 12), (1500, 30, 90)]
    interval, r = v.seed_pooled_difference(strata)
    d = [(c - b) / n for n, b, c in strata]
    var = [((b + c) / n - x**2) / n for (n, b, c), x in zip(strata, d, strict=True)]
    expected = random_effects(d, var)
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((expected["estimate"], expected["low"], expected["high"]))
    assert interval.critical == pytest.approx(4.302652729, rel=1e-8) and "I²" in interval.method
    with pytest.raises(ValueError, match="at least 2 seeds"):
        v.seed_pooled_difference(strata[:1])


def test_a_new_seeds_interval_stays_within_the_differences_two_accuracies_can_have():
    """Five seeds 39-72 points apart (the reasoning check's spread): the t prediction interval reaches past +100
    points, and is clipped there, said; the pooled interval itself is untouched."""
    from mdlm_study.core.pooling import random_effects
    strata = [(1500, 5, 1085), (1500, 6, 1038), (1500, 40, 820), (1500, 10, 911), (1500, 60, 650)]
    interval, r = v.seed_pooled_difference(strata)
    d = [(c - b) / n for n, b, c in strata]
    raw = random_effects(d, [((b + c) / n - x**2) / n for (n, b, c), x in zip(strata, d, strict=True)])
    assert raw["prediction_high"] > 1.0 and r["prediction_high"] == 1.0 and r["prediction_clipped"] is True
    assert r["prediction_low"] == pytest.approx(raw["prediction_low"]) and interval.high == pytest.approx(raw["high"]) and interval.high < 1.0
    _, narrow = v.seed_pooled_difference([(1500, 20, 40), (1500, 10, 12), (1500, 30, 90)])
    assert narrow["prediction_clipped"] is False


def test_detectable_is_the_80_percent_power_effect_of_the_interval():
    # a 95% normal interval of half-width 1.96 has se 1: detects 1.96 + 0.84 = 2.80 with 80% power
    assert iv(0.0, -1.959964, 1.959964).detectable() == pytest.approx(2.801585, abs=1e-5)


# Every test states the smallest effect it detects with 80% power, from its own interval: the standard
# error is the half-width over the critical value (1.959964 for 95%, 1.644854 for 90%, t for a t interval)
# and the effect is (critical + 0.841621) se; the numbers below are worked by hand from that.
DETECTS = "smallest effect this test detects with 80% power: "


@pytest.mark.parametrize(("verdict", "word", "stated"), [
    # half-width 0.1: se 0.1 / 1.959964 = 0.051021, effect 2.801585 x 0.051021 = 0.1429 (the interval's units, a fraction)
    (lambda: v.against_value(iv(0.2, 0.1, 0.3), 0.36, 0.43), v.SMALLER, "0.143"),
    (lambda: v.against_value(iv(0.4, 0.3, 0.5), 0.36, 0.43), v.REPRODUCED, "0.143"),
    # half-width 0.05 points: se 0.025510, effect 0.071470 = 7.1 points
    (lambda: v.against_effect(iv(-0.10, -0.15, -0.05), -0.15), v.REPRODUCED, "7.1 points"),
    # AUROC half-width 0.09: se 0.045919, effect 0.12865 (AUROC units)
    (lambda: v.above_chance(iv(0.6, 0.51, 0.69), chance=0.5), v.REPRODUCED, "0.129"),
    (lambda: v.above_chance(iv(0.6, 0.50, 0.70), chance=0.5), v.INCONCLUSIVE, "0.143"),
    # half-width 0.0095: se 0.0048471, effect 0.013579 = 1.4 points, in every branch
    (lambda: v.direction(iv(0.01, 0.001, 0.02)), v.REPRODUCED, "1.4 points"),
    (lambda: v.direction(iv(-0.01, -0.02, -0.001)), v.OPPOSITE, "1.4 points"),
    # half-width 0.01959964: se 0.01, effect 0.028016 = 2.8 points
    (lambda: v.faster_within(iv(0.0, -0.01959964, 0.01959964), 4.0, min_speedup=3.5), v.INCONCLUSIVE, "2.8 points"),
    (lambda: v.faster_within(iv(0.0, -0.01959964, 0.01959964), 3.0, min_speedup=3.5), v.SMALLER, "2.8 points"),
    (lambda: v.no_loss(iv(0.0, -0.01959964, 0.01959964), iv(0.0, -0.01644854, 0.01644854, level=0.9)), v.INCONCLUSIVE, "2.8 points"),
    (lambda: v.no_loss(iv(0.05, 0.03, 0.07), iv(0.05, 0.0332, 0.0668, level=0.9)), v.LARGER, "2.9 points"),  # se 0.0102
])
def test_every_test_states_the_smallest_effect_it_detects(verdict, word, stated):
    result = verdict()
    assert result.word == word and f"{DETECTS}{stated}" in result.reason, result.reason


def test_no_loss_states_the_smallest_margin_its_equivalence_test_shows():
    """90% half-width 0.01644854: se 0.01; equivalence within m with 80% power at no true difference needs
    m = (1.644854 + 1.281552) se = 0.029264, against the 1-point margin."""
    assert iv(0.0, -1.644854, 1.644854, level=0.9).equivalence_margin() == pytest.approx(2.926405, abs=1e-5)
    verdict = v.no_loss(iv(0.0, -0.01959964, 0.01959964), iv(0.0, -0.01644854, 0.01644854, level=0.9))
    assert "(no true difference): ±2.9 points, against ±1" in verdict.reason
    tight = v.no_loss(iv(0.0, -0.0049, 0.0049), iv(0.0, -0.0041, 0.0041, level=0.9))  # se 0.0025: margin 0.0073
    assert tight.word == v.REPRODUCED and "±0.7 points, against ±1" in tight.reason


def test_against_speedup_states_a_factor_from_the_log_scale():
    """Three seeds at 2 e^(-0.1), 2, 2 e^(0.1): logs with sd 0.1, se 0.1 / sqrt(3) = 0.057735, t(0.975, 2) =
    4.302653; the smallest detectable log ratio is (4.302653 + 0.841621) 0.057735 = 0.29700, a factor of 1.346."""
    speedup = v.speedup_interval([2 * math.exp(-0.1), 2.0, 2 * math.exp(0.1)])
    log = v.Interval(math.log(speedup.estimate), math.log(speedup.low), math.log(speedup.high), "", critical=speedup.critical)
    assert log.detectable() == pytest.approx(0.297005, abs=1e-5)
    verdict = v.against_speedup(speedup, 2.0)
    assert verdict.word == v.REPRODUCED and f"{DETECTS}a factor of 1.35" in verdict.reason
    one = v.against_speedup(v.speedup_interval([2.0]), 2.0)
    assert "one seed, taken as exact: no interval, so no smallest detectable effect to state" in one.reason


@pytest.mark.parametrize(("interval", "precision", "word"), [
    ((0.40, 0.30, 0.50), 0.05, v.INCONCLUSIVE),    # overlaps the range, ±0.10 against ±0.05: too wide to tell
    ((0.40, 0.30, 0.50), 0.10, v.REPRODUCED),      # exactly the precision asked for
    ((0.40, 0.37, 0.43), 0.05, v.REPRODUCED),
    ((0.20, 0.06, 0.34), 0.05, v.SMALLER),         # clear of the range: decides whatever its width
    ((0.60, 0.45, 0.75), 0.05, v.LARGER),
])
def test_against_value_with_a_precision(interval, precision, word):
    verdict = v.against_value(iv(*interval), 0.36, 0.43, precision=precision)
    assert verdict.word == word
    if word == v.INCONCLUSIVE:
        assert "too wide to tell (±0.1, the claim needs ±0.05)" in verdict.reason
    with pytest.raises(ValueError, match="precision must be a positive number, got 0"):
        v.against_value(iv(*interval), 0.36, 0.43, precision=0)


def test_a_combined_verdict_names_the_part_that_gave_its_word():
    from mdlm_study.reporting.summary import takeaway

    accuracy, speed = v.Verdict(v.REPRODUCED, "kept"), v.Verdict(v.SMALLER, "2.1x against 2.7x")
    both = v.worst(accuracy, speed, labels=["the accuracy", "the speed-up"])
    assert both.word == v.SMALLER and both.decided_by == "the speed-up"
    assert v.worst(speed, speed, labels=["a", "b"]).decided_by == ""  # every part gave it: nothing to single out
    assert v.worst(speed).decided_by == ""
    assert takeaway("MED keeps accuracy", "the paper's claim", both.word, "5 seeds", both.decided_by) == (
        "MED keeps accuracy: we see the paper's direction, but less of it than the paper reports (for the speed-up; the other parts do better), on 5 seeds.")
