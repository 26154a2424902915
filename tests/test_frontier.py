"""Tokens per forward, AUP (hao-ai-lab's accuracy under parallelism) and the Pareto frontier, on
hand-computed values."""

import math

import pandas as pd
import pytest

from mdlm_study.core import frontier


def test_tokens_per_forward_pools_tokens_over_passes():
    assert frontier.tokens_per_forward([10, 20, 30], [5, 5, 10]) == 3.0  # 60 tokens / 20 passes, not the mean of 2, 4, 3
    with pytest.raises(ValueError, match="total NFE 0"):
        frontier.tokens_per_forward([1], [0])


def test_aup_of_one_point_is_parallelism_times_accuracy():
    assert frontier.aup([(2.77, 74.68)]) == pytest.approx(2.77 * 74.68)


def test_aup_by_hand_weights_and_the_five_point_floor():
    points = [(1.0, 80.0), (2.0, 78.0), (4.0, 70.0), (6.0, 76.0)]  # 70 < 80 - 5: left out
    w78, w76 = math.exp(-3 * (1 - 78 / 80)), math.exp(-3 * (1 - 76 / 80))
    expected = 1.0 * 80 + 0.5 * (2 - 1) * (78 * w78 + 80 * 1.0) + 0.5 * (6 - 2) * (76 * w76 + 78 * w78)
    assert frontier.aup(points) == pytest.approx(expected)
    assert frontier.aup(list(reversed(points))) == pytest.approx(expected)  # order of the points does not matter
    assert frontier.aup(points, y_max=90.0) < expected  # a better method elsewhere on the task lowers every weight


@pytest.mark.parametrize("points, match", [([], "at least one"), ([(0.0, 50.0)], "tokens per forward > 0"), ([(1.0, 120.0)], r"\[0, 100\]")])
def test_aup_bad_points_raise(points, match):
    with pytest.raises(ValueError, match=match):
        frontier.aup(points)


def test_pareto_frontier_by_hand():
    table = pd.DataFrame({"mean_nfe": [10, 20, 15, 30, 10], "accuracy": [0.5, 0.8, 0.5, 0.8, 0.6]})
    # row 0 is dominated by row 4 (same cost, better); row 2 by row 4; row 3 by row 1 (same accuracy, cheaper)
    assert frontier.pareto_frontier(table).tolist() == [False, True, False, False, True]


def test_frontier_share_counts_groups_per_decoder():
    table = pd.DataFrame({
        "decoder": ["a", "b", "c", "a", "b", "c"],
        "seed": [0, 0, 0, 1, 1, 1],
        "mean_nfe": [10, 5, 20, 10, 5, 20],
        "accuracy": [0.7, 0.6, 0.65, 0.7, 0.75, 0.9],
    })
    share = frontier.frontier_share(table).set_index("decoder")
    assert share.loc["a", "on_frontier"] == 1 and share.loc["b", "on_frontier"] == 2 and share.loc["c", "on_frontier"] == 1
    assert (share["groups"] == 2).all()
    pooled = frontier.frontier_share(table.assign(pool=0), groups=("pool",))
    assert set(pooled.loc[pooled["on_frontier"] == 1, "decoder"]) == {"b", "c"}  # pooled, a is beaten by b at seed 1
    with pytest.raises(ValueError, match="needs columns"):
        frontier.frontier_share(table, groups=("template",))
