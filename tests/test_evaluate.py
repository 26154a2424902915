"""Teacher-forced accuracy by token class (evaluate.teacher_forced_accuracy): oracles whose errors are known; one grader per task (evaluate.grade_answers)."""

import pytest
import torch

from mdlm_study.engine.templates import Template, build_canvas
from mdlm_study.experiments.evaluate import (
    TOKEN_CLASSES,
    grade_answers,
    teacher_forced_accuracy,
    token_classes,
    units_digit_steps,
)
from mdlm_study.tasks.benchmark_data import BenchmarkProblem
from mdlm_study.tasks.sudoku import generate_puzzles

TEMPLATE = Template(reasoning_len=24, answer_len=4, delimiter="\n####", answer_prefix=" ")


def gold_canvas(tokenizer, problems):
    return build_canvas(tokenizer, [p.question for p in problems], TEMPLATE, answers=[p.answer for p in problems],
                        reasonings=[p.reasoning for p in problems])


class Oracle:
    """Predicts the gold canvas at every position, except (optionally) a wrong token at the
    positions of one token class."""

    def __init__(self, gold, vocab: int, wrong: torch.Tensor | None = None):
        self.gold, self.vocab, self.wrong = gold, vocab, wrong

    def __call__(self, input_ids, attention_mask=None):
        target = self.gold.clone()
        if self.wrong is not None:
            target[self.wrong] = (target[self.wrong] + 1) % self.vocab
        return torch.nn.functional.one_hot(target, self.vocab).float() * 10


def test_token_classes_split_result_digits(tokenizer, problems):
    canvas = gold_canvas(tokenizer, problems[:1])
    classes = token_classes(tokenizer, canvas.input_ids, canvas)[0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(canvas.input_ids[0].tolist())
    reasoning = [(t, c) for t, c in zip(tokens, classes, strict=True) if c in (0, 1, 2)]
    step = problems[0].reasoning.split("\n")[0].replace(" ", "")  # e.g. "23-5=18"
    result = step.split("=")[1]
    first = [c for _, c in reasoning[: len(step)]]
    assert first[step.index("=") + 1 :] == [1] * (len(result) - 1) + [0]  # higher digits, then the units digit
    assert set(first[: step.index("=") + 1]) == {2}
    assert all(c == 3 for t, c in zip(tokens, classes, strict=True) if c == 3) and 3 in classes


def test_oracle_is_perfect_and_errors_land_in_their_class(tokenizer, problems):
    batch = [p for p in problems if p.reasoning][:12]
    canvas = gold_canvas(tokenizer, batch)
    perfect = teacher_forced_accuracy(Oracle(canvas.input_ids, len(tokenizer)), tokenizer, batch, TEMPLATE)
    n_steps = max(len(p.steps) for p in batch)
    assert perfect == {**{name: 1.0 for name in TOKEN_CLASSES}, "units_digit_by_step": [1.0] * n_steps}
    units = token_classes(tokenizer, canvas.input_ids, canvas) == 0
    flawed = teacher_forced_accuracy(Oracle(canvas.input_ids, len(tokenizer), wrong=units), tokenizer, batch, TEMPLATE)
    assert flawed == {"result_units_digit": 0.0, "result_higher_digits": 1.0, "other_reasoning": 1.0, "answer": 1.0,
                      "units_digit_by_step": [0.0] * n_steps}


def test_units_digit_by_step_isolates_the_step_the_errors_are_in(tokenizer, problems):
    batch = [p for p in problems if len(p.steps) == 3][:8]
    canvas = gold_canvas(tokenizer, batch)
    classes = token_classes(tokenizer, canvas.input_ids, canvas)
    steps = units_digit_steps(classes)
    assert ((steps >= 0).sum(1) == 3).all()  # one units digit per step, in every row
    assert ((steps >= 0) == (classes == 0)).all()
    second = steps == 1
    flawed = teacher_forced_accuracy(Oracle(canvas.input_ids, len(tokenizer), wrong=second), tokenizer, batch, TEMPLATE)
    assert flawed["units_digit_by_step"] == [1.0, 0.0, 1.0]
    assert flawed["result_units_digit"] == pytest.approx(2 / 3)


def test_grade_answers_uses_each_tasks_grader(problems):
    gsm8k = [BenchmarkProblem("q", "2 * 617 = 1234\n#### 1,234", "g0"), BenchmarkProblem("q", "#### 7", "g1")]
    assert grade_answers("gsm8k", gsm8k, ["1234", "7.0"]) == [True, True]  # a string comparison would say no to both
    assert grade_answers("gsm8k", gsm8k, ["1235", "seven"]) == [False, False]
    assert grade_answers("arithmetic", problems[:2], [problems[0].answer, problems[0].answer + "0"]) == [True, False]
    puzzle = generate_puzzles(1, seed=0)[0]
    assert grade_answers("sudoku", [puzzle], [" ".join(puzzle.solution)]) == [True]
    with pytest.raises(ValueError, match="unknown task 'math'"):
        grade_answers("math", gsm8k, ["1", "2"])
    with pytest.raises(ValueError, match="2 problems but 1 answers"):
        grade_answers("gsm8k", gsm8k, ["1"])


@pytest.mark.parametrize("sampler, settings, passes", [("l2r", {}, None), ("med", {"med_lambda": 1.0}, 2)])
def test_summary_has_tokens_per_forward_and_aup(tokenizer, problems, sampler, settings, passes):
    """An oracle decodes every mask correctly: left to right takes one pass per mask (1 token per
    forward, AUP = 1 × 100); MED with a loose λ takes two (the reasoning, then the answer slot)."""
    from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize

    gold = gold_canvas(tokenizer, problems[:3])
    vocab = len(tokenizer)
    table = evaluate_arithmetic(Oracle(gold.input_ids, vocab), tokenizer, problems[:3], TEMPLATE, sampler=sampler, **settings)
    masks = (build_canvas(tokenizer, [p.question for p in problems[:3]], TEMPLATE).input_ids == gold.special.mask_id).sum(1)
    assert table["n_decoded"].tolist() == masks.tolist()
    summary = summarize(table)
    expected = masks.sum().item() / (masks.sum().item() if passes is None else passes * 3)
    assert summary["accuracy"] == 1.0 and summary["tokens_per_forward"] == pytest.approx(expected)
    assert summary["aup"] == pytest.approx(100 * expected)
