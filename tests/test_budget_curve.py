"""The budget-curve benchmark's evaluations (benchmarks/budget.py) on a tiny random model."""

import time

import pytest
from benchmark_helpers import benchmark_module

from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE

budget = benchmark_module("budget")


def test_fixed_k_decodes_k_tokens_per_forward(tiny_model, tokenizer, problems):
    rows = budget.fixed_k(tiny_model, tokenizer, problems[:6], ARITHMETIC_TEMPLATE)
    slots = ARITHMETIC_TEMPLATE.reasoning_len + ARITHMETIC_TEMPLATE.answer_len  # 28 masked positions, no early exit
    assert [r["tokens_per_step"] for r in rows] == [1, 2, 4]
    assert [r["mean_nfe"] for r in rows] == [slots, slots / 2, slots / 4]
    assert all(0 <= r["accuracy"] <= 1 and 0 <= r["step_accuracy"] <= 1 for r in rows)


def test_curve_point_reports_accuracies_and_wall_time(tiny_model, tokenizer, problems):
    point = budget.curve_point(tiny_model, tokenizer, problems[:6], ARITHMETIC_TEMPLATE, time.perf_counter())
    assert set(point) == {"minutes", "accuracy", "step_accuracy", "trace_accuracy"}
    assert point["minutes"] >= 0 and all(0 <= point[k] <= 1 for k in ("accuracy", "step_accuracy", "trace_accuracy"))


def test_blank_slot_decodes_one_pass_and_overrides_name_train_config_fields(tiny_model, tokenizer, problems):
    reading = budget.blank_slot(tiny_model, tokenizer, problems[:6], ARITHMETIC_TEMPLATE)
    assert reading["mean_nfe"] == 1 and 0 <= reading["accuracy"] <= 1  # the exit fires on the first pass
    assert budget.train_overrides(["suffix_mask_prob=0.5", "copy_rule=tied"]) == {"suffix_mask_prob": 0.5, "copy_rule": "tied"}
    with pytest.raises(ValueError, match="suffix_prob"):
        budget.train_overrides(["suffix_prob=0.5"])
    for field in ("steps", "seed"):  # own options (the seed also seeds the initial weights)
        with pytest.raises(ValueError, match=field):
            budget.train_overrides([f"{field}=10"])


def test_model_overrides_name_model_config_fields():
    assert budget.model_overrides(["num_layers=3", "hidden_size=96"]) == {"num_layers": 3, "hidden_size": 96}
    with pytest.raises(ValueError, match="layers"):
        budget.model_overrides(["layers=3"])
