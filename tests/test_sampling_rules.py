"""Selection rules on hand-built statistics: exact sets, ties, edge cases."""

import torch

from mdlm_study.engine.rules import RULES


def stats_from(entropy=None, confidence=None, margin=None):
    values = entropy if entropy is not None else confidence
    values = torch.as_tensor(values, dtype=torch.float32)
    if values.dim() == 1:
        values = values[None]
    B, L = values.shape
    return {
        "entropy": torch.as_tensor(entropy, dtype=torch.float32).view(B, L) if entropy is not None else torch.zeros(B, L),
        "confidence": torch.as_tensor(confidence, dtype=torch.float32).view(B, L) if confidence is not None else torch.zeros(B, L),
        "margin": torch.as_tensor(margin, dtype=torch.float32).view(B, L) if margin is not None else torch.zeros(B, L),
        "position": torch.arange(L).expand(B, L),
        "uniform": None,
    }


def run(rule, stats, eligible=None, k=1, **params):
    B, L = stats["position"].shape
    eligible = torch.ones(B, L, dtype=torch.bool) if eligible is None else torch.as_tensor(eligible).view(B, L)
    return RULES[rule](stats, eligible, k=k, params=params)


def idx(commit):
    return [row.nonzero()[:, 0].tolist() for row in commit]


def test_med_commits_exactly_the_positions_below_lambda():
    s = stats_from(entropy=[0.05, 0.5, 0.19, 0.2, 0.01])
    assert idx(run("med", s, med_lambda=0.2)) == [[0, 2, 4]]


def test_med_falls_back_to_single_lowest_entropy():
    s = stats_from(entropy=[0.9, 0.3, 0.5])
    assert idx(run("med", s, med_lambda=0.2)) == [[1]]


def test_med_budget_takes_longest_prefix_within_budget():
    s = stats_from(entropy=[0.05, 0.5, 0.1, 0.2, 0.01])
    # sorted: 0.01(4), 0.05(0), 0.1(2), 0.2(3), 0.5(1); cumsum 0.01, 0.06, 0.16, 0.36
    assert idx(run("med_budget", s, med_lambda=0.2)) == [[0, 2, 4]]
    assert idx(run("med_budget", s, med_lambda=0.0)) == [[4]]


def test_eb_sum_minus_max():
    s = stats_from(entropy=[0.375, 0.125, 0.25, 1.0])  # exactly representable in float32
    # sorted 0.125, 0.25, 0.375, 1.0: a prefix of length n passes iff the sum of its first n-1 <= gamma
    assert idx(run("eb", s, eb_gamma=0.0)) == [[1]]
    assert idx(run("eb", s, eb_gamma=0.125)) == [[1, 2]]
    assert idx(run("eb", s, eb_gamma=0.374)) == [[1, 2]]
    assert idx(run("eb", s, eb_gamma=0.375)) == [[0, 1, 2]]
    assert idx(run("eb", s, eb_gamma=0.75)) == [[0, 1, 2, 3]]


def test_fast_threshold_and_progress():
    s = stats_from(confidence=[0.95, 0.5, 0.9, 0.89])
    assert idx(run("fast_threshold", s, tau=0.9)) == [[0, 2]]
    assert idx(run("fast_threshold", s, tau=0.99)) == [[0]]


def test_fast_factor_rule():
    s = stats_from(confidence=[0.9, 0.6, 0.8, 0.99])
    # sorted 0.99, 0.9, 0.8, 0.6: (i+1)(1-c): 2*0.01=0.02, 3*0.1=0.3, 4*0.2=0.8, 5*0.4=2.0
    assert idx(run("fast_factor", s, factor=0.5)) == [[0, 3]]
    assert idx(run("fast_factor", s, factor=1.0)) == [[0, 2, 3]]
    assert idx(run("fast_factor", s, factor=0.01)) == [[3]]


def test_ties_break_leftmost_and_all_equal():
    s = stats_from(entropy=[0.3, 0.3, 0.3, 0.3], confidence=[0.5] * 4)
    assert idx(run("entropy", s, k=2)) == [[0, 1]]
    assert idx(run("confidence", s, k=3)) == [[0, 1, 2]]
    assert idx(run("med", s, med_lambda=0.1)) == [[0]]
    assert idx(run("med", s, med_lambda=0.31)) == [[0, 1, 2, 3]]
    assert idx(run("eb", s, eb_gamma=0.61)) == [[0, 1, 2]]  # 0.3 + 0.3 <= 0.61 < 0.9
    assert idx(run("fast_threshold", s, tau=0.9)) == [[0]]


def test_one_eligible_position_left():
    s = stats_from(entropy=[0.0, 5.0, 0.0], confidence=[1.0, 0.1, 1.0])
    eligible = [False, True, False]
    for rule, params in [("med", {"med_lambda": 0.2}), ("med_budget", {"med_lambda": 0.2}), ("eb", {"eb_gamma": 0.0}),
                         ("fast_threshold", {"tau": 0.9}), ("fast_factor", {"factor": 1.0}), ("entropy", {}), ("l2r", {})]:
        assert idx(run(rule, s, eligible=eligible, k=2, **params)) == [[1]], rule


def test_fixed_k_commits_min_k_remaining_per_row():
    s = stats_from(entropy=[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], confidence=[[0.9, 0.8, 0.7, 0.6], [0.6, 0.7, 0.8, 0.9]])
    eligible = torch.tensor([[True, True, True, True], [False, False, True, False]])
    assert idx(run("entropy", s, eligible=eligible, k=3)) == [[0, 1, 2], [2]]
    assert idx(run("confidence", s, eligible=eligible, k=2)) == [[0, 1], [2]]
    assert idx(run("l2r", s, eligible=eligible, k=2)) == [[0, 1], [2]]


def test_margin_orders_by_margin():
    s = stats_from(entropy=[0, 0, 0], margin=[0.1, 0.7, 0.4])
    assert idx(run("margin", s, k=2)) == [[1, 2]]


def test_row_without_eligible_positions_commits_nothing():
    s = stats_from(entropy=[[0.1, 0.2], [0.1, 0.2]], confidence=[[0.9, 0.9], [0.9, 0.9]])
    eligible = torch.tensor([[True, True], [False, False]])
    for rule, params in [("med", {"med_lambda": 1.0}), ("eb", {"eb_gamma": 1.0}), ("fast_threshold", {"tau": 0.5}), ("entropy", {})]:
        assert idx(run(rule, s, eligible=eligible, k=1, **params))[1] == [], rule
