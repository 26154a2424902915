"""The notebooks' sweep helpers (mdlm_study.experiments.analysis) on hand-made evaluations whose numbers are known."""

import pandas as pd
import pytest

from mdlm_study.experiments.analysis import (
    dependency_depth,
    fastest_within,
    fixed_k_drops,
    most_accurate_at,
    paired_drops,
    sweep,
)

ACCURACY_BY_K = {1: 0.5, 2: 0.4, 4: 0.2}


def fake_evaluate(problems, config):
    """Every problem correct with a known probability per k: the first round(acc * n) are right."""
    n, k = len(problems), config.tokens_per_step
    correct = [i < round(ACCURACY_BY_K[k] * n) for i in range(n)]
    return pd.DataFrame({"correct": correct, "nfe": [28 // k] * n})


def test_sweep_labels_rows_and_fixed_k_drops_are_points_against_k1():
    configs = [{"label": f"entropy k={k}", "sampler": "entropy", "tokens_per_step": k} for k in (1, 2, 4)]
    table = sweep(fake_evaluate, list(range(10)), configs)
    assert list(table["label"]) == ["entropy k=1", "entropy k=2", "entropy k=4"]
    drops = fixed_k_drops(table)
    assert list(drops["tokens_per_step"]) == [1, 2, 4]
    assert list(drops["drop_vs_k1_points"]) == pytest.approx([0.0, -10.0, -30.0])
    assert list(drops["mean_nfe"]) == [28, 14, 7]
    kept = {}
    sweep(fake_evaluate, list(range(10)), configs, tables=kept)
    assert list(kept) == list(table["label"])
    assert [kept[label]["correct"].mean() for label in kept] == list(table["accuracy"])


def test_sweep_validates_every_configuration_before_decoding():
    calls = []
    with pytest.raises(ValueError, match=r"unknown rule parameter\(s\) \['med_lamda'\]"):
        sweep(lambda problems, config: calls.append(config), [1], [{"sampler": "entropy"}, {"sampler": "med", "med_lamda": 0.2}])
    assert calls == []


def test_sweep_takes_configs_and_labels_them():
    from mdlm_study.engine import DecodeConfig

    table = sweep(fake_evaluate, list(range(10)), [DecodeConfig("entropy", tokens_per_step=2, block_size=8)])
    assert table["label"].tolist() == ["entropy k=2, blocks of 8"] and table["block_size"].tolist() == [8]


def test_fixed_k_drops_needs_a_k1_row():
    table = sweep(fake_evaluate, list(range(10)), [{"sampler": "entropy", "tokens_per_step": 2}])
    with pytest.raises(ValueError, match=r"tokens_per_step=1, got \[2\]"):
        fixed_k_drops(table)


def test_dependency_depth_counts_lines_plus_the_answer():
    assert dependency_depth(["3+4=7", "7*2=14", " "]) == 3


def test_fastest_within_picks_fewest_nfe_inside_the_tolerance():
    table = pd.DataFrame({"label": ["a", "b", "c", "d"], "accuracy": [0.70, 0.695, 0.69, 0.60], "mean_nfe": [14.0, 9.0, 9.0, 3.0]})
    assert fastest_within(table, 0.70, 1.0)["label"] == "b"  # b and c tie on NFE; b is more accurate; d is 10 points down
    assert fastest_within(table, 0.70, 0.0)["label"] == "a"
    assert fastest_within(table, 0.70, 10.0)["label"] == "d"
    with pytest.raises(ValueError, match="no setting is within 1.0 points of 0.8000"):
        fastest_within(table, 0.80, 1.0)
    with pytest.raises(ValueError, match="tolerance_points must be >= 0, got -1"):
        fastest_within(table, 0.70, -1)


def test_most_accurate_at_picks_best_accuracy_among_settings_fast_enough():
    table = pd.DataFrame({"label": ["a", "b", "c", "d", "e"], "accuracy": [0.90, 0.88, 0.89, 0.89, 0.70],
                          "mean_nfe": [10.0, 8.0, 7.0, 5.0, 2.0]})
    assert most_accurate_at(table, 28.0, 3.5)["label"] == "d"  # a is too slow (2.8x); c and d tie on accuracy, d is faster
    assert most_accurate_at(table, 28.0, 2.8)["label"] == "a"  # exactly 2.8x counts
    assert most_accurate_at(table, 28.0, 14.0)["label"] == "e"
    with pytest.raises(ValueError, match="no setting uses 20.0x fewer NFE than 28.00; fewest mean NFE 2.00"):
        most_accurate_at(table, 28.0, 20.0)
    with pytest.raises(ValueError, match="min_speedup must be > 0, got 0"):
        most_accurate_at(table, 28.0, 0)


def test_paired_drops_test_each_k_against_k1_problem_by_problem():
    k1 = pd.DataFrame({"correct": [True] * 10 + [False] * 10})
    k2 = pd.DataFrame({"correct": [True] * 4 + [False] * 16})  # 6 lost, none gained
    k4 = pd.DataFrame({"correct": [False] * 10 + [True] * 10})  # 10 lost, 10 gained: same accuracy
    table = paired_drops({1: k1, 2: k2, 4: k4}).set_index("tokens_per_step")
    assert table["drop_points"].tolist() == pytest.approx([0.0, -30.0, 0.0])
    assert table.loc[2, "p_value"] == pytest.approx(2 * 0.5**6)
    assert table.loc[4, "p_value"] == 1.0 and table.loc[1, "p_value"] == 1.0
    with pytest.raises(ValueError, match=r"got k = \[2\]"):
        paired_drops({2: k2})
