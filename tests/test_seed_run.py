"""One seed being measured (``experiments.seeds.open_seed``), as every seeds benchmark opens it: the record's
identity, resuming a record, dropping only the decodings when the renewable keys change, starting afresh on
another model; and the Sudoku and trace seeds benchmarks end to end on tiny random models."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest
from benchmark_helpers import benchmark_module

from mdlm_study.engine.templates import SUDOKU_TEMPLATE
from mdlm_study.experiments import seeds
from mdlm_study.experiments.evaluate import evaluate_sudoku
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import save_snapshot, weights_sha256
from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.tasks.task import get_task

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """seed<s>/sudoku and seed<s>/default (s = 0, 1): tiny random models with the released tokenizers."""
    root = tmp_path_factory.mktemp("seed_runs")
    for seed, recipe in ((0, "sudoku"), (1, "sudoku"), (0, "default"), (1, "default")):
        tokenizer = load_model(recipe).tokenizer
        model = build_model(TINY, tokenizer, seed=seed + 3)
        save_snapshot(model.eval(), root / f"seed{seed}" / recipe, 1, tokenizer)
    return root


def _puzzles(n: int = 6):
    return get_task("sudoku").generate(None, n, seed=11)


def _open(runs, out, puzzles, **kwargs):
    options = {"template": SUDOKU_TEMPLATE, "batch_size": 6, "evaluator": evaluate_sudoku}
    return seeds.open_seed(0, "sudoku", puzzles, models_dir=runs, out_dir=out, problems_label="held_out_6", evaluator_options=options, **kwargs)


def test_a_seed_run_names_its_model_weights_and_problems_and_resumes_its_record(runs, tmp_path):
    puzzles = _puzzles()
    run = _open(runs, tmp_path, puzzles)
    weights = weights_sha256(load_model(runs / "seed0" / "sudoku").model)
    assert list(run.state) == ["seed", "recipe", "model", "weights_sha256", "model_path", "problems", "problems_sha256", "n_problems"]
    assert (run.state["recipe"], run.state["model"], run.state["weights_sha256"], run.state["n_problems"]) == ("sudoku", "sudoku", weights, 6)
    assert run.identity == {"model": "sudoku", "weights_sha256": weights, "problems_sha256": run.state["problems_sha256"]}
    role = {"l2r": seeds.SUDOKU_DECODINGS["l2r"]}
    run.decode(puzzles, role)
    entry = json.loads((tmp_path / "seed0.json").read_text())["decodings"]["l2r"]
    assert len(entry["correct"]) == 6 and entry["weights_sha256"] == weights
    again = _open(runs, tmp_path, puzzles)  # the same model and puzzles: the decoding is kept
    assert again.state["decodings"]["l2r"]["correct"] == entry["correct"]
    other = _open(runs, tmp_path, _puzzles(5))  # other puzzles: afresh
    assert "decodings" not in other.state and other.state["n_problems"] == 5


def test_renewable_keys_drop_only_the_decodings(runs, tmp_path):
    """The deep regime's rule: when only the claims' problems change, the regime measured on the whole split stands."""
    puzzles = _puzzles()
    run = _open(runs, tmp_path, puzzles, extra={"regime_n_problems": 6}, renewable=("problems_sha256", "n_problems"))
    run.state["regime"] = {"accuracy": 0.5}
    run.decode(puzzles, {"l2r": seeds.SUDOKU_DECODINGS["l2r"]})
    fewer = _open(runs, tmp_path, puzzles[:4], extra={"regime_n_problems": 6}, renewable=("problems_sha256", "n_problems"))
    assert fewer.state["regime"] == {"accuracy": 0.5} and "decodings" not in fewer.state and fewer.state["n_problems"] == 4
    assert fewer.state["regime_n_problems"] == 6
    on_disk = json.loads((tmp_path / "seed0.json").read_text())  # dropped on disk too, before anything is decoded again
    assert "decodings" not in on_disk and on_disk["regime"] == {"accuracy": 0.5} and on_disk["n_problems"] == 4


def test_the_default_recipe_keeps_its_records_without_a_recipe_key(runs, tmp_path):
    """Records written before other recipes had seeds have no ``recipe``; the default recipe's runs keep it so."""
    problems = generate_problems(ArithmeticConfig(), 3, seed=5)
    run = seeds.open_seed(0, "default", problems, models_dir=runs, out_dir=tmp_path, problems_label="held_out_3")
    assert "recipe" not in run.state and seeds.record_recipe(run.state) == "default" and run.state["model"] == "default"


def test_the_answer_only_twin_is_decoded_once_beside_the_seed_and_never_copied_as_its_decoding(runs, tmp_path):
    """The reasoning check: the seed's answer-only twin decodes the same problems (no reasoning slot), its entry
    names the twin's weights, a rerun keeps it, and the seed's own ``l2r`` (the same config) is decoded, not copied
    from it; the check pairs the two on every seed with a twin, and names a seed without one."""
    problems = generate_problems(ArithmeticConfig(), 6, seed=5)
    tokenizer = load_model("answer_only").tokenizer
    twin = build_model(TINY, tokenizer, seed=9)
    save_snapshot(twin.eval(), tmp_path / "runs" / "seed0" / "answer_only", 1, tokenizer)
    for seed in (0, 1):
        (tmp_path / "runs" / f"seed{seed}").mkdir(exist_ok=True)
        (tmp_path / "runs" / f"seed{seed}" / "default").symlink_to(runs / f"seed{seed}" / "default")
    states = []
    for seed in (0, 1):
        run = seeds.open_seed(seed, "default", problems, models_dir=tmp_path / "runs", out_dir=tmp_path, problems_label="held_out_6",
                              evaluator_options={"batch_size": 6})
        assert seeds.measure_answer_only(run, problems, models_dir=tmp_path / "runs", batch_size=6) is (seed == 0)
        run.decode(problems, {"l2r": seeds.TEST_DECODINGS["l2r"]})
        states.append(run.state)
    entry, own = states[0]["decodings"][seeds.ANSWER_ONLY], states[0]["decodings"]["l2r"]
    assert (entry["model"], entry["weights_sha256"]) == ("answer_only", weights_sha256(twin)) and len(entry["correct"]) == 6
    assert own["weights_sha256"] == states[0]["weights_sha256"] != entry["weights_sha256"] and own["mean_nfe"] > entry["mean_nfe"]
    stamp = (tmp_path / "seed0.json").stat().st_mtime_ns
    rerun = seeds.open_seed(0, "default", problems, models_dir=tmp_path / "runs", out_dir=tmp_path, problems_label="held_out_6")
    assert seeds.measure_answer_only(rerun, problems, models_dir=tmp_path / "runs") and (tmp_path / "seed0.json").stat().st_mtime_ns == stamp
    [check] = seeds.claim_results(states, seeds.MODEL_CHECKS)
    assert check["missing"] == ["default_seed1"] and [x["seed"] for x in check["per_seed"]] == [0]
    assert check["per_seed"][0]["reference_accuracy"] == entry["accuracy"] and check["per_seed"][0]["accuracy"] == own["accuracy"]


def test_the_reasoning_check_is_a_direction_test():
    check = seeds.CLAIM["reasoning_helps"]
    wide, narrow = seeds.v.Interval(0.30, 0.25, 0.35, "t"), seeds.v.Interval(0.01, -0.02, 0.04, "t")
    speed = seeds.v.speedup_interval([1.0])
    assert check.judge(wide, wide, speed).word == seeds.v.REPRODUCED and check.holds(seeds.v.REPRODUCED)
    assert check.judge(narrow, narrow, speed).word == seeds.v.INCONCLUSIVE
    assert check.judge(seeds.v.Interval(-0.3, -0.35, -0.25, "t"), narrow, speed).word == seeds.v.OPPOSITE


def test_a_missing_seed_model_is_a_clear_error(runs, tmp_path):
    with pytest.raises((FileNotFoundError, ValueError), match="seed4"):
        seeds.open_seed(4, "sudoku", [], models_dir=runs, out_dir=tmp_path, problems_label="none")


def test_the_sudoku_seeds_benchmark_decodes_every_seed_and_pools_the_claims(runs, tmp_path):
    bench = _bench("bench_sudoku_seeds")
    args = Namespace(models_dir=runs, out_dir=tmp_path, batch_size=6, seeds=[0, 1])
    puzzles = _puzzles()
    for seed in args.seeds:
        bench.measure(seed, args, puzzles)
    records = [json.loads((tmp_path / f"seed{s}.json").read_text()) for s in args.seeds]
    assert [r["model"] for r in records] == ["sudoku", "sudoku_seed1"]
    assert all(set(r["decodings"]) == set(seeds.SUDOKU_DECODINGS) and r["recipe"] == "sudoku" for r in records)
    bench.analyse(args)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["seeds"] == [0, 1] and [c["claim"] for c in claims["claims"]] == [c.name for c in seeds.SUDOKU_CLAIMS]
    assert all([s["seed"] for s in c["per_seed"]] == [0, 1] for c in claims["claims"])


def _bench(name: str):
    return benchmark_module(name)


def test_the_trace_seeds_benchmark_measures_each_seed_once_and_pools_them(runs, tmp_path, capsys):
    bench = _bench("bench_trace_seeds")
    args = Namespace(models_dir=runs, out_dir=tmp_path, batch_size=8, seeds=[0, 1], n_samples=1)
    problems = generate_problems(ArithmeticConfig(), 4, seed=2)
    for seed in args.seeds:
        bench.measure(seed, args, problems)
    first = json.loads((tmp_path / "seed0.json").read_text())
    assert (first["model"], first["n_problems"], first["n_samples"]) == ("default", 4, 1) and "recipe" not in first
    assert {"table_d", "auroc", "leftmost"} <= set(first["traces"])
    stamp = (tmp_path / "seed0.json").stat().st_mtime_ns
    bench.measure(0, args, problems)  # a rerun keeps the finished seed
    assert "measured already" in capsys.readouterr().out and (tmp_path / "seed0.json").stat().st_mtime_ns == stamp
    bench.analyse(args)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["seeds"] == [0, 1] and [m["model"] for m in claims["models"]] == ["default", "default_seed1"]


def test_a_seed_model_is_found_where_its_training_run_keeps_it(tmp_path):
    """``resolve``: a released name's folder when ``models_dir`` holds it, else where a training run keeps that
    release (a base snapshot inside the seed's default run)."""
    assert seeds.resolve("base_seed2", tmp_path) == tmp_path / "seed2" / "default" / "step5000"
    assert seeds.resolve("default_seed3", tmp_path) == tmp_path / "seed3" / "default"
    assert seeds.resolve("chains", tmp_path) == tmp_path / "seed0" / "chains"
    (tmp_path / "base_seed2").mkdir()
    assert seeds.resolve("base_seed2", tmp_path) == tmp_path / "base_seed2"
    assert seeds.resolve("base_seed2") == ROOT / "models" / "base_seed2"
