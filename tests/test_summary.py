"""The claims table's verdicts: beyond the noise band, inside it, the other way, and missing."""

import pytest

from mdlm_study.summary import CLAIMS, claims_table, compare, noise_band


def test_noise_band_is_the_normal_95_percent_band():
    assert noise_band(0.5, 0.5, 100) == pytest.approx(1.96 * (0.5 / 100) ** 0.5)
    assert compare(0.30, 0.10, 300) == 1 and compare(0.10, 0.30, 300) == -1 and compare(0.18, 0.16, 150) == 0
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        noise_band(0.5, 0.5, 0)


def summaries(overrides=None):
    s = {
        "01_training": {"exact_answer_accuracy": 0.8, "answer_only_accuracy": 0.4, "n_problems": 300},
        "02_any_order_vs_l2r": {"l2r_accuracy": 0.8, "best_any_order_accuracy": 0.8, "whole_canvas_entropy_accuracy": 0.5,
                                "fraction_leftmost": 0.5, "mean_distance": 3.0, "sudoku_l2r": 0.36, "sudoku_best_any_order": 0.6, "n_problems": 300},
        "03_parallel_decoding": {"k1_accuracy": 0.8, "k2_drop_points": -15.0, "k4_drop_points": -43.0, "sudoku_k1_accuracy": 0.5,
                                 "sudoku_k2_drop_points": -15.0, "sudoku_k4_drop_points": -43.0, "med_speedup": 2.7,
                                 "k2_p_value": 1e-4, "k4_p_value": 1e-9, "sudoku_k2_p_value": 1e-4, "sudoku_k4_p_value": 1e-9,
                                 "conclusion_k1_accuracy": 0.8, "conclusion_k2_drop_points": -15.0, "conclusion_k4_drop_points": -43.0,
                                 "conclusion_k2_p_value": 1e-4, "conclusion_k4_p_value": 1e-9,
                                 "block_k1_accuracy": 0.8, "block_k2_drop_points": -15.0, "block_k4_drop_points": -43.0,
                                 "block_k2_p_value": 1e-4, "block_k4_p_value": 1e-9,
                                 "med_accuracy": 0.8, "n_problems": 300},
        "04_early_exit": {"med_exit_speedup": 3.3, "med_exit_accuracy": 0.79, "entropy_accuracy": 0.8, "n_problems": 300},
        "05_finetuning": {"posterior_fraction_correct_on_failures": 0.4, "failures_ci_high": 0.45, "filter_gain_keep_0.5": 0.1,
                          "posterior_fraction_correct_overall": 0.6, "finetune_base": 0.5, "finetune_gold": 0.65,
                          "finetune_posterior": 0.66, "finetune_both": 0.8, "n_problems": 300},
        "06_step_scoring": {"auroc_answer_loglik": 0.8, "auroc_low": 0.75, "auroc_high": 0.85, "n_problems": 300},
    }
    for (table, key), value in (overrides or {}).items():
        s[table][key] = value
    return s


def verdicts(s):
    table = claims_table(s)
    assert len(table) == len(CLAIMS)
    return dict(zip(table["claim"], table["verdict"], strict=True))


def test_the_papers_numbers_give_holds_everywhere():
    assert set(verdicts(summaries()).values()) == {"holds"}


def test_small_differences_are_inconclusive_and_reversals_differ():
    claim = "Sudoku: any-order beats left-to-right (Table A)"
    assert verdicts(summaries({("02_any_order_vs_l2r", "sudoku_best_any_order"): 0.40}))[claim] == "inconclusive"
    assert verdicts(summaries({("02_any_order_vs_l2r", "sudoku_best_any_order"): 0.10}))[claim] == "differs"
    claim = "Fixed 2 / 4 tokens per step lose accuracy (Table B)"
    key = "03_parallel_decoding"
    assert verdicts(summaries({(key, "k2_drop_points"): -1.0, (key, "k2_p_value"): 0.6}))[claim] == "inconclusive"
    assert verdicts(summaries({(key, "k2_drop_points"): 15.0, (key, "k2_p_value"): 1e-3}))[claim] == "differs"
    # the study model on 150 problems: -5.3 / -5.3 points, inside the unpaired +-7.5 band but paired p = 0.021
    s = summaries({(key, "k1_accuracy"): 0.9, (key, "k2_drop_points"): -5.3, (key, "k4_drop_points"): -5.3,
                   (key, "k2_p_value"): 0.021, (key, "k4_p_value"): 0.021, (key, "n_problems"): 150})
    assert verdicts(s)[claim] == "holds"
    claim = "Step scoring without rollouts separates correct from flawed reasoning"
    assert verdicts(summaries({("06_step_scoring", "auroc_low"): 0.45}))[claim] == "inconclusive"
    claim = "Fixed 2 / 4 tokens per step lose accuracy, on Sudoku (Table B's effect where decoded cells constrain each other)"
    # k = 2 costs 1 point (no paired evidence), k = 4 costs 12 (paired p = 1e-4): not both
    s = summaries({(key, "sudoku_k1_accuracy"): 0.43, (key, "sudoku_k2_drop_points"): -1.0, (key, "sudoku_k2_p_value"): 0.8,
                   (key, "sudoku_k4_drop_points"): -12.0, (key, "sudoku_k4_p_value"): 1e-4, (key, "n_problems"): 150})
    assert verdicts(s)[claim] == "inconclusive"
    note = claims_table(s).set_index("claim").loc[claim, "note"]
    assert note == "exact paired McNemar p = 0.8 (k = 2) / 0.0001 (k = 4), not both below 0.05, at n = 150 problems"
    s[key]["sudoku_k2_drop_points"], s[key]["sudoku_k2_p_value"] = -6.0, 0.01
    assert verdicts(s)[claim] == "holds"


def test_a_filtering_gain_inside_the_noise_is_inconclusive():
    """2 of 600 posterior traces fully correct, 2 of the 300 kept: a +0.003 gain is noise, not a
    confirmation; with no correct trace at all the note says filtering had nothing to select."""
    claim = "Log-probability filtering improves posterior traces"
    s = summaries({("05_finetuning", "posterior_fraction_correct_overall"): 2 / 600, ("05_finetuning", "filter_gain_keep_0.5"): 1 / 300})
    table = claims_table(s).set_index("claim")
    assert table.loc[claim, "verdict"] == "inconclusive" and "noise band" in table.loc[claim, "note"]
    assert verdicts(summaries({("05_finetuning", "filter_gain_keep_0.5"): -0.1}))[claim] == "differs"
    s = summaries({("05_finetuning", "posterior_fraction_correct_overall"): 0.0, ("05_finetuning", "filter_gain_keep_0.5"): 0.0})
    assert "nothing to select" in claims_table(s).set_index("claim").loc[claim, "note"]


def test_a_speedup_below_the_claims_size_differs_and_missing_values_are_missing():
    s = summaries({("03_parallel_decoding", "med_speedup"): 1.5})
    assert verdicts(s)["MED keeps accuracy with ~2.7x fewer steps (Table C)"] == "differs"
    del s["06_step_scoring"]
    table = claims_table(s)
    row = table[table["claim"] == "Step scoring without rollouts separates correct from flawed reasoning"].iloc[0]
    assert row["verdict"] == "missing" and row["ours"] == "not measured"


def test_the_written_reasoning_reading_of_fixed_k_is_judged_by_its_paired_test():
    claim = "Fixed 2 / 4 tokens per step lose accuracy, reading the answer off the written reasoning (Table B reads generated text)"
    key = "03_parallel_decoding"
    # a 4-point drop is inside the unpaired band at n = 150 but counts when the paired test finds it
    s = summaries({(key, "conclusion_k2_drop_points"): -4.0, (key, "conclusion_k2_p_value"): 0.01, (key, "n_problems"): 150})
    assert verdicts(s)[claim] == "holds"
    s = summaries({(key, "conclusion_k2_drop_points"): -4.0, (key, "conclusion_k2_p_value"): 0.2, (key, "n_problems"): 150})
    assert verdicts(s)[claim] == "inconclusive"
    note = claims_table(s).set_index("claim").loc[claim, "note"]
    assert note == "exact paired McNemar p = 0.2 (k = 2) / 1e-09 (k = 4), not both below 0.05, at n = 150 problems"
    assert verdicts(summaries({(key, "conclusion_k4_drop_points"): 9.0}))[claim] == "differs"
    ours = claims_table(summaries()).set_index("claim").loc[claim, "ours"]
    assert ours == "-15.0 / -43.0 points (k = 1: 80.0%; paired p = 0.0001 / 1e-09)"


def test_the_block_setting_of_fixed_k_is_its_own_claim_read_from_its_own_keys():
    """Table B's setting (entropy order inside blocks) is judged from the ``block_`` keys alone: a loss
    there holds even when the whole-canvas reading is inconclusive, and a missing key is missing."""
    block = "Fixed 2 / 4 tokens per step lose accuracy, inside semi-autoregressive blocks (Table B's decoding setting)"
    whole = "Fixed 2 / 4 tokens per step lose accuracy (Table B)"
    key = "03_parallel_decoding"
    # the 9,750-step model on 1,500 problems: whole canvas -0.9 (p = 0.23), blocks of 8 -5.7 / -6.4 (p = 2e-10 / 3e-10)
    s = summaries({(key, "k2_drop_points"): -0.9, (key, "k2_p_value"): 0.23, (key, "block_k1_accuracy"): 0.904,
                   (key, "block_k2_drop_points"): -5.7, (key, "block_k4_drop_points"): -6.4,
                   (key, "block_k2_p_value"): 2e-10, (key, "block_k4_p_value"): 3e-10})
    assert verdicts(s)[whole] == "inconclusive" and verdicts(s)[block] == "holds"
    assert claims_table(s).set_index("claim").loc[block, "ours"] == "-5.7 / -6.4 points (k = 1: 90.4%; paired p = 2e-10 / 3e-10)"
    del s[key]["block_k4_p_value"]
    assert verdicts(s)[block] == "missing" and verdicts(s)[whole] == "inconclusive"
