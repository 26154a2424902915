"""``benchmarks/bench_regime.py`` end to end on tiny random models: which problems a regime is read on
(the deep regime's floor for chains, every problem for arithmetic), every problem still reported by depth,
the answer-only twin on the same problems, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_helpers import benchmark_module

from mdlm_study.experiments.regime import DEEP_MIN_STEPS, deep_chains
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import save_snapshot
from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.task import get_task

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return benchmark_module("bench_regime")


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """A tiny random chains model and its twin, and data/chains_test.jsonl with the first 12 test chains."""
    root = tmp_path_factory.mktemp("regime")
    tokenizer = load_model("chains").tokenizer
    for name, seed in (("chains", 3), ("twin", 4)):
        model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=seed)
        save_snapshot(model.eval(), root / name, 1, tokenizer)
    (root / "data").mkdir()
    lines = (ROOT / "data" / "chains_test.jsonl").read_text().splitlines()[:12]
    (root / "data" / "chains_test.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _depths(root: Path) -> list[int]:
    return [len(p.ops) for p in read_split(get_task("chains"), root / "data", "test")]


def test_deep_chains_keeps_the_problems_of_at_least_min_steps(layout):
    problems = read_split(get_task("chains"), layout / "data", "test")
    keep, kept = deep_chains(problems, 5)
    assert keep == [len(p.ops) >= 5 for p in problems] and kept == [p for p in problems if len(p.ops) >= 5]
    assert 0 < len(kept) < len(problems)  # the fixture's chains straddle the floor
    with pytest.raises(ValueError, match="min_steps must be an int >= 1, got 0"):
        deep_chains(problems, 0)


@pytest.mark.parametrize("floor", [None, 5])
def test_the_chains_regime_is_read_on_the_deep_chains_and_reported_on_every_depth(layout, floor):
    depths = _depths(layout)
    out = layout / f"regime_{floor}.json"
    argv = ["--task", "chains", "--models", str(layout / "chains"), "--answer-only", str(layout / "twin"), "--data-dir",
            str(layout / "data"), "--out", str(out)]
    _bench().main([*argv, *(["--min-steps", str(floor)] if floor else [])])
    (record,) = json.loads(out.read_text())["records"]
    expected_floor = floor or DEEP_MIN_STEPS
    n_deep = sum(d >= expected_floor for d in depths)
    assert record["min_steps"] == expected_floor and record["n_problems"] == 12
    assert record["diagnostics"]["n_problems"] == n_deep
    assert record["answer_only"]["n_problems"] == n_deep
    assert sorted(record["by_depth"], key=int) == sorted({str(d) for d in depths}, key=int)
    assert sum(g["n_problems"] for g in record["by_depth"].values()) == 12
    deep_groups = [g for d, g in record["by_depth"].items() if int(d) >= expected_floor]
    pooled = sum(g["accuracy"] * g["n_problems"] for g in deep_groups) / n_deep  # the overall reading is the deep groups' pool
    assert record["diagnostics"]["accuracy"] == pytest.approx(pooled)
    assert record["paper_regime"]["blank_slot_accuracy"]["value"] == record["diagnostics"]["blank_slot_accuracy"]
    assert record["training"] is None  # a snapshot has no training record


def test_a_trained_models_record_says_how_long_it_trained(tmp_path):
    """A run's folder (``checkpoints/chains`` after ``make reproduce``) loads with its training.json as the
    record, and the regime record carries what it says of the run."""
    from mdlm_study.training.recipes import prepare_data, recipe, train_recipe

    bench = _bench()
    data = prepare_data(tmp_path / "data", smoke=True)
    trained = train_recipe(recipe("sudoku", smoke=True), data, tmp_path / "runs", progress=False, report=False)
    out = tmp_path / "regime.json"
    bench.main(["--task", "sudoku", "--models", str(tmp_path / "runs" / "sudoku"), "--n-problems", "2",
                "--data-dir", str(tmp_path / "data"), "--out", str(out)])
    (written,) = json.loads(out.read_text())["records"]
    assert written["weights_sha256"] == trained["weights_sha256"]
    assert written["training"] == {"recipe": "sudoku", "seed": trained["train"]["seed"], "steps": trained["train"]["steps"],
                                   "train_seconds": trained["train_seconds"], "layers": trained["model"]["num_layers"],
                                   "batch_size": trained["train"]["batch_size"], "init_from": None}
    record = {"recipe": "chains", "train": {"seed": 2, "steps": 9000, "batch_size": 64}, "model": {"num_layers": 3}, "train_seconds": 2400.5,
              "init_from": {"model": "steps", "weights_sha256": "ab"}, "history": []}
    assert bench.training_summary(record) == {"recipe": "chains", "seed": 2, "steps": 9000, "train_seconds": 2400.5, "layers": 3,
                                              "batch_size": 64, "init_from": {"model": "steps", "weights_sha256": "ab"}}
    assert bench.training_summary(None) is None


def test_bad_floors_are_refused_by_name(layout):
    argv = ["--task", "chains", "--models", str(layout / "chains"), "--data-dir", str(layout / "data"), "--out", str(layout / "refused.json")]
    with pytest.raises(ValueError, match="--min-steps 9: none of the 12 problems takes that many steps"):
        _bench().main([*argv, "--min-steps", "9"])
    with pytest.raises(ValueError, match="min_steps must be an int >= 1, got 0"):
        _bench().main([*argv, "--min-steps", "0"])
    assert not (layout / "refused.json").exists()


def test_other_tasks_read_every_problem_unless_told(layout):
    bench = _bench()
    problems = read_split(get_task("chains"), layout / "data", "test")
    assert bench.regime_population(get_task("arithmetic"), problems, None) == (None, None, problems)
    floor, keep, kept = bench.regime_population(get_task("chains"), problems, None)
    assert floor == DEEP_MIN_STEPS and kept == deep_chains(problems, DEEP_MIN_STEPS)[1]
    with pytest.raises(ValueError, match="task 'sudoku' has no reasoning steps to count"):
        bench.regime_population(get_task("sudoku"), problems, 3)
