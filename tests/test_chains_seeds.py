"""The deep regime's seeds benchmark (``benchmarks/bench_chains_seeds.py``) end to end on tiny random models
in a training run's layout: the regime diagnostics on every chain, by depth; every claim's decoding on the
first chains; the answer-only twin; the claims across seeds; a rerun resumes without decoding again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from benchmark_helpers import benchmark_module

from mdlm_study.experiments import regime as regime_module
from mdlm_study.experiments import seeds
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import save_snapshot
from mdlm_study.models.tiny_model import ModelConfig, build_model

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return benchmark_module("bench_chains_seeds")


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """seed0/chains, seed1/chains and seed0/chains_answer_only: tiny random models with the chains tokenizer;
    data/chains_test.jsonl: the first 8 test chains."""
    root = tmp_path_factory.mktemp("chains")
    tokenizer = load_model("chains").tokenizer
    for seed, recipe in ((0, "chains"), (1, "chains"), (0, "chains_answer_only")):
        model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=seed + 7)
        save_snapshot(model.eval(), root / "runs" / f"seed{seed}" / recipe, 1, tokenizer)
    (root / "data").mkdir()
    lines = (ROOT / "data" / "chains_test.jsonl").read_text().splitlines()[:8]
    (root / "data" / "chains_test.jsonl").write_text("\n".join(lines) + "\n")
    return root


LAX_REGIME = {"accuracy": (">=", 0.0), "blank_slot_accuracy": ("<=", 1.0), "answer_only_accuracy": ("<=", 1.0)}  # every tiny model is "in" it


def test_every_chains_seed_gets_its_regime_and_every_claims_decoding(layout, monkeypatch):
    monkeypatch.setattr(regime_module, "PAPER_REGIME", LAX_REGIME)
    bench, out = _bench(), layout / "out"
    argv = ["--models-dir", str(layout / "runs"), "--seeds", "0", "1", "--data-dir", str(layout / "data"), "--n-problems", "8",
            "--n-claims", "5", "--batch-size", "8", "--out-dir", str(out), "--default-dir", str(layout / "no_default"),
            "--figures-root", str(layout), "--answer-only", "chains_answer_only"]
    bench.main(argv)
    first = json.loads((out / "seed0.json").read_text())
    assert first["recipe"] == "chains" and first["n_problems"] == 5 and first["regime_n_problems"] == 8
    assert set(first["decodings"]) == set(seeds.CHAINS_DECODINGS)
    assert all(len(d["correct"]) == 5 for d in first["decodings"].values())
    depths = first["depths"]
    assert len(depths) == 8 and set(depths) <= set("2345678")
    assert first["regime"]["n_problems"] == 8 and sorted(first["regime"]["by_depth"]) == sorted(set(depths))
    assert sum(g["n_problems"] for g in first["regime"]["by_depth"].values()) == 8
    claims = json.loads((out / "claims.json").read_text())
    assert [c["claim"] for c in claims["claims"]] == [c.name for c in seeds.CHAINS_CLAIMS]
    assert all([s["seed"] for s in c["per_seed"]] == [0, 1] for c in claims["claims"])
    regime = claims["regime"]
    assert set(regime["per_seed"]) == {"0", "1"} and regime["answer_only"]["n_problems"] == 8
    assert regime["per_seed"]["0"]["check"]["answer_only_accuracy"]["value"] == regime["answer_only"]["accuracy"]
    assert isinstance(regime["seeds_within_5_points"], bool)
    accuracies = [regime["per_seed"][s]["diagnostics"]["accuracy"] for s in ("0", "1")]
    assert regime["spread"] == regime_module.seed_spread(accuracies, 8) and regime["spread"]["range"] == pytest.approx(abs(accuracies[0] - accuracies[1]))
    assert {r["regime"] for r in claims["by_depth"]} == {"deep"} and {r["depth"] for r in claims["by_depth"]} == {int(d) for d in depths[:5]}
    assert (layout / "figures" / "claims_by_depth.png").is_file() and (layout / "figures" / "claims_by_depth.json").is_file()
    regime_only = out / "regime_only"
    bench.main([*argv[:argv.index("--out-dir")], "--seeds", "0", "--regime-only", "--out-dir", str(regime_only),
                "--default-dir", str(layout / "no_default"), "--figures-root", str(layout)])
    alone = json.loads((regime_only / "seed0.json").read_text())
    assert "regime" in alone and "decodings" not in alone  # counted for the regime bounds, not for the claims
    assert all("pooled" not in c and c["missing"] == [] for c in json.loads((regime_only / "claims.json").read_text())["claims"])
    bench.main([*argv[:argv.index("--out-dir")], "--seeds", "0", "--out-dir", str(regime_only), "--default-dir", str(layout / "no_default"),
                "--figures-root", str(layout)])  # then the claims: the regime is kept, not decoded again
    after = json.loads((regime_only / "seed0.json").read_text())
    assert after["regime"] == alone["regime"] and set(after["decodings"]) == set(seeds.CHAINS_DECODINGS) and after["n_problems"] == 5
    stamp = (out / "seed1.json").stat().st_mtime_ns
    bench.main([*argv[:-2], "--seeds", "0", "1", "2"])  # a rerun: nothing decoded or written again; seed 2 is not trained
    assert (out / "seed1.json").stat().st_mtime_ns == stamp and not (out / "seed2.json").exists()


def test_a_seed_outside_the_papers_regime_is_reported_and_not_pooled(layout, capsys):
    """The tiny random models answer nothing: each gets its regime diagnostics and none of the claims' decodings;
    claims.json names them with the bounds they miss, and the claims pool no seed."""
    bench, out = _bench(), layout / "outside"
    bench.main(["--models-dir", str(layout / "runs"), "--seeds", "0", "1", "--data-dir", str(layout / "data"), "--n-problems", "8",
                "--n-claims", "5", "--batch-size", "8", "--out-dir", str(out), "--default-dir", str(layout / "no_default"),
                "--figures-root", str(layout / "outside_figures")])
    assert "outside the paper's regime (accuracy 0.0% not >= 70%" in capsys.readouterr().out
    first = json.loads((out / "seed0.json").read_text())
    assert "regime" in first and "decodings" not in first
    claims = json.loads((out / "claims.json").read_text())
    assert claims["regime"]["claims_seeds"] == [] and set(claims["regime"]["outside_regime"]) == {"0", "1"}
    assert claims["regime"]["outside_regime"]["0"].startswith("accuracy 0.0% not >= 70%")
    assert all("pooled" not in c for c in claims["claims"])


def test_a_seed_outside_the_regime_does_not_count_for_the_claims_even_with_decodings():
    def state(seed, accuracy):
        correct = "1" * 6 + "0" * 4
        return {"seed": seed, "recipe": "chains", "model": seeds.model_name(seed, "chains"),
                "regime": {"accuracy": accuracy, "blank_slot_accuracy": 0.1},
                "decodings": {role: {"correct": correct, "mean_nfe": 68.0} for role in ("l2r", "entropy_k1", "entropy_k1_blocks8")}}
    inside, outside = state(0, 0.8), state(1, 0.2)
    assert seeds.counts_for_claims(inside) and not seeds.counts_for_claims(outside)
    assert seeds.counts_for_claims({"decodings": {}}) and not seeds.counts_for_claims({"regime": {"accuracy": 0.9}})
    result = seeds.claim_results([inside, outside], seeds.CHAINS_CLAIMS[:1])[0]
    assert [r["seed"] for r in result["per_seed"]] == [0] and result["missing"] == []


def test_in_regime_reads_the_papers_bounds_and_names_the_missed_ones():
    assert regime_module.in_regime({"accuracy": 0.70, "blank_slot_accuracy": 0.25})
    assert not regime_module.in_regime({"accuracy": 0.21, "blank_slot_accuracy": 0.14})
    assert regime_module.outside_regime_reason({"accuracy": 0.21, "blank_slot_accuracy": 0.14}) == "accuracy 21.0% not >= 70%"
    assert regime_module.outside_regime_reason({"accuracy": 0.9, "blank_slot_accuracy": 0.3}) == "blank slot accuracy 30.0% not <= 25%"
    assert regime_module.outside_regime_reason({"accuracy": 0.9, "blank_slot_accuracy": 0.1}) == ""
    good = {"accuracy": 0.9, "blank_slot_accuracy": 0.1}  # the answer-only twin's bound counts only when it is given
    assert regime_module.in_regime(good, 0.25) and not regime_module.in_regime(good, 0.26)


def test_too_many_claims_chains_is_refused(layout):
    with pytest.raises(ValueError, match="--n-claims 9 must lie in 1..8 \\(the chains of at least --min-steps 3 steps"):  # the default floor
        _bench().main(["--models-dir", str(layout / "runs"), "--data-dir", str(layout / "data"), "--n-problems", "8", "--n-claims", "9",
                       "--out-dir", str(layout / "refused")])
    with pytest.raises(ValueError, match="--n-claims 5 must lie in 1..4 \\(the chains of at least --min-steps 5 steps"):
        _bench().main(["--models-dir", str(layout / "runs"), "--data-dir", str(layout / "data"), "--n-problems", "8", "--n-claims", "5",
                       "--min-steps", "5", "--out-dir", str(layout / "refused")])
    with pytest.raises(ValueError, match="--min-steps 9: the chains test split holds 2-8 steps"):
        _bench().main(["--min-steps", "9", "--out-dir", str(layout / "refused")])


def test_min_steps_narrows_the_bounds_and_the_claims_to_the_deep_chains(layout, monkeypatch):
    """With --min-steps 5 (the first 8 test chains take 4, 7, 5, 6, 4, 4, 4, 5 steps): every chain is decoded for the
    diagnostics by depth, the overall diagnostics, the claims' chains, their depths and the answer-only twin are
    the four chains of 5 steps or more, and the record says which floor it used."""
    monkeypatch.setattr(regime_module, "PAPER_REGIME", LAX_REGIME)
    out = layout / "min_steps"
    _bench().main(["--models-dir", str(layout / "runs"), "--seeds", "0", "--data-dir", str(layout / "data"), "--n-problems", "8",
                   "--n-claims", "3", "--min-steps", "5", "--batch-size", "8", "--out-dir", str(out), "--default-dir",
                   str(layout / "no_default"), "--figures-root", str(layout / "min_steps_figures"), "--answer-only", "chains_answer_only"])
    record = json.loads((out / "seed0.json").read_text())
    assert record["regime_min_steps"] == 5 and record["regime_n_problems"] == 8
    assert record["regime"]["n_problems"] == 4 and sorted(record["regime"]["by_depth"]) == ["4", "5", "6", "7"]
    assert sum(g["n_problems"] for g in record["regime"]["by_depth"].values()) == 8
    assert record["depths"] == "7565" and record["n_problems"] == 3
    assert all(len(d["correct"]) == 3 for d in record["decodings"].values())
    assert json.loads((out / "answer_only.json").read_text())["n_problems"] == 4
    assert "by_group" not in record["regime"]  # the depth split is kept once
    regime = json.loads((out / "claims.json").read_text())["regime"]
    assert (regime["min_steps"], regime["max_steps"]) == (5, 8)
    by_depth = regime["per_seed"]["0"]["by_depth"]
    assert sorted(by_depth) == ["4", "5", "6", "7"] and by_depth["4"]["n_problems"] == 4
    assert by_depth["4"] == {k: record["regime"]["by_depth"]["4"][k] for k in ("accuracy", "blank_slot_accuracy", "n_problems")}


def test_seed_records_read_at_different_depth_floors_are_not_pooled():
    bench = _bench()
    assert bench.depth_floor([{"regime": {}, "regime_min_steps": 3}, {"regime": {}, "regime_min_steps": 3}]) == 3
    assert bench.depth_floor([{"regime": {}}]) == bench.SPLIT_MIN_STEPS  # a record from before the floor: every chain
    assert bench.depth_floor([]) == regime_module.DEEP_MIN_STEPS
    with pytest.raises(ValueError, match=r"different --min-steps \[2, 3\]"):
        bench.depth_floor([{"regime": {}, "regime_min_steps": 3}, {"regime": {}}])


def test_the_chains_claims_are_the_papers_claims_on_the_chains_seeds_only():
    paper_claims = [c for c in seeds.CLAIMS if not c.own]
    assert [c.name for c in seeds.CHAINS_CLAIMS] == [f"chains_{c.name}" for c in paper_claims]
    for ours, theirs in zip(seeds.CHAINS_CLAIMS, paper_claims, strict=True):
        assert (ours.recipe, ours.test, ours.paper, ours.reference, ours.this) == ("chains", theirs.test, theirs.paper, theirs.reference, theirs.this)
    default = {"seed": 0, "model": "default", "decodings": {"l2r": {"correct": "10", "mean_nfe": 2.0}, "entropy_k1": {"correct": "11", "mean_nfe": 2.0}}}
    assert seeds.claim_results([default], seeds.CHAINS_CLAIMS)[1] == {**seeds.claim_results([], seeds.CHAINS_CLAIMS)[1]}


def test_seed_state_resumes_the_same_run_and_starts_afresh_on_another(tmp_path, capsys):
    path = tmp_path / "seed0.json"
    identity = {"model": "chains", "weights_sha256": "a" * 64}
    assert seeds.seed_state(path, identity) == identity
    path.write_text(json.dumps({**identity, "decodings": {"l2r": {}}, "provenance": {"commit": "x"}}))
    assert seeds.seed_state(path, identity) == {**identity, "decodings": {"l2r": {}}}
    other = {**identity, "weights_sha256": "b" * 64}
    assert seeds.seed_state(path, other) == other and "starting afresh" in capsys.readouterr().out
    shutil.copy(path, tmp_path / "seed2.json")
    assert [s["model"] for s in seeds.seed_records(tmp_path, [0, 1, 2])] == ["chains", "chains"]
    assert "seed 1 left out" in capsys.readouterr().out


def _chains_states(k2_loss: int = 60, n: int = 400) -> list[dict]:
    """Chains seeds whose fixed k = 2 and 4 lose ``k2_loss`` of ``n`` chains (plus the seed) against k = 1, with nothing else differing."""
    import pandas as pd

    def evaluator(seed):
        def evaluate(problems, config):
            right = round(0.7 * len(problems)) - ((k2_loss + seed) if config.tokens_per_step > 1 and config.block_size is None else 0)
            return pd.DataFrame({"correct": [i < right for i in range(len(problems))], "nfe": [68 // config.tokens_per_step] * len(problems)})
        return evaluate

    states = []
    for seed in seeds.SEEDS:
        state = {"seed": seed, "recipe": "chains", "model": seeds.model_name(seed, "chains")}
        seeds.measure_seed(evaluator(seed), list(range(n)), state, seeds.CHAINS_DECODINGS)
        states.append(state)
    return states


def test_the_claims_table_gives_each_decoding_claim_its_deep_regime_verdict():
    """With the chains seeds' records beside the default seeds', a decoding claim's row carries the deep regime's
    pooled verdict (the same test on the chains seeds); a claim without a twin (a trace claim) carries none."""
    from mdlm_study.core.records import ROOT
    from mdlm_study.reporting.conclusions import existing_seed_records
    from mdlm_study.reporting.results_doc import regime_sentence, short_claim
    from mdlm_study.reporting.study import load_study
    from mdlm_study.reporting.summary import claims_table

    study = load_study(ROOT, {k: p for k, p in existing_seed_records(ROOT).items() if not k.startswith("chains")})
    plain = claims_table(study)
    assert set(plain["deep_regime"]) == {""}
    assert regime_sentence(plain, "3-8").endswith("is not measured yet.")
    study.seed_records.update({f"chains seed {s['seed']}": s for s in _chains_states()})
    table = claims_table(study).set_index("claim")
    whole = "Fixed k = 2 / 4 lose accuracy (Table B): answer slot, whole canvas"
    assert table.loc[whole, "deep_regime"] in verdicts_holding() and "5 chains seeds × 400 chains" in table.loc[whole, "deep_ours"]
    assert table.loc["Step scoring tells correct from flawed traces", "deep_regime"] == ""
    sentence = regime_sentence(claims_table(study), "3-8")
    assert sentence.startswith("**Regime.** Where the answer has to come out of the reasoning") and "chains of 3-8 steps" in sentence
    changed = [c for c in table.index if table.loc[c, "deep_regime"] and table.loc[c, "deep_regime"] != table.loc[c, "verdict"]]
    assert f"{len(changed)} of the" in sentence and all(short_claim(c) in sentence for c in changed)
    assert short_claim(whole) == "fixed k = 2 / 4 lose accuracy (whole canvas)" and short_claim("MED beats fixed k = 2 (Tables B, C)") == "MED beats fixed k = 2"


def verdicts_holding():
    from mdlm_study.core import verdicts
    return verdicts.HOLDING


def test_the_regime_sentence_names_the_chains_seeds_it_rests_on(tmp_path):
    from mdlm_study.reporting.results_doc import CHAINS_SEEDS_DIR, chains_seeds_clause

    assert chains_seeds_clause(tmp_path) == ""
    diagnostics = {"0": {"diagnostics": {"accuracy": 0.8}}, "4": {"diagnostics": {"accuracy": 0.21}}}
    (tmp_path / CHAINS_SEEDS_DIR).mkdir(parents=True)
    (tmp_path / CHAINS_SEEDS_DIR / "claims.json").write_text(json.dumps(
        {"regime": {"per_seed": diagnostics, "claims_seeds": [0], "outside_regime": {"4": "accuracy 21.0% not >= 70%"}}}))
    assert chains_seeds_clause(tmp_path) == "its 1 seeds in the regime, of 2 trained; seed 4 answers 21.0% and is left out"


def test_the_deep_regime_section_splits_the_seeds_spread_by_source(tmp_path):
    """docs/seeds.md quotes the committed record's split of the spread; a record written before the split
    (no ``spread``) keeps the range alone."""
    from mdlm_study.core.records import ROOT
    from mdlm_study.reporting.results_doc import CHAINS_SEEDS_DIR, deep_regime_markdown

    record = json.loads((ROOT / CHAINS_SEEDS_DIR / "claims.json").read_text())
    sd = record["regime"]["spread"]
    assert (f"the seeds differ by a standard deviation of {100 * sd['between_seed_sd']:.1f} points beside the test set's "
            f"{100 * sd['measurement_sd']:.1f}, so {sd['n_seeds']} seeds of this recipe span {100 * sd['expected_range']:.1f} points") in deep_regime_markdown()
    del record["regime"]["spread"]
    record["regime"].pop("anatomy", None)  # an older record has neither the split nor the anatomy
    (tmp_path / CHAINS_SEEDS_DIR).mkdir(parents=True)
    (tmp_path / CHAINS_SEEDS_DIR / "claims.json").write_text(json.dumps(record))
    older = deep_regime_markdown(tmp_path)
    assert "points apart (not within the 5 points the recipe must hold). Records:" in older and "standard deviation of" not in older


def test_the_deep_regime_is_named_by_the_depths_its_record_reads(tmp_path):
    from mdlm_study.reporting.results_doc import CHAINS_SEEDS_DIR, _depth_rows, chains_depths

    assert chains_depths(tmp_path) == "2-8"  # no record: the test split's own range
    (tmp_path / CHAINS_SEEDS_DIR).mkdir(parents=True)
    by_depth = {"2": {"accuracy": 0.91, "blank_slot_accuracy": 0.68, "n_problems": 224}, "3": {"accuracy": 0.9, "blank_slot_accuracy": 0.24, "n_problems": 221}}
    regime = {"min_steps": 3, "max_steps": 8, "per_seed": {"0": {"by_depth": by_depth}, "1": {"by_depth": {"3": by_depth["3"]}}}}
    (tmp_path / CHAINS_SEEDS_DIR / "claims.json").write_text(json.dumps({"regime": regime}))
    assert chains_depths(tmp_path) == "3-8"
    assert _depth_rows(regime).splitlines() == ["| seed | 2 steps | 3 steps |", "|---|---|---|", "| 0 | 91 / 68 | 90 / 24 |", "| 1 | — | 90 / 24 |"]


def test_the_spread_is_split_only_for_seeds_read_on_as_many_chains():
    """Seeds read on different numbers of chains carry different binomial noise: refused by name, not averaged."""
    bench = _bench()
    alike = {"0": {"diagnostics": {"accuracy": 0.9, "n_problems": 100}}, "1": {"diagnostics": {"accuracy": 0.8, "n_problems": 100}}}
    assert bench.spread_of(alike) == regime_module.seed_spread([0.9, 0.8], 100)
    unlike = {**alike, "2": {"diagnostics": {"accuracy": 0.85, "n_problems": 50}}}
    with pytest.raises(ValueError, match=r"read on different numbers of chains \[50, 100\]"):
        bench.spread_of(unlike)


def test_the_anatomy_reads_each_seed_s_answers_against_its_written_conclusions():
    """From the records alone: seed 0 answers 3 of 4 chains and concludes all 4 right (one answer off a right
    conclusion), seed 1 answers and concludes 2 of 4 (both wrong twice); a seed without conclusions is skipped."""
    bench = _bench()
    states = [{"seed": 0, "decodings": {"entropy_k1": {"correct": "1110", "conclusion": "1111"}}},
              {"seed": 1, "decodings": {"entropy_k1": {"correct": "1100", "conclusion": "1100"}}},
              {"seed": 2, "decodings": {"entropy_k1": {"correct": "1111"}}}]
    anatomy = bench.anatomy_of(states)
    assert sorted(anatomy["per_seed"]) == ["0", "1"] and anatomy["role"] == "entropy_k1"
    assert anatomy["per_seed"]["0"]["answer_off_right_reasoning"] == 0.25 and anatomy["per_seed"]["1"]["both_wrong"] == 0.5
    assert anatomy["answer_range"] == 0.25 and anatomy["conclusion_range"] == 0.5
    assert bench.anatomy_of([states[2]]) is None and bench.anatomy_of([{"seed": 3, "regime": {}}]) is None


def test_the_deep_regime_section_quotes_the_anatomy_when_its_record_has_one():
    from mdlm_study.reporting.results_doc import anatomy_sentence

    assert anatomy_sentence(None) == ""
    anatomy = _bench().anatomy_of([{"seed": 0, "decodings": {"entropy_k1": {"correct": "1110", "conclusion": "1111"}}},
                                   {"seed": 1, "decodings": {"entropy_k1": {"correct": "1100", "conclusion": "1100"}}}])
    assert anatomy_sentence(anatomy) == (
        ". On the 4 claims chains (entropy_k1), the seeds' written conclusions (the last equation's result) span 50.0 points "
        "(50.0-100.0%) and their answers 25.0 (50.0-75.0%); the answer slot contradicts a right conclusion on 0.0-25.0% of the "
        "chains, and the reasoning and the answer are both wrong on 0.0-50.0% (`experiments.faithfulness.answer_anatomy`)")
