"""Random-effects pooling, Student's t, Holm, power and DeLong's paired AUROC test against textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mdlm_study.core.pooling import (
    holm,
    paired_auroc_difference,
    random_effects,
    smallest_detectable,
    t_quantile,
    t_sf,
)
from mdlm_study.core.stats import auroc

# Colditz et al. (1994) BCG vaccine trials: (vaccinated TB+, TB-, control TB+, TB-), as printed in
# van Houwelingen, Arends & Stijnen (2002), Table I; the log risk ratio and its variance per trial.
BCG = [(4, 119, 11, 128), (6, 300, 29, 274), (3, 228, 11, 209), (62, 13536, 248, 12619), (33, 5036, 47, 5761),
       (180, 1361, 372, 1079), (8, 2537, 10, 619), (505, 87886, 499, 87892), (29, 7470, 45, 7232), (17, 1699, 65, 1600),
       (186, 50448, 141, 27197), (5, 2493, 3, 2338), (27, 16886, 29, 17825)]


def _bcg():
    y = [math.log((a / (a + b)) / (c / (c + d))) for a, b, c, d in BCG]
    v = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d in BCG]
    return y, v


def test_t_quantiles_match_the_printed_tables():
    # two-sided 95% critical values of Student's t (any statistics table)
    for df, value in ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (12, 2.179), (30, 2.042)):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=5e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-t_quantile(0.975, 4))
    assert t_sf(0.0, 7) == pytest.approx(0.5)
    assert t_sf(1.0, 1) == pytest.approx(0.25)  # Cauchy: P(T > 1) = 1/4
    assert t_sf(math.sqrt(2), 2) == pytest.approx(0.5 * (1 - 1 / math.sqrt(2)))  # df 2: (1 - t / sqrt(t^2 + 2)) / 2


def test_t_rejects_bad_degrees_of_freedom():
    with pytest.raises(ValueError, match="df"):
        t_quantile(0.975, 0)
    with pytest.raises(ValueError, match="probability"):
        t_quantile(1.0, 3)


def test_dersimonian_laird_on_the_bcg_trials_matches_the_published_fit():
    # metafor's rma(yi, vi, method = "DL") on dat.bcg (log risk ratios): tau^2 0.3088, estimate -0.7141,
    # Q(df = 12) = 152.2330; the fixed-effect fit -0.4303 (-0.5097 to -0.3509)
    y, v = _bcg()
    r = random_effects(y, v)
    assert r["tau2"] == pytest.approx(0.3088, abs=5e-5)
    assert r["estimate"] == pytest.approx(-0.7141, abs=5e-5)
    assert r["q"] == pytest.approx(152.2330, abs=5e-4)
    assert r["df"] == 12
    assert r["i2"] == pytest.approx((152.2330 - 12) / 152.2330, abs=1e-5)
    assert (r["fixed"], r["fixed_low"], r["fixed_high"]) == pytest.approx((-0.4303, -0.5097, -0.3509), abs=5e-5)


def test_hartung_knapp_interval_and_prediction_interval_by_hand():
    # y = 0, 2, 4 with variance 1 each: Q = 8, tau^2 = (8 - 2) / (3 - 1) = 3, w* = 1/4, estimate 2,
    # q* = (1/4)(4 + 0 + 4) / 2 = 1, se^2 = 1 / (3/4) = 4/3; I^2 = 6/8; interval 2 +- t_2 sqrt(4/3);
    # prediction 2 +- t_1 sqrt(3 + 4/3)
    r = random_effects([0.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    assert (r["q"], r["tau2"], r["estimate"], r["i2"]) == pytest.approx((8.0, 3.0, 2.0, 0.75))
    assert r["se"] == pytest.approx(math.sqrt(4 / 3))
    assert (r["low"], r["high"]) == pytest.approx((2 - 4.302652729749 * math.sqrt(4 / 3), 2 + 4.302652729749 * math.sqrt(4 / 3)))
    half = 12.706204736174 * math.sqrt(3 + 4 / 3)
    assert (r["prediction_low"], r["prediction_high"]) == pytest.approx((2 - half, 2 + half))


def test_knapp_hartung_floor_keeps_agreeing_seeds_from_a_narrower_interval():
    # seeds that agree far better than their noise: q* < 1, so se falls back to the DerSimonian-Laird one
    r = random_effects([0.010, 0.011, 0.010, 0.011, 0.0105], [1e-4] * 5)
    assert r["tau2"] == 0.0
    assert r["se"] == pytest.approx(math.sqrt(1e-4 / 5))
    assert r["high"] - r["low"] > r["fixed_high"] - r["fixed_low"]


def test_random_effects_widens_when_seeds_disagree():
    # the fixed k = 2 loss per seed (points), each with a ~0.6-point standard error
    y = [-0.009, 0.002, -0.005, -0.085, -0.092]
    r = random_effects(y, [0.006**2] * 5)
    assert r["i2"] > 0.9
    assert r["low"] < r["fixed_low"] and r["high"] > r["fixed_high"]
    assert r["low"] < 0 < r["high"]  # with the seed as the unit, no loss is not excluded
    assert r["prediction_low"] < r["low"] and r["prediction_high"] > r["high"]


def test_random_effects_rejects_bad_input():
    with pytest.raises(ValueError, match="variances"):
        random_effects([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="length"):
        random_effects([0.1], [0.01])


def test_holm_matches_the_step_down_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="p_values"):
        holm([0.1, 1.2])


def test_smallest_detectable_effect_is_the_textbook_2_8_standard_errors():
    assert smallest_detectable(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-6)
    assert smallest_detectable(0.5, critical=2.776) == pytest.approx(0.5 * (2.776 + 0.841621), abs=1e-6)


def _delong_by_loops(p1, n1, p2, n2):
    def psi(x, y):
        return 1.0 if x > y else 0.5 if x == y else 0.0
    m, n = len(p1), len(n1)
    v10 = np.array([[sum(psi(p[i], q[j]) for j in range(n)) / n for i in range(m)] for p, q in ((p1, n1), (p2, n2))])
    v01 = np.array([[sum(psi(p[i], q[j]) for i in range(m)) / m for j in range(n)] for p, q in ((p1, n1), (p2, n2))])
    s10, s01 = np.cov(v10), np.cov(v01)
    return (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n


def test_delong_paired_auroc_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    pos1, neg1 = rng.normal(1, 1, 30).round(1), rng.normal(0, 1, 25).round(1)  # rounded: ties happen
    pos2, neg2 = (pos1 + rng.normal(0, 0.7, 30)).round(1), (neg1 + rng.normal(0, 0.7, 25)).round(1)
    r = paired_auroc_difference(pos1, neg1, pos2, neg2)
    assert r["first"] == pytest.approx(auroc(pos1, neg1)) and r["second"] == pytest.approx(auroc(pos2, neg2))
    assert r["se"] ** 2 == pytest.approx(_delong_by_loops(pos1, neg1, pos2, neg2))
    assert r["p_value"] == pytest.approx(math.erfc(abs(r["difference"]) / r["se"] / math.sqrt(2)))


def test_delong_of_a_score_with_itself_is_no_difference():
    r = paired_auroc_difference([0.9, 0.8, 0.3], [0.1, 0.4, 0.2], [0.9, 0.8, 0.3], [0.1, 0.4, 0.2])
    assert r["difference"] == 0 and r["p_value"] == 1.0
    with pytest.raises(ValueError, match="same traces"):
        paired_auroc_difference([0.9, 0.8], [0.1, 0.2], [0.9, 0.8, 0.7], [0.1, 0.2])
