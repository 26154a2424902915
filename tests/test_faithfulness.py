import random
import re

import pandas as pd
import pytest
import torch
from benchmark_helpers import benchmark_module, run_script

from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE, SpecialTokens, Template, answer_ids
from mdlm_study.experiments.faithfulness import (
    DECODINGS,
    EDITS,
    conclusion,
    counterfactual_answers,
    edited_trace,
    faithfulness_records,
    fixed_k_readings,
    follow_rates,
    self_consistent,
    with_conclusions,
    written_reasoning,
)
from mdlm_study.tasks.arithmetic import problem_key
from mdlm_study.tasks.data import read_problems, study_data, write_study_data

TEMPLATE = Template(reasoning_len=40, answer_len=4, delimiter="\n####", answer_prefix=" ")


class AnswerWriter:
    """A toy model that writes ``choose(row_text)`` into the answer slot (the row's last
    ``answer_len`` positions) with certainty and predicts nothing else."""

    def __init__(self, tokenizer, choose):
        self.tokenizer, self.choose = tokenizer, choose
        self.special = SpecialTokens.from_tokenizer(tokenizer)

    def __call__(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, len(self.tokenizer))
        for row, ids in enumerate(input_ids):
            answer = self.choose(self.tokenizer.decode(ids, skip_special_tokens=True))
            slot = answer_ids(self.tokenizer, answer, TEMPLATE, self.special)
            logits[row, -TEMPLATE.answer_len:].scatter_(-1, torch.tensor(slot)[:, None], 50.0)
        return logits


def reader(tokenizer):
    """Answers with the written trace's last result."""
    return AnswerWriter(tokenizer, lambda text: re.findall(r"=(\d+)", text)[-1])


def solver(tokenizer, problems):
    """Answers with the true answer of the question in the row, whatever the trace says."""
    answers = {p.question: p.answer for p in problems}
    return AnswerWriter(tokenizer, lambda text: next(a for q, a in answers.items() if text.startswith(q)))


def test_self_consistent_checks_the_written_operands_not_the_problem():
    assert self_consistent("3+36=39") is True
    assert self_consistent("3+36=47") is False
    assert self_consistent("12-5=7") is True
    assert self_consistent("2*22=44") is True
    assert self_consistent("so the answer") is None


def test_conclusion_is_the_last_equations_result():
    assert conclusion(["4+44=48", "48-7=41"]) == "41"
    assert conclusion(["4+44=48", "so"]) is None
    assert conclusion([]) is None


def test_written_reasoning_separates_the_answer_from_the_traces_conclusion(problems):
    a, b = problems[0], problems[1]
    wrong = str(int(b.answer) + 1)
    table = pd.DataFrame({
        "reasoning": [a.reasoning, "1+1=2\n2+" + wrong + "=" + wrong],  # b: a garbled step, a wrong conclusion
        "predicted": [a.answer, b.answer],
        "correct": [True, True],
        "trace_correct": [True, False],
    })
    rows = with_conclusions(table, [a, b])
    assert rows["conclusion"].tolist() == [a.answer, wrong]
    assert rows["conclusion_correct"].tolist() == [True, False]
    assert rows["n_equations"].tolist() == [len(a.steps), 2] and rows["n_self_consistent"].tolist() == [len(a.steps), 1]
    summary = written_reasoning(rows)
    assert summary["accuracy"] == 1.0
    assert summary["conclusion_accuracy"] == 0.5
    assert summary["answer_is_conclusion"] == 0.5
    n_lines = len(a.steps) + 2
    assert summary["self_consistent_steps"] == pytest.approx((len(a.steps) + 1) / n_lines)
    assert summary["trace_accuracy"] == 0.5
    with pytest.raises(ValueError, match="2 rows for 1 problems"):
        with_conclusions(table, [a])
    with pytest.raises(ValueError, match="the table is empty"):
        with_conclusions(table.iloc[:0], [])


def test_edited_trace_changes_the_conclusion_only_when_the_edit_reaches_it(problems):
    problem = next(p for p in problems if len(p.steps) >= 2)
    rng = random.Random(0)
    assert edited_trace(problem, "gold", rng) == tuple(problem.steps)
    last = edited_trace(problem, "corrupt_last", rng)
    assert last[:-1] == tuple(problem.steps[:-1]) and conclusion(last) != problem.answer
    assert conclusion(edited_trace(problem, "corrupt_first", rng)) != problem.answer
    unpropagated = edited_trace(problem, "corrupt_first_unpropagated", rng)
    assert unpropagated[1:] == tuple(problem.steps[1:]) and unpropagated[0] != problem.steps[0]
    with pytest.raises(ValueError, match="'corrupt_middle'"):
        edited_trace(problem, "corrupt_middle", rng)


def test_a_model_that_reads_the_trace_follows_a_corrupted_conclusion(tokenizer, problems):
    chains = [p for p in problems if len(p.steps) >= 2][:12]
    table = counterfactual_answers(reader(tokenizer), tokenizer, chains, TEMPLATE, edit="corrupt_last")
    assert len(table) == len(chains)
    assert follow_rates(table) == {"edit": "corrupt_last", "n": len(chains), "answer_is_true": 0.0, "answer_is_conclusion": 1.0}
    gold = follow_rates(counterfactual_answers(reader(tokenizer), tokenizer, chains, TEMPLATE, edit="gold"))
    assert gold["answer_is_true"] == gold["answer_is_conclusion"] == 1.0


def test_a_model_that_solves_the_question_ignores_the_trace(tokenizer, problems):
    chains = [p for p in problems if len(p.steps) >= 2][:12]
    for edit in ("corrupt_last", "corrupt_first"):
        rates = follow_rates(counterfactual_answers(solver(tokenizer, chains), tokenizer, chains, TEMPLATE, edit=edit, batch_size=5))
        assert (rates["answer_is_true"], rates["answer_is_conclusion"]) == (1.0, 0.0)


def test_counterfactual_answers_do_not_depend_on_the_batch_size(tiny_model, tokenizer, problems):
    chains = problems[:9]
    one = counterfactual_answers(tiny_model, tokenizer, chains, TEMPLATE, edit="corrupt_first", seed=3, batch_size=256)
    many = counterfactual_answers(tiny_model, tokenizer, chains, TEMPLATE, edit="corrupt_first", seed=3, batch_size=2)
    pd.testing.assert_frame_equal(one, many)


def test_counterfactual_answers_reject_bad_input(tokenizer, problems):
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        counterfactual_answers(reader(tokenizer), tokenizer, problems[:2], TEMPLATE, edit="gold", batch_size=0)
    with pytest.raises(ValueError, match="no gold trace fits the reasoning slot \\(2 tokens\\)"):
        counterfactual_answers(reader(tokenizer), tokenizer, problems[:2], Template(reasoning_len=2, answer_len=4, delimiter="\n####", answer_prefix=" "), edit="gold")
    with pytest.raises(ValueError, match="the table is empty"):
        follow_rates(pd.DataFrame())


def test_fixed_k_readings_pair_each_k_with_k1_on_both_readings(problems):
    chains = problems[:4]
    truth = [p.answer for p in chains]
    conclusions = {1: truth, 2: truth[:2] + ["0", "0"], 4: ["0"] * 4}  # the written reasoning breaks as k grows
    answers = {1: truth, 2: truth, 4: truth[:3] + ["0"]}  # the answer slot repairs most of it

    def decoded(k):
        return pd.DataFrame({"reasoning": [f"1+1={c}" for c in conclusions[k]], "predicted": answers[k],
                             "correct": [a == t for a, t in zip(answers[k], truth, strict=True)], "trace_correct": [False] * 4})

    table = fixed_k_readings({k: decoded(k) for k in (1, 2, 4)}, chains).set_index("tokens_per_step")
    assert table["conclusion_accuracy"].tolist() == [1.0, 0.5, 0.0]
    assert table["conclusion_drop_points"].tolist() == [0.0, -50.0, -100.0]
    assert table["answer_drop_points"].tolist() == [0.0, 0.0, -25.0]
    assert table.loc[4, "conclusion_p_value"] == pytest.approx(2 * 0.5**4)  # 4 discordant, all one way
    assert table.loc[2, "answer_p_value"] == 1.0 and table.loc[4, "answer_is_conclusion"] == 0.25  # only the unrepaired row
    with pytest.raises(ValueError, match=r"tables must hold k = 1 \(the reference\), got k = \[2, 4\]"):
        fixed_k_readings({k: decoded(k) for k in (2, 4)}, chains)


def test_faithfulness_records_cover_every_edit_and_decoding(tiny_model, tokenizer, problems):
    records = faithfulness_records(tiny_model, tokenizer, problems[:6], "tiny", ARITHMETIC_TEMPLATE)
    counterfactual = [r for r in records if r["measure"] == "counterfactual"]
    decoded = [r for r in records if r["measure"] == "decoded"]
    assert [r["edit"] for r in counterfactual] == list(EDITS)
    assert [(r["sampler"], r["tokens_per_step"]) for r in decoded] == [(c.sampler, c.tokens_per_step) for c in DECODINGS]
    for r in decoded:
        assert r["n_problems"] == 6 and 0 <= r["conclusion_accuracy"] <= 1 and 0 <= r["answer_is_conclusion"] <= 1
        for key in ("paired_correct", "paired_conclusion_correct"):
            assert r[key]["only_reference"] + r[key]["only_this"] <= 6 and 0 < r[key]["p_value"] <= 1
    assert decoded[0]["paired_correct"] == {"only_reference": 0, "only_this": 0, "p_value": 1.0}  # k = 1 against itself


def test_answer_source_two_step_problems_are_held_out_of_every_split(tmp_path):
    data = study_data(sizes={"arithmetic": {"train": 300, "test": 20, "posterior": 10}, "sudoku": {"train": 10, "test": 4}}, tasks=("arithmetic", "sudoku"), seed=0)
    write_study_data(data, tmp_path)
    sets = benchmark_module("bench_answer_source").answer_source_problems(str(tmp_path), 20)
    assert sets[3] == read_problems(tmp_path / "arithmetic_test.jsonl")
    assert len(sets[2]) == 20 and all(len(p.ops) == 2 for p in sets[2])
    used = {problem_key(p) for p in data.arithmetic_train + data.arithmetic_test + data.arithmetic_posterior}
    assert not {problem_key(p) for p in sets[2]} & used


def test_the_faithfulness_cli_names_a_bad_model_spec():
    done = run_script("bench_faithfulness", "--model", "default")
    assert done.returncode == 2 and "CHECKPOINTS:FOLDER, got 'default'" in done.stderr


def test_answer_anatomy_sorts_each_problem_by_its_answer_and_its_written_conclusion():
    from mdlm_study.experiments.faithfulness import answer_anatomy

    # problems: right/right, right/right, answer off a right conclusion, right answer past a wrong one, both wrong
    correct = [True, True, False, True, False]
    conclusion = [True, True, True, False, False]
    anatomy = answer_anatomy(correct, conclusion)
    assert anatomy == {"n_problems": 5, "answer_accuracy": 0.6, "conclusion_accuracy": 0.6, "both_right": 0.4,
                       "answer_off_right_reasoning": 0.2, "answer_past_wrong_reasoning": 0.2, "both_wrong": 0.2}
    with pytest.raises(ValueError, match="one conclusion per answer, at least one: 2 answers, 3 conclusions"):
        answer_anatomy([True, False], [True, False, True])
    with pytest.raises(ValueError, match="0 answers, 0 conclusions"):
        answer_anatomy([], [])


def test_anatomy_span_is_the_lowest_and_highest_share_over_seeds():
    from mdlm_study.experiments.faithfulness import anatomy_span, answer_anatomy

    seeds = [answer_anatomy([True, True, False, False], [True, True, True, False]),  # answers 0.5, both wrong 0.25
             answer_anatomy([True, True, True, False], [True, True, True, False])]  # answers 0.75, both wrong 0.25
    assert anatomy_span(seeds, "answer_accuracy") == (0.5, 0.75)
    assert anatomy_span(iter(seeds), "both_wrong") == (0.25, 0.25)
    with pytest.raises(ValueError, match="each with 'conclusion_rate'; got 2 anatomies"):
        anatomy_span(seeds, "conclusion_rate")
    with pytest.raises(ValueError, match="got 0 anatomies"):
        anatomy_span([], "answer_accuracy")
