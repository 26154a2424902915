"""GSM8K traces checked by their equations, and corrupted at a known calculator annotation."""

import random
from fractions import Fraction
from pathlib import Path

import pytest

from mdlm_study.experiments.scoring import GSM8K_LABELS, scoring_items
from mdlm_study.tasks.benchmark_data import BenchmarkProblem, load_gsm8k
from mdlm_study.tasks.gsm8k import (
    check_step,
    conclusion,
    corrupt_gsm8k_trace,
    corruptible_steps,
    equation_holds,
    evaluate_expression,
    grade_gsm8k_trace,
    gsm8k_item,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NATALIA = BenchmarkProblem(
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many altogether?",
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    "natalia")


class Plus:
    """An rng whose choice is always the offset +1 (the corruption's one random draw)."""

    def choice(self, seq):
        assert 1 in seq
        return 1


def items():
    return [gsm8k_item(p) for p in load_gsm8k(FIXTURES / "gsm8k_sample.jsonl") + load_gsm8k(FIXTURES / "gsm8k_short.jsonl")]


@pytest.mark.parametrize(("expression", "value"), [("20*.8", Fraction(16)), ("$1,200 / 4", Fraction(300)), ("15% * 80", Fraction(12)),
                                                   ("2**3", Fraction(8)), ("2^3", Fraction(8)), ("(3+4)*2", Fraction(14)),
                                                   ("10", Fraction(10)), ("7/2", Fraction(7, 2)), ("-3+1", Fraction(-2))])
def test_calculator_expressions_evaluate_exactly(expression, value):
    assert evaluate_expression(expression) == value


@pytest.mark.parametrize("expression", ["1/0", "abc", "2**100", "__import__('os')", "", "3 +", "2**0.5"])
def test_what_is_not_plain_arithmetic_is_not_evaluated(expression):
    assert evaluate_expression(expression) is None


def test_an_equation_holds_at_the_precision_its_result_is_written_in():
    assert equation_holds("100/3", "33.33") and equation_holds("48/2", "24") and equation_holds("2/3", ".67")
    assert equation_holds("48/2", "25") is False and equation_holds("100/3", "33.34") is False
    assert equation_holds("x", "3") is None and equation_holds("3+4", "seven") is None


def test_a_step_is_checked_by_its_annotations_else_its_plain_equations():
    assert check_step("He beats 20*.8=<<20*.8=16>>16 people") is True
    assert check_step("He beats 20*.8=<<20*.8=15>>15 people") is False
    assert check_step("Natalia sold 48 / 2 = 24 clips") is True  # a model's trace writes no annotations
    assert check_step("then 24 + 48 = 73 clips") is False
    assert check_step("She sold half as many in May.") is None  # nothing to check: neither right nor wrong


def test_gold_solutions_grade_correct_and_conclude_with_their_answer():
    for item in items():
        grade = grade_gsm8k_trace(item, item.steps)
        assert grade.correct and grade.first_wrong is None and grade.n_correct_steps == len(item.steps), item
    assert conclusion(["So she will be 4 + 4 = <<4+4=8>>8 years old 4 years from now."]) == 8  # the equation's result, not the last number


def test_the_first_false_equation_or_a_wrong_conclusion_is_the_first_wrong_step():
    natalia = gsm8k_item(NATALIA)
    assert natalia.answer == "72" and natalia.steps[0].startswith("Natalia sold 48/2")
    slip = grade_gsm8k_trace(natalia, ["48/2 = 25 clips in May", "48+25 = 73 clips", "The answer is 73"])
    assert (slip.correct, slip.first_wrong, slip.n_correct_steps) == (False, 0, 0)
    wrong_end = grade_gsm8k_trace(natalia, ["48/2 = 24 clips in May", "48+24 = 72 clips", "so 70"])
    assert (wrong_end.correct, wrong_end.first_wrong, wrong_end.n_checked) == (False, 2, 2)
    assert grade_gsm8k_trace(natalia, []).first_wrong == 0 and not grade_gsm8k_trace(natalia, []).correct


def test_corruption_changes_one_result_and_carries_it_into_the_later_steps():
    natalia = gsm8k_item(NATALIA)
    bad = corrupt_gsm8k_trace(natalia, natalia.steps, step=0, rng=Plus())
    assert bad == ("Natalia sold 48/2 = <<48/2=25>>25 clips in May.",
                   "Natalia sold 48+25 = <<48+25=73>>73 clips altogether in April and May.")
    kept = corrupt_gsm8k_trace(natalia, natalia.steps, step=0, rng=Plus(), propagate=False)
    assert kept == ("Natalia sold 48/2 = <<48/2=25>>25 clips in May.", natalia.steps[1])


@pytest.mark.parametrize("propagate", [True, False])
def test_every_corruption_is_first_wrong_at_its_step(propagate):
    for item in items():
        for step in corruptible_steps(item.steps):
            for seed in range(4):
                bad = corrupt_gsm8k_trace(item, item.steps, step=step, rng=random.Random(seed), propagate=propagate)
                assert bad[:step] == item.steps[:step] and bad[step] != item.steps[step]
                assert grade_gsm8k_trace(item, bad).first_wrong == step, (item.uid, step, bad)
                if propagate:
                    assert all(check_step(s) is not False for s in bad[step + 1:]), bad  # a consistent chain after the slip
                else:
                    assert bad[step + 1:] == item.steps[step + 1:]


def test_bad_input_is_refused_by_name():
    natalia = gsm8k_item(NATALIA)
    with pytest.raises(ValueError, match="step 2 has no true"):
        corrupt_gsm8k_trace(natalia, natalia.steps + ("So 72 in all.",), step=2, rng=random.Random(0))
    with pytest.raises(ValueError, match="has no '#### n'"):
        gsm8k_item(BenchmarkProblem("q", "no final answer", "u"))


def test_scoring_items_label_gsm8k_corruptions_and_skip_unchecked_gold():
    wrong_gold = gsm8k_item(BenchmarkProblem("q", "<<2+2=5>>5\n#### 5", "bad"))
    no_annotation = gsm8k_item(BenchmarkProblem("q", "She has 5.\n#### 5", "plain"))
    rows, traces = scoring_items([*items(), wrong_gold, no_annotation], seed=3, labels=GSM8K_LABELS)
    assert {r["uid"] for r in rows} == {i.uid for i in items()}
    corrupted = [r for r in rows if r["kind"] == "corrupted"]
    assert len(corrupted) == len(items()) and all(r["first_wrong"] == r["corrupt_step"] for r in corrupted)
    assert all(r["first_wrong"] is None for r in rows if r["kind"] == "gold")
    assert all(answer == next(i.answer for i in items() if i.question == q) for q, _, answer in traces)
    again, _ = scoring_items(items(), seed=3, labels=GSM8K_LABELS)
    assert again == [r for r in rows if r["uid"] in {i.uid for i in items()}]  # seeded: the same corruptions
