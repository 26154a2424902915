"""``benchmarks/bench_model.py`` on smoke-size runs: the default model's targets written as a record, with the test
files' SHA-256, each model's weights and the machine each was trained on."""

from __future__ import annotations

import json

from benchmark_helpers import benchmark_module

from mdlm_study.core.records import cpu_detail, problems_sha256
from mdlm_study.models import load_model
from mdlm_study.tasks.data import read_problems, read_puzzles
from mdlm_study.training.recipes import prepare_data, recipe, train_recipe


def test_the_model_targets_are_a_record_naming_data_weights_and_machine(tmp_path):
    data = prepare_data(tmp_path / "data", smoke=True)
    for name in ("default", "answer_only", "sudoku"):
        train_recipe(recipe(name, smoke=True), data, tmp_path / "checkpoints", progress=False, report=False)
    out = tmp_path / "model.json"
    benchmark_module("bench_model").main(["--checkpoints", str(tmp_path / "checkpoints"), "--data-dir", str(tmp_path / "data"),
                                          "--out", str(out)])
    record = json.loads(out.read_text())
    problems = read_problems(tmp_path / "data" / "arithmetic_test.jsonl")
    assert record["n_problems"] == len(problems) and 0 <= record["exact_answer_accuracy"] <= 1
    assert record["data_sha256"] == {"arithmetic_test": problems_sha256(problems),
                                     "sudoku_test": problems_sha256(read_puzzles(tmp_path / "data" / "sudoku_test.jsonl"))}
    for name in ("default", "answer_only", "sudoku"):
        loaded = load_model(name, checkpoints_dir=tmp_path / "checkpoints")
        assert record["weights_sha256"][name] == loaded.record["weights_sha256"]
        assert record["trained_on"][name]["cpu_detail"] == cpu_detail() and record["trained_on"][name]["bf16"] is False
    assert record["provenance"]["command"].startswith("benchmarks/bench_model.py --checkpoints")
    assert "commit" in record["provenance"] and "cpu_detail" in record["provenance"]
    alone = tmp_path / "default_alone.json"
    benchmark_module("bench_model").main(["--checkpoints", str(tmp_path / "checkpoints"), "--data-dir", str(tmp_path / "data"),
                                          "--models", "default", "--out", str(alone)])
    measured = json.loads(alone.read_text())
    assert list(measured["weights_sha256"]) == ["default"] and "answer_only_accuracy" not in measured and "sudoku_solve_rate" not in measured
    assert measured["exact_answer_accuracy"] == record["exact_answer_accuracy"] and measured["teacher_forced"] == record["teacher_forced"]
