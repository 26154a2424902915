"""Each claim's effect by dependency depth (mdlm_study.experiments.depth_effects): synthetic seed records whose
per-depth differences are known, read back by depth and pooled with the seed as the unit; the figure draws
one panel per claim with both regimes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from mdlm_study.core import verdicts as v
from mdlm_study.experiments import seeds
from mdlm_study.experiments.depth_effects import (
    DEFAULT_SEEDS_DEPTH,
    depth_interval,
    effects_by_depth,
    paired_counts,
)
from mdlm_study.reporting.plots import effects_by_depth as figure

CLAIM = next(c for c in seeds.CHAINS_CLAIMS if c.name == "chains_fixed_k2")  # entropy_k2 against entropy_k1


def _state(seed: int, loss_at: dict[int, int], per_depth: int = 100) -> tuple[dict, list[int]]:
    """A chains seed: ``per_depth`` problems of each depth in ``loss_at``; k = 1 solves all, k = 2 misses
    ``loss_at[depth]`` of them (plus one extra on odd seeds, so the seeds differ)."""
    depths, ref, this = [], [], []
    for depth, lost in loss_at.items():
        lost += seed % 2
        depths += [depth] * per_depth
        ref += [True] * per_depth
        this += [i >= lost for i in range(per_depth)]
    decodings = {"entropy_k1": {"correct": seeds.bits(ref)}, "entropy_k2": {"correct": seeds.bits(this)}}
    return {"seed": seed, "recipe": "chains", "decodings": decodings}, depths


def test_paired_counts_keep_only_the_selected_problems():
    assert paired_counts([1, 1, 0, 0], [1, 0, 1, 0], [True, True, True, False]) == (3, 1, 1)
    with pytest.raises(ValueError, match="one length, got 2, 2 and 3"):
        paired_counts([1, 0], [1, 0], [True] * 3)


def test_each_depth_reads_its_own_problems_and_pools_over_seeds():
    made = [_state(s, {2: 2, 5: 20}) for s in range(5)]
    states, depths = [m[0] for m in made], {m[0]["seed"]: m[1] for m in made}
    table = effects_by_depth(states, [CLAIM], depths, regime="deep")
    assert list(table["depth"]) == [2, 5] and set(table["claim"]) == {"fixed_k2"} and list(table["n"]) == [500, 500]
    shallow, deep = table.iloc[0], table.iloc[1]
    for row, lost in ((shallow, 2), (deep, 20)):  # seeds 0, 2, 4 lose `lost` problems of the depth, seeds 1 and 3 one more
        expected, _ = v.seed_pooled_difference([(100, lost + s % 2, 0) for s in range(5)])
        assert (row["difference"], row["low"], row["high"]) == pytest.approx((expected.estimate, expected.low, expected.high))
        assert -(lost + 1) / 100 <= row["difference"] <= -lost / 100
    assert deep["low"] < deep["difference"] < deep["high"] < 0 and deep["seeds"] == 5
    alone = depth_interval([paired_counts(seeds.unbits(states[0]["decodings"]["entropy_k1"]["correct"]),
                                          seeds.unbits(states[0]["decodings"]["entropy_k2"]["correct"]), [d == 5 for d in depths[0]])])
    assert alone.estimate == pytest.approx(-0.2) and alone.method == v.paired_difference(100, 20, 0).method  # one seed: its own interval
    default = effects_by_depth([{**states[0], "recipe": "default"}], [CLAIM], depths, regime="default")
    assert default.empty  # a claim reads only its own recipe's records
    written = seeds.CLAIM["chains_conclusion_fixed_k2"]
    assert effects_by_depth(states, [written], depths, regime="deep").empty  # no written-conclusion bits: not measured
    with_bits = [{**s, "decodings": {r: {**e, "conclusion": "1" * 200} for r, e in s["decodings"].items()}} for s in states]
    assert (effects_by_depth(with_bits, [written], depths, regime="deep")["difference"] == 0).all()  # read off the conclusion bits
    with pytest.raises(ValueError, match="no seed has a problem of this depth"):
        depth_interval([(0, 0, 0)])


def test_the_default_seeds_study_is_one_depth():
    assert DEFAULT_SEEDS_DEPTH == 3


def test_the_figure_has_a_panel_per_claim_and_both_regimes():
    made = [_state(s, {2: 2, 3: 5, 8: 30}) for s in range(3)]
    deep = effects_by_depth([m[0] for m in made], [CLAIM], {m[0]["seed"]: m[1] for m in made}, regime="deep")
    plain = [c for c in seeds.CLAIMS if c.name == "fixed_k2"]
    default_states = [{**m[0], "recipe": "default"} for m in made]
    default = effects_by_depth(default_states, plain, {m[0]["seed"]: [3] * 300 for m in made}, regime="default")
    import pandas as pd
    fig = figure(pd.concat([default, deep]))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 1 and visible[0].get_title().startswith("fixed k = 2 loses")
    lines = [line for line in visible[0].get_lines() if line.get_linestyle() == "--"]
    assert len(lines) == 1 and lines[0].get_ydata()[0] == pytest.approx(100 * CLAIM.paper)
    assert len(visible[0].containers) == 2  # one error-bar series per regime
    assert {t.get_text() for t in fig.legends[0].get_texts()} >= {"the deep regime (chains of 2-8 steps)", "the default regime (its seeds study: 3-operation problems)"}
    floored = figure(pd.concat([default, deep[deep["depth"] >= 3]]))  # the legend names the depths the deep rows hold
    assert "the deep regime (chains of 3-8 steps)" in {t.get_text() for t in floored.legends[0].get_texts()}
