"""The trace claims across training seeds (mdlm_study.experiments.trace_seeds): one seed's measures on a tiny
model, the pooling with the seed as the unit against a hand computation, and the claims table reading the
pooled measure as the verdict of record."""

import math

import pytest
from test_summary import step_scoring, summaries

from mdlm_study.core import verdicts as v
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments import trace_seeds
from mdlm_study.reporting.study import Study
from mdlm_study.reporting.summary import claims_table


def entry(estimate, low, high, units, **extra):
    return {"estimate": estimate, "low": low, "high": high, "units": units, **extra}


def state(seed, table_d=0.2, gain=0.03, auroc=0.95, loc=0.6, failed=100, n=600):
    z = v.stats._z(v.LEVEL)
    return {"seed": seed, "model": f"default_seed{seed}", "traces": {
        "free_accuracy": 0.8, "n_problems": n, "n_samples": 4,
        "table_d": entry(table_d, table_d - z * 0.04, table_d + z * 0.04, failed, n_traces=4 * failed),
        "filtering_gain": entry(gain, gain - z * 0.02, gain + z * 0.02, n, overall=0.4, kept=0.4 + gain, keep=0.5),
        "auroc": entry(auroc, auroc - z * 0.01, auroc + z * 0.01, n),
        "localisation": entry(loc, loc - z * 0.02, loc + z * 0.02, n, chance=1 / 3),
        "leftmost": entry(0.2, 0.2 - z * 0.02, 0.2 + z * 0.02, n, mean_distance=8.0)}}


def test_one_seeds_measures_on_a_tiny_model_are_seeded_and_complete(tiny_model, tokenizer, problems):
    subset = [p for p in problems if len(p.ops) >= 2][:12]
    first = trace_seeds.measure_trace_seed(tiny_model, tokenizer, subset, ARITHMETIC_TEMPLATE, seed=3, n_samples=2, n_scored=6, batch_size=5)
    again = trace_seeds.measure_trace_seed(tiny_model, tokenizer, subset, ARITHMETIC_TEMPLATE, seed=3, n_samples=2, n_scored=6, batch_size=64)
    assert first == again  # the same seed, bit for bit, whatever the batch size
    assert set(first) == {"free_accuracy", "n_problems", "n_samples", *trace_seeds.MEASURES}
    failed = round((1 - first["free_accuracy"]) * 12)
    assert first["table_d"]["units"] == failed and first["table_d"]["n_traces"] == 2 * failed
    assert first["auroc"]["units"] == first["localisation"]["units"] == 6 and first["leftmost"]["units"] == 12
    assert 0 <= first["leftmost"]["estimate"] <= 1 and first["leftmost"]["mean_distance"] >= 0
    for measure in trace_seeds.MEASURES:
        e = first[measure]
        assert e["low"] <= e["estimate"] <= e["high"] or (measure == "table_d" and failed == 0)
    with pytest.raises(ValueError, match="n_samples and n_scored must be >= 1, got 0 and 6"):
        trace_seeds.measure_trace_seed(tiny_model, tokenizer, subset, ARITHMETIC_TEMPLATE, seed=3, n_samples=0, n_scored=6)


def test_pooling_weights_each_seed_by_its_own_interval():
    """Seeds that agree pool to their common value with Hartung-Knapp's floor (se^2 = 1 / sum w); seeds that
    disagree widen the interval and give a prediction interval wider still."""
    agree = [state(s)["traces"]["table_d"] for s in range(5)]
    iv, r = trace_seeds.pool_over_seeds(agree)
    se = math.sqrt(1 / (5 / 0.04**2))
    assert iv.estimate == pytest.approx(0.2) and r["i2"] == 0 and r["tau2"] == 0
    assert iv.high - iv.estimate == pytest.approx(r["critical"] * se) and r["critical"] == pytest.approx(2.776, abs=1e-3)
    spread = [state(s, table_d=x)["traces"]["table_d"] for s, x in enumerate((0.05, 0.15, 0.2, 0.25, 0.4))]
    wide, r2 = trace_seeds.pool_over_seeds(spread)
    assert wide.estimate == pytest.approx(0.21) and r2["i2"] > 0.5
    assert wide.high - wide.low > iv.high - iv.low and r2["prediction_high"] - r2["prediction_low"] > wide.high - wide.low
    one, _ = trace_seeds.pool_over_seeds(agree[:1])
    assert (one.low, one.high) == (agree[0]["low"], agree[0]["high"])
    with pytest.raises(ValueError, match="at least one seed"):
        trace_seeds.pool_over_seeds([])


def test_a_degenerate_interval_gets_half_a_unit_of_binomial_variance():
    iv, r = trace_seeds.pool_over_seeds([entry(1.0, 1.0, 1.0, 100), entry(1.0, 1.0, 1.0, 100)])
    p = 100.5 / 101
    assert iv.estimate == 1.0 and r["fixed"] == 1.0 and (r["fixed_high"] - 1.0) == pytest.approx(1.959964 * math.sqrt(p * (1 - p) / 101 / 2), rel=1e-4)


def test_the_claims_table_takes_the_pooled_trace_measures_as_the_verdict_of_record():
    records = {f"traces seed {s}": state(s) for s in range(5)}
    alone = claims_table(Study(summaries(), {"06_step_scoring": step_scoring()})).set_index("claim")
    pooled = claims_table(Study(summaries(), {"06_step_scoring": step_scoring()}, records)).set_index("claim")
    table_d = "Posterior traces are often correct where free decoding failed (Table D)"
    assert alone.loc[table_d, "evidence"] == "this notebook's run"
    assert pooled.loc[table_d, "evidence"] == "5 training seeds × 600 problems, pooled (random effects)"
    assert "0.200 [0.150, 0.250] of 2000 traces fully correct (500 failed problems)" in pooled.loc[table_d, "ours"]
    assert pooled.loc[table_d, "verdict"] == v.SMALLER  # 0.20 ± 0.05 lies below the paper's 0.36-0.43
    assert "this run alone" in pooled.loc[table_d, "run"] and "seed 4: 0.200" in pooled.loc[table_d, "seeds"]
    auroc = pooled.loc["Step scoring tells correct from flawed traces"]
    assert auroc["verdict"] == v.REPRODUCED and "on 3000 gold and 3000 corrupted traces" in auroc["ours"]
    loc = pooled.loc["Step scores locate the first wrong step"]
    assert loc["verdict"] == v.REPRODUCED and "3000 corrupted traces" in loc["ours"]
    assert pooled.loc["Log-probability filtering improves posterior traces (appendix)", "evidence"].startswith("5 training seeds")
    leftmost = pooled.loc["Any-order rules mostly commit the leftmost mask (the paper's analysis)"]
    assert leftmost["verdict"] == v.SMALLER and leftmost["ours"].startswith("20.0% [") and "mean distance 8.00 tokens" in leftmost["ours"]
