"""The decoding benchmarks' own logic (benchmarks/bench_decoding.py, bench_answer_source.py,
bench_faithfulness.py): the decoding record schema on both tasks, held-out problem sets, and the
faithfulness records."""

import argparse
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from mdlm_study.data import held_out_problems, read_problems, study_data, write_study_data
from mdlm_study.evaluate import evaluate_arithmetic, evaluate_sudoku, summarize
from mdlm_study.tasks.arithmetic import problem_key
from mdlm_study.tasks.sudoku import generate_puzzles
from mdlm_study.templates import ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE


def _load(name):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_decoding = _load("bench_decoding")
bench_answer_source = _load("bench_answer_source")
bench_faithfulness = _load("bench_faithfulness")
SCHEMA = {"sampler", "tokens_per_step", "med_lambda", "exit_gamma", "mean_nfe", "accuracy", "n_problems"}


def test_sudoku_records_keep_issue_3_schema_and_decode_k_cells_per_pass(tiny_model, tokenizer):
    puzzles = generate_puzzles(5, seed=3)
    for config in bench_decoding.SUDOKU_CONFIGS:
        rec = bench_decoding.record(config, summarize(evaluate_sudoku(tiny_model, tokenizer, puzzles, SUDOKU_TEMPLATE, **config)))
        assert SCHEMA <= set(rec) and rec["n_problems"] == 5 and rec["trace_accuracy"] is None
        if config["sampler"] == "entropy":  # 16 cells, k per pass
            assert rec["mean_nfe"] == 16 / config["tokens_per_step"]
        if config["sampler"] == "med":  # at least one cell per pass, at most one pass per cell
            assert 1 <= rec["mean_nfe"] <= 16 and rec["med_lambda"] == config["med_lambda"]


def test_answer_source_two_step_problems_are_held_out_of_every_split(tmp_path):
    data = study_data(n_train=300, n_test=20, n_posterior=10, n_sudoku_train=10, n_sudoku_test=4, seed=0)
    write_study_data(data, tmp_path)
    sets = bench_answer_source.problem_sets(str(tmp_path), 20)
    assert sets[3] == read_problems(tmp_path / "arithmetic_test.jsonl")
    assert len(sets[2]) == 20 and all(len(p.ops) == 2 for p in sets[2])
    used = {problem_key(p) for p in data.arithmetic_train + data.arithmetic_test + data.arithmetic_posterior}
    assert not {problem_key(p) for p in sets[2]} & used


def fake_evaluate(items, *, sampler, tokens_per_step=1, med_lambda=0.0, exit_gamma=0.0, block_size=None):
    """A decoder with known accuracy and NFE per setting: larger lambda and gamma are faster and, past
    a point, less accurate (the first round(accuracy * n) problems are right)."""
    speedup = 1 if sampler == "entropy" else 1 + 2 * med_lambda + 4 * exit_gamma
    accuracy = 0.9 - 0.1 * max(0.0, med_lambda + exit_gamma - 0.6)
    n = len(items)
    return pd.DataFrame({"correct": [i < round(accuracy * n) for i in range(n)], "nfe": [28 / speedup] * n})


def test_med_exit_settings_are_chosen_on_the_development_split_then_reported_on_test():
    dev, test = list(range(200)), list(range(100))
    calls = []

    def evaluate_on(items, **config):
        calls.append(len(items))
        return fake_evaluate(items, **config)

    reference = evaluate_on(test, sampler="entropy", tokens_per_step=1)
    calls.clear()
    records = bench_decoding.selected_records(evaluate_on, dev, test, "dev.jsonl", {None: reference})
    assert [rec["selection_rule"] for rec in records] == list(bench_decoding.SELECTION_RULES)
    fastest, accurate = records
    # within 1 point of 0.9: lambda + gamma <= 0.7; the fewest NFE there is lambda 0.2 + gamma 0.5 (speed-up 3.4)
    assert (fastest["med_lambda"], fastest["exit_gamma"]) == (0.2, 0.5)
    # at >= 3.5x: 2 lambda + 4 gamma >= 2.5; the most accurate there is lambda 0.3, gamma 0.5 (0.88), and faster than 0.2/0.7
    assert (accurate["med_lambda"], accurate["exit_gamma"]) == (0.3, 0.5)
    assert accurate["accuracy"] == pytest.approx(0.88) and accurate["mean_nfe"] == pytest.approx(28 / 3.6)
    assert calls == [200] * (len(bench_decoding.SELECTION_GRID) + 1) + [100, 100]
    for rec in records:
        assert SCHEMA <= set(rec) and rec["selected_on"] == "dev.jsonl" and rec["n_problems"] == 100 and rec["dev_n_problems"] == 200
        assert (rec["dev_entropy_k1_accuracy"], rec["dev_entropy_k1_mean_nfe"]) == (0.9, 28)
        assert len(rec["dev_grid"]) == len(bench_decoding.SELECTION_GRID) and "paired_vs_block_k1" not in rec
        assert rec["paired_vs_entropy_k1"]["only_this"] == 0 and rec["block_size"] is None
    with pytest.raises(ValueError):  # the grid's fastest setting is 4.6x: nothing reaches 10x
        bench_decoding.most_accurate_at(pd.DataFrame(records[0]["dev_grid"]), 28, 10)


def test_a_selection_rule_nothing_satisfies_says_so_and_decodes_nothing_on_test(monkeypatch):
    monkeypatch.setitem(bench_decoding.SELECTION_RULES, "most_accurate_at_3.5x",
                        lambda table, accuracy, nfe: bench_decoding.most_accurate_at(table, nfe, 10.0))
    calls = []

    def evaluate_on(items, **config):
        calls.append(len(items))
        return fake_evaluate(items, **config)

    fastest, failed = bench_decoding.selected_records(evaluate_on, list(range(200)), list(range(100)), "dev.jsonl", block_size=8)
    assert fastest["accuracy"] is not None and calls.count(100) == 1
    assert failed["no_selection"].startswith("no setting uses 10.0x fewer NFE than 28.00")
    assert failed["accuracy"] is None and failed["mean_nfe"] is None and failed["block_size"] == 8 and "dev_grid" in failed


def test_settings_chosen_for_one_model_are_decoded_unchanged_on_another():
    source = bench_decoding.selected_records(fake_evaluate, list(range(200)), list(range(100)), "dev", block_size=8)
    source += bench_decoding.selected_records(fake_evaluate, list(range(200)), list(range(100)), "dev")
    source.append({**source[0], "no_selection": "nothing qualified"})  # skipped: it chose nothing
    chosen = bench_decoding.transfer_configs([{"sampler": "entropy"}] + source, "source.json")
    assert [rule for rule, _ in chosen] == ["fastest_within_1_point", "most_accurate_at_3.5x"] * 2
    assert chosen[0][1] == {"sampler": "med", "med_lambda": source[0]["med_lambda"], "exit_gamma": source[0]["exit_gamma"], "block_size": 8}
    assert "block_size" not in chosen[2][1]
    calls = []

    def evaluate_on(items, **config):
        calls.append(config)
        return fake_evaluate(items, **config)

    problems = list(range(50))
    references = {None: fake_evaluate(problems, sampler="entropy"), 8: fake_evaluate(problems, sampler="entropy", block_size=8)}
    records = bench_decoding.transferred_records(evaluate_on, problems, chosen, "source.json", references)
    assert len(calls) == len({tuple(sorted(c.items())) for _, c in chosen}) and len(records) == 4
    for rec, (rule, config) in zip(records, chosen, strict=True):
        table = fake_evaluate(problems, **config)
        assert rec["selection_rule"] == rule and rec["transferred_from"] == "source.json" and rec["n_problems"] == 50
        assert rec["accuracy"] == table["correct"].mean() and SCHEMA <= set(rec)
        assert rec["paired_vs_entropy_k1"] == bench_decoding.paired_with_reference(references[None], table)
        assert ("paired_vs_block_k1" in rec) == ("block_size" in config)
    with pytest.raises(ValueError, match="old.json holds no chosen MED \\+ exit setting"):
        bench_decoding.transfer_configs([{"sampler": "entropy"}, source[-1]], "old.json")
    with pytest.raises(ValueError, match="model.json is not a bench_decoding.py output .* got dict"):
        bench_decoding.transfer_configs({"exact_answer_accuracy": 0.8}, "model.json")


def test_med_exit_settings_chosen_in_blocks_decode_dev_and_test_in_those_blocks(tiny_model, tokenizer, problems):
    dev, test = problems[:6], problems[6:10]
    calls = []

    def evaluate_on(items, **config):
        calls.append((len(items), config))
        return evaluate_arithmetic(tiny_model, tokenizer, items, ARITHMETIC_TEMPLATE, **config)

    references = {None: evaluate_on(test, sampler="entropy", tokens_per_step=1),
                  8: evaluate_on(test, sampler="entropy", tokens_per_step=1, block_size=8)}
    calls.clear()
    records = bench_decoding.selected_records(evaluate_on, dev, test, "dev.jsonl", references, block_size=8)
    assert all(config.get("block_size") == 8 for _, config in calls)
    chosen = {(rec["med_lambda"], rec["exit_gamma"]) for rec in records if "no_selection" not in rec}
    assert [n for n, _ in calls] == [6] * (len(bench_decoding.SELECTION_GRID) + 1) + [4] * len(chosen)  # each chosen setting decoded once on test
    dev_in_blocks = summarize(evaluate_on(dev, sampler="entropy", tokens_per_step=1, block_size=8))["accuracy"]
    for rec in records:
        assert rec["block_size"] == 8 and rec["dev_entropy_k1_accuracy"] == dev_in_blocks
        if "no_selection" in rec:  # the untrained model never exits, so nothing may reach 3.5x
            assert rec["accuracy"] is None and rec["selection_rule"] == "most_accurate_at_3.5x"
            continue
        test_table = evaluate_on(test, **{k: rec[k] for k in ("sampler", "med_lambda", "exit_gamma", "block_size")})
        assert rec["paired_vs_block_k1"] == bench_decoding.paired_with_reference(references[8], test_table)
        assert rec["paired_vs_entropy_k1"] == bench_decoding.paired_with_reference(references[None], test_table)


def test_held_out_development_split_is_disjoint_from_the_held_out_test_set(tmp_path):
    data = study_data(n_train=300, n_test=20, n_posterior=10, n_sudoku_train=10, n_sudoku_test=4, seed=0)
    write_study_data(data, tmp_path)
    dev = bench_decoding.development_split(bench_decoding.DEV_HELD_OUT, str(tmp_path), 30, 20)
    assert len(dev) == 20 and dev == held_out_problems(tmp_path, 20, skip=bench_decoding.HELD_OUT_DEV_SKIP)
    test = held_out_problems(tmp_path, 30)
    assert not {problem_key(p) for p in dev} & {problem_key(p) for p in test}
    assert bench_decoding.development_split(str(tmp_path / "arithmetic_posterior.jsonl"), str(tmp_path), 0, 20) == data.arithmetic_posterior
    with pytest.raises(ValueError, match="--held-out 1501 would overlap the held-out development split"):
        bench_decoding.development_split(bench_decoding.DEV_HELD_OUT, str(tmp_path), 1501, 20)


def test_paired_record_counts_the_problems_only_one_rule_gets_right():
    reference = pd.DataFrame({"correct": [True, True, True, False, False, True]})
    other = pd.DataFrame({"correct": [False, False, True, True, False, True]})
    paired = bench_decoding.paired_with_reference(reference, other)
    assert (paired["only_reference"], paired["only_this"]) == (2, 1) and paired["p_value"] == 1.0
    assert bench_decoding.paired_with_reference(reference, reference) == {"only_reference": 0, "only_this": 0, "p_value": 1.0}


def test_faithfulness_records_cover_every_edit_and_decoding(tiny_model, tokenizer, problems):
    records = bench_faithfulness.measure(tiny_model, tokenizer, problems[:6], "tiny")
    counterfactual = [r for r in records if r["measure"] == "counterfactual"]
    decoded = [r for r in records if r["measure"] == "decoded"]
    assert [r["edit"] for r in counterfactual] == list(bench_faithfulness.EDITS)
    assert [(r["sampler"], r["tokens_per_step"]) for r in decoded] == [(c["sampler"], c["tokens_per_step"]) for c in bench_faithfulness.DECODINGS]
    for r in decoded:
        assert r["n_problems"] == 6 and 0 <= r["conclusion_accuracy"] <= 1 and 0 <= r["answer_is_conclusion"] <= 1
        for key in ("paired_correct", "paired_conclusion_correct"):
            assert r[key]["only_reference"] + r[key]["only_this"] <= 6 and 0 < r[key]["p_value"] <= 1
    assert decoded[0]["paired_correct"] == {"only_reference": 0, "only_this": 0, "p_value": 1.0}  # k = 1 against itself


def test_faithfulness_model_spec_names_the_bad_value():
    assert bench_faithfulness.model_spec("/tmp/seed1:default_6500_steps_seed1") == ("/tmp/seed1", "default_6500_steps_seed1")
    with pytest.raises(argparse.ArgumentTypeError, match="'default'"):
        bench_faithfulness.model_spec("default")


def test_block_records_are_paired_with_one_token_decoding_in_the_same_blocks(tiny_model, tokenizer, problems):
    def evaluate_on(items, **config):
        return evaluate_arithmetic(tiny_model, tokenizer, items, ARITHMETIC_TEMPLATE, **config)

    configs = [{"sampler": "entropy", "tokens_per_step": 1}, {"sampler": "entropy", "tokens_per_step": 1, "block_size": 8},
               {"sampler": "entropy", "tokens_per_step": 2, "block_size": 8},
               {"sampler": "med", "med_lambda": 0.2, "exit_gamma": 0.1, "block_size": 8}]
    records, references = bench_decoding.decode_records(evaluate_on, problems[:5], configs)
    reference = references[None]
    assert set(references) == {None, 8}
    med_in_blocks = evaluate_on(problems[:5], **configs[3])
    assert records[3]["paired_vs_block_k1"] == bench_decoding.paired_with_reference(evaluate_on(problems[:5], **configs[1]), med_in_blocks)
    assert records[3]["block_size"] == 8 and records[3]["exit_gamma"] == 0.1
    assert "paired_vs_block_k1" not in records[0]
    assert records[1]["paired_vs_block_k1"] == {"only_reference": 0, "only_this": 0, "p_value": 1.0}
    expected = bench_decoding.paired_with_reference(evaluate_on(problems[:5], **configs[1]), evaluate_on(problems[:5], **configs[2]))
    assert records[2]["paired_vs_block_k1"] == expected
    assert records[2]["paired_vs_entropy_k1"] == bench_decoding.paired_with_reference(reference, evaluate_on(problems[:5], **configs[2]))
    with pytest.raises(ValueError, match="reference"):
        bench_decoding.decode_records(evaluate_on, problems[:5], configs[1:])
    with pytest.raises(ValueError, match="blocks of 8"):
        bench_decoding.decode_records(evaluate_on, problems[:5], [configs[0], configs[2]])
