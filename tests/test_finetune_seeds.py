"""Table E on every training seed (``experiments.finetune_seeds``, ``benchmarks/bench_finetune_seeds.py``): each
seed's comparisons by hand, their pooling with the seed as the unit, and the benchmark end to end on tiny
random base models with notebook 05's smoke settings."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest
from benchmark_helpers import benchmark_module

from mdlm_study.core import verdicts as v
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import save_snapshot
from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.training import finetune_seeds as fs

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"base": [0.50], "gold": [0.60, 0.62], "posterior": [0.55, 0.57], "both": [0.65, 0.63]}


def test_each_comparison_is_the_difference_of_two_arms_means_with_the_fine_tuning_seeds_spread():
    out = fs.seed_comparisons(ARMS, 100)
    assert out["on_par"]["estimate"] == pytest.approx(0.56 - 0.61) and out["on_par"]["reference"] == "gold"
    assert out["gain_gold"]["estimate"] == pytest.approx(0.61 - 0.50) and out["gain_posterior"]["estimate"] == pytest.approx(0.06)
    assert out["both_over_better"]["reference"] == "gold" and out["both_over_better"]["estimate"] == pytest.approx(0.64 - 0.61)
    iv = v.seeded_difference(ARMS["gold"], ARMS["posterior"], 100)
    assert (out["on_par"]["low"], out["on_par"]["high"]) == pytest.approx((iv.low, iv.high))
    assert out["on_par"]["low"] < out["on_par"]["low90"] < out["on_par"]["high90"] < out["on_par"]["high"]
    assert fs.better_arm({**ARMS, "posterior": [0.7]}) == "posterior" and fs.better_arm({**ARMS, "posterior": [0.61]}) == "gold"
    with pytest.raises(ValueError, match="n_problems must be an int >= 1, got 0"):
        fs.seed_comparisons(ARMS, 0)


def test_a_table_without_every_arm_is_refused():
    table = pd.DataFrame({"arm": ["base", "gold", "both"], "accuracy": [0.5, 0.6, 0.6]})
    with pytest.raises(ValueError, match=r"missing \['posterior'\]"):
        fs.arm_accuracies(table)


def _state(seed: int, shift: float) -> dict:
    arms = {arm: [a + shift for a in accs] for arm, accs in ARMS.items()}
    return {"seed": seed, "model": fs.__name__, "finetune": {"arms": arms, "comparisons": fs.seed_comparisons(arms, 200), "n_problems": 200}}


def test_the_comparisons_pool_over_training_seeds_with_the_seed_as_the_unit():
    states = [_state(0, 0.0), _state(1, 0.02), _state(2, -0.01)]
    pooled = fs.finetune_claims(states)
    on_par = pooled["on_par"]
    assert on_par["k"] == 3 and on_par["n_problems"] == 600 and [p["seed"] for p in on_par["per_seed"]] == [0, 1, 2]
    assert on_par["estimate"] == pytest.approx(-0.05)  # the same difference on every seed
    assert on_par["low"] < on_par["low90"] < on_par["estimate"] < on_par["high90"] < on_par["high"]
    assert on_par["prediction_low"] is not None and "Hartung-Knapp" in on_par["method"]
    assert pooled["arms"]["1"]["gold"] == pytest.approx(0.63)
    assert list(fs.finetune_table(states)["seed"]) == [0, 1, 2]
    with pytest.raises(ValueError, match="bench_finetune_seeds.py"):
        fs.finetune_claims([])


def _bench():
    return benchmark_module("bench_finetune_seeds")


def test_the_bench_reads_notebook_05s_settings():
    bench = _bench()
    full = bench.notebook_settings("full")
    assert (full["n_finetune"], full["finetune_steps"], full["seeds"]) == (200, 100, [0, 1, 2])
    config = bench.train_config(full)
    assert (config.steps, config.batch_size, config.lr, config.warmup) == (100, full["finetune_batch_size"], full["finetune_lr"], 20)


def test_the_bench_fine_tunes_each_seeds_base_once_and_pools_them(tmp_path, capsys):
    tokenizer = load_model("base").tokenizer
    tiny = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    for seed, name in ((0, "base"), (1, "base_seed1")):
        save_snapshot(build_model(tiny, tokenizer, seed=seed + 5).eval(), tmp_path / "models" / name, 1, tokenizer)
    bench = _bench()
    settings = {**bench.notebook_settings("smoke"), "n_finetune": 6, "finetune_steps": 2, "finetune_batch_size": 4, "seeds": [0, 1]}
    args = Namespace(models_dir=tmp_path / "models", out_dir=tmp_path / "out", batch_size=8, seeds=[0, 1])
    train, test = generate_problems(ArithmeticConfig(), 6, seed=3), generate_problems(ArithmeticConfig(), 5, seed=4)
    for seed in args.seeds:
        bench.measure(seed, args, train, test, settings)
    first = json.loads((tmp_path / "out" / "seed0.json").read_text())
    assert (first["model"], first["recipe"], first["n_problems"], first["n_train"]) == ("base", "base", 5, 6)
    assert first["finetune_settings"] == settings and {len(first["finetune"]["arms"][a]) for a in ("gold", "posterior", "both")} == {2}
    assert len(first["finetune"]["runs"]) == 1 + 3 * 2 and set(first["finetune"]["comparisons"]) == set(fs.COMPARISONS)
    stamp = (tmp_path / "out" / "seed0.json").stat().st_mtime_ns
    bench.measure(0, args, train, test, settings)  # a rerun keeps the finished seed
    assert "measured already" in capsys.readouterr().out and (tmp_path / "out" / "seed0.json").stat().st_mtime_ns == stamp
    bench.measure(0, args, train, test, {**settings, "finetune_steps": 3})  # other settings: measured afresh
    assert json.loads((tmp_path / "out" / "seed0.json").read_text())["finetune_settings"]["finetune_steps"] == 3
    bench.analyse(args)
    claims = json.loads((tmp_path / "out" / "claims.json").read_text())
    assert claims["seeds"] == [0, 1] and [m["model"] for m in claims["models"]] == ["base", "base_seed1"]
    assert claims["comparisons"]["on_par"]["k"] == 2 and claims["provenance"]["commit"]


def test_table_es_verdict_of_record_comes_from_the_seeds_when_their_records_exist(tmp_path):
    """With fine-tuning records of the training seeds, each Table E claim is judged on the comparisons pooled
    over the seeds (the same judge per seed gives "holds on"); notebook 05's own run is shown as that run."""
    from mdlm_study.reporting import claims
    from mdlm_study.reporting.conclusions import default_seed_records
    from mdlm_study.reporting.study import load_study
    from mdlm_study.reporting.summary import claims_table

    records = {}
    for seed, shift in enumerate((0.0, 0.01, -0.01, 0.02, 0.0)):
        arms = {"base": [0.50 + shift], "gold": [0.62 + shift, 0.64 + shift], "posterior": [0.62 + shift, 0.63 + shift],
                "both": [0.70 + shift, 0.72 + shift]}
        path = tmp_path / f"seed{seed}.json"
        path.write_text(json.dumps({"seed": seed, "model": "base", "finetune": {"arms": arms, "comparisons": fs.seed_comparisons(arms, 1500),
                                                                                  "n_problems": 1500}}))
        records[f"finetune seed {seed}"] = path
    others = {label: path for label, path in default_seed_records(ROOT).items() if not label.startswith("finetune seed")}
    table = claims_table(load_study(ROOT, {**others, **records})).set_index("claim")
    alone = claims_table(load_study(ROOT, others)).set_index("claim")  # notebook 05's run gives the verdict
    pooled = fs.finetune_claims([json.loads(p.read_text()) for p in records.values()])
    for text in ("Fine-tuning on posterior traces is on par with gold traces (Table E)", "Fine-tuning on traces improves the base model (Table E)",
                 "Gold + posterior traces together are best (Table E)"):
        row = table.loc[text]
        assert row["evidence"] == "5 training seeds × 1,500 problems, pooled (random effects)", text
        assert row["run"].startswith(alone.loc[text, "ours"]) and f"(this run alone: {alone.loc[text, 'verdict']})" in row["run"]
        assert row["seeds"].startswith("holds on ") and row["seeds"].count(",") == 4
    both = pooled["both_over_better"]
    expected = claims._both_judge(*claims._intervals_of(both, both["critical90"])).word
    assert table.loc["Gold + posterior traces together are best (Table E)", "verdict"] == expected
    assert f"{100 * both['estimate']:+.1f} [" in table.loc["Gold + posterior traces together are best (Table E)", "ours"]
    on_par = claims._on_par_judge(*claims._intervals_of(pooled["on_par"], pooled["on_par"]["critical90"])).word
    assert table.loc["Fine-tuning on posterior traces is on par with gold traces (Table E)", "verdict"] == on_par
