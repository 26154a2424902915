"""The decoding benchmark's protocol (mdlm_study.experiments.selection): the record schema on both tasks, the
(lambda, gamma) selection on a development split, the transfer of a choice to another model, the
held-out development split, and the paired records."""

from pathlib import Path

import pandas as pd
import pytest
from benchmark_helpers import run_script

from mdlm_study.core.records import read_records
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import SUDOKU_TEMPLATE
from mdlm_study.experiments import selection
from mdlm_study.experiments.evaluate import evaluate_sudoku, summarize
from mdlm_study.tasks.arithmetic import problem_key
from mdlm_study.tasks.data import held_out_problems, study_data, write_study_data
from mdlm_study.tasks.sudoku import generate_puzzles

ROOT = Path(__file__).parents[1]
SCHEMA = set(selection.SCHEMA)


def test_sudoku_records_keep_the_schema_and_decode_k_cells_per_pass(tiny_model, tokenizer):
    puzzles = generate_puzzles(5, seed=3)
    evaluate = selection.model_evaluator(tiny_model, tokenizer, template=SUDOKU_TEMPLATE, evaluator=evaluate_sudoku)
    for config in selection.SUDOKU_CONFIGS:
        rec = selection.record(config, summarize(evaluate(puzzles, config)))
        assert SCHEMA <= set(rec) and rec["n_problems"] == 5 and rec["trace_accuracy"] is None
        assert selection.config_of(rec) == config  # the record says how it was decoded
        if config.sampler == "entropy":  # 16 cells, k per pass
            assert rec["mean_nfe"] == 16 / config.tokens_per_step
        if config.sampler == "med":  # at least one cell per pass, at most one pass per cell
            assert 1 <= rec["mean_nfe"] <= 16 and rec["med_lambda"] == config.med_lambda


def fake_evaluate(items, config):
    """A decoder with known accuracy and NFE per setting: larger lambda and gamma are faster and, past
    a point, less accurate (the first round(accuracy * n) problems are right)."""
    lam, gamma = config.med_lambda or 0.0, config.exit_gamma or 0.0
    speedup = 1 if config.sampler == "entropy" else 1 + 2 * lam + 4 * gamma
    accuracy = 0.9 - 0.1 * max(0.0, lam + gamma - 0.6)
    n = len(items)
    return pd.DataFrame({"correct": [i < round(accuracy * n) for i in range(n)], "nfe": [28 / speedup] * n})


def test_med_exit_settings_are_chosen_on_the_development_split_then_reported_on_test():
    dev, test = list(range(200)), list(range(100))
    calls = []

    def evaluate(items, config):
        calls.append(len(items))
        return fake_evaluate(items, config)

    reference = evaluate(test, selection.REFERENCE)
    calls.clear()
    identity = {"model": "fake", "weights_sha256": "0" * 64, "problems_sha256": "1" * 64}
    records = selection.selected_records(evaluate, dev, test, "dev.jsonl", {None: reference}, identity=identity)
    assert [rec["selection_rule"] for rec in records] == list(selection.SELECTION_RULES)
    fastest, accurate = records
    # within 1 point of 0.9: lambda + gamma <= 0.7; the fewest NFE there is lambda 0.2 + gamma 0.5 (speed-up 3.4)
    assert (fastest["med_lambda"], fastest["exit_gamma"]) == (0.2, 0.5)
    # at >= 3.5x: 2 lambda + 4 gamma >= 2.5; the most accurate there is lambda 0.3, gamma 0.5 (0.88), and faster than 0.2/0.7
    assert (accurate["med_lambda"], accurate["exit_gamma"]) == (0.3, 0.5)
    assert accurate["accuracy"] == pytest.approx(0.88) and accurate["mean_nfe"] == pytest.approx(28 / 3.6)
    assert calls == [200] * (len(selection.SELECTION_GRID) + 1) + [100, 100]
    for rec in records:
        assert SCHEMA <= set(rec) and rec["selected_on"] == "dev.jsonl" and rec["n_problems"] == 100 and rec["dev_n_problems"] == 200
        assert (rec["dev_entropy_k1_accuracy"], rec["dev_entropy_k1_mean_nfe"]) == (0.9, 28)
        assert len(rec["dev_grid"]) == len(selection.SELECTION_GRID) and "paired_vs_block_k1" not in rec
        assert rec["paired_vs_entropy_k1"]["only_this"] == 0 and rec["block_size"] is None
        assert {k: rec[k] for k in identity} == identity and rec["exit_rule"] == "entropy"
    with pytest.raises(ValueError):  # the grid's fastest setting is 4.6x: nothing reaches 10x
        selection.most_accurate_at(pd.DataFrame(records[0]["dev_grid"]), 28, 10)


def test_a_selection_rule_nothing_satisfies_says_so_and_decodes_nothing_on_test(monkeypatch):
    monkeypatch.setitem(selection.SELECTION_RULES, "most_accurate_at_3.5x",
                        lambda table, accuracy, nfe: selection.most_accurate_at(table, nfe, 10.0))
    calls = []

    def evaluate(items, config):
        calls.append((len(items), config))
        return fake_evaluate(items, config)

    fastest, failed = selection.selected_records(evaluate, list(range(200)), list(range(100)), "dev.jsonl", block_size=8)
    assert fastest["accuracy"] is not None and [n for n, _ in calls].count(100) == 1
    assert all(config.block_size == 8 for _, config in calls)
    assert failed["no_selection"].startswith("no setting uses 10.0x fewer NFE than 28.00")
    assert failed["accuracy"] is None and failed["mean_nfe"] is None and failed["block_size"] == 8 and "dev_grid" in failed
    assert failed["med_lambda"] is None and SCHEMA <= set(failed)


def test_settings_chosen_for_one_model_are_decoded_unchanged_on_another():
    source = selection.selected_records(fake_evaluate, list(range(200)), list(range(100)), "dev", block_size=8)
    source += selection.selected_records(fake_evaluate, list(range(200)), list(range(100)), "dev")
    source.append({**source[0], "no_selection": "nothing qualified"})  # skipped: it chose nothing
    chosen = selection.transfer_configs([{"sampler": "entropy"}] + source, "source.json")
    assert [rule for rule, _ in chosen] == ["fastest_within_1_point", "most_accurate_at_3.5x"] * 2
    assert chosen[0][1] == DecodeConfig("med", med_lambda=source[0]["med_lambda"], exit_gamma=source[0]["exit_gamma"], block_size=8)
    assert chosen[2][1].block_size is None
    calls = []

    def evaluate(items, config):
        calls.append(config)
        return fake_evaluate(items, config)

    problems = list(range(50))
    references = {None: fake_evaluate(problems, selection.REFERENCE), 8: fake_evaluate(problems, selection.REFERENCE.replace(block_size=8))}
    records = selection.transferred_records(evaluate, problems, chosen, "source.json", references)
    assert len(calls) == len({c for _, c in chosen}) and len(records) == 4
    for rec, (rule, config) in zip(records, chosen, strict=True):
        table = fake_evaluate(problems, config)
        assert rec["selection_rule"] == rule and rec["transferred_from"] == "source.json" and rec["n_problems"] == 50
        assert rec["accuracy"] == table["correct"].mean() and SCHEMA <= set(rec)
        assert rec["paired_vs_entropy_k1"] == selection.paired_with_reference(references[None], table)
        assert ("paired_vs_block_k1" in rec) == (config.block_size is not None)
    with pytest.raises(ValueError, match="old.json holds no chosen MED \\+ exit setting"):
        selection.transfer_configs([{"sampler": "entropy"}, source[-1]], "old.json")
    with pytest.raises(ValueError, match="model.json is not a decoding benchmark output .* got dict"):
        selection.transfer_configs({"exact_answer_accuracy": 0.8}, "model.json")


def test_the_committed_seed_0_selections_read_back_as_configs():
    """Records written before configs were objects (no exit_rule key) give the configs they were decoded with."""
    records = read_records(ROOT / "benchmarks" / "results" / "default" / "decoding_held_out_1500.json")
    chosen = dict((rule, config) for rule, config in selection.transfer_configs(records, "seed 0") if config.block_size is None)
    assert chosen == {"fastest_within_1_point": DecodeConfig("med", med_lambda=0.3, exit_gamma=1.0),
                      "most_accurate_at_3.5x": DecodeConfig("med", med_lambda=0.2, exit_gamma=0.5)}
    assert [selection.config_of(rec) for rec in records[:len(selection.CONFIGS)]] == selection.CONFIGS


def test_med_exit_settings_chosen_in_blocks_decode_dev_and_test_in_those_blocks(tiny_model, tokenizer, problems):
    dev, test = problems[:6], problems[6:10]
    calls = []
    model_evaluate = selection.model_evaluator(tiny_model, tokenizer)

    def evaluate(items, config):
        calls.append((len(items), config))
        return model_evaluate(items, config)

    references = {None: evaluate(test, selection.REFERENCE), 8: evaluate(test, selection.REFERENCE.replace(block_size=8))}
    calls.clear()
    records = selection.selected_records(evaluate, dev, test, "dev.jsonl", references, block_size=8)
    assert all(config.block_size == 8 for _, config in calls)
    chosen = {(rec["med_lambda"], rec["exit_gamma"]) for rec in records if "no_selection" not in rec}
    assert [n for n, _ in calls] == [6] * (len(selection.SELECTION_GRID) + 1) + [4] * len(chosen)  # each chosen setting decoded once on test
    dev_in_blocks = summarize(evaluate(dev, selection.REFERENCE.replace(block_size=8)))["accuracy"]
    for rec in records:
        assert rec["block_size"] == 8 and rec["dev_entropy_k1_accuracy"] == dev_in_blocks
        if "no_selection" in rec:  # the untrained model never exits, so nothing may reach 3.5x
            assert rec["accuracy"] is None and rec["selection_rule"] == "most_accurate_at_3.5x"
            continue
        test_table = evaluate(test, selection.config_of(rec))
        assert rec["paired_vs_block_k1"] == selection.paired_with_reference(references[8], test_table)
        assert rec["paired_vs_entropy_k1"] == selection.paired_with_reference(references[None], test_table)


def test_held_out_development_split_is_disjoint_from_the_held_out_test_set(tmp_path):
    data = study_data(sizes={"arithmetic": {"train": 300, "test": 20, "posterior": 10}, "sudoku": {"train": 10, "test": 4}}, tasks=("arithmetic", "sudoku"), seed=0)
    write_study_data(data, tmp_path)
    dev = selection.development_split(selection.DEV_HELD_OUT, str(tmp_path), 30, 20)
    assert len(dev) == 20 and dev == held_out_problems(tmp_path, 20, skip=selection.HELD_OUT_DEV_SKIP)
    test = held_out_problems(tmp_path, 30)
    assert not {problem_key(p) for p in dev} & {problem_key(p) for p in test}
    assert selection.development_split(str(tmp_path / "arithmetic_posterior.jsonl"), str(tmp_path), 0, 20) == data.arithmetic_posterior
    with pytest.raises(ValueError, match="--held-out 1501 would overlap the held-out development split"):
        selection.development_split(selection.DEV_HELD_OUT, str(tmp_path), 1501, 20)


def test_paired_record_counts_the_problems_only_one_rule_gets_right():
    reference = pd.DataFrame({"correct": [True, True, True, False, False, True]})
    other = pd.DataFrame({"correct": [False, False, True, True, False, True]})
    paired = selection.paired_with_reference(reference, other)
    assert (paired["only_reference"], paired["only_this"]) == (2, 1) and paired["p_value"] == 1.0
    assert selection.paired_with_reference(reference, reference) == {"only_reference": 0, "only_this": 0, "p_value": 1.0}


def test_block_records_are_paired_with_one_token_decoding_in_the_same_blocks(tiny_model, tokenizer, problems):
    evaluate = selection.model_evaluator(tiny_model, tokenizer)
    configs = [selection.REFERENCE, selection.REFERENCE.replace(block_size=8), DecodeConfig("entropy", tokens_per_step=2, block_size=8),
               DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1, block_size=8)]
    tables = {}
    records, references = selection.sweep_records(evaluate, problems[:5], configs, tables=tables, log=None)
    reference = references[None]
    assert set(references) == {None, 8} and set(tables) == set(configs)
    med_in_blocks = evaluate(problems[:5], configs[3])
    assert records[3]["paired_vs_block_k1"] == selection.paired_with_reference(evaluate(problems[:5], configs[1]), med_in_blocks)
    assert records[3]["block_size"] == 8 and records[3]["exit_gamma"] == 0.1
    assert "paired_vs_block_k1" not in records[0]
    assert records[1]["paired_vs_block_k1"] == {"only_reference": 0, "only_this": 0, "p_value": 1.0}
    expected = selection.paired_with_reference(evaluate(problems[:5], configs[1]), evaluate(problems[:5], configs[2]))
    assert records[2]["paired_vs_block_k1"] == expected
    assert records[2]["paired_vs_entropy_k1"] == selection.paired_with_reference(reference, evaluate(problems[:5], configs[2]))
    with pytest.raises(ValueError, match="reference"):
        selection.sweep_records(evaluate, problems[:5], configs[1:])
    with pytest.raises(ValueError, match="blocks of 8"):
        selection.sweep_records(evaluate, problems[:5], [configs[0], configs[2]])


def test_the_decoding_cli_is_a_thin_script_over_the_package():
    run = run_script("bench_decoding", "--help")
    assert run.returncode == 0 and "--transfer" in run.stdout and "--select-on" in run.stdout
    assert "def " not in (ROOT / "benchmarks" / "bench_decoding.py").read_text().replace("def main", "")
