import random

import pytest

from mdlm_study.tasks.arithmetic import (
    ArithmeticConfig,
    Problem,
    corrupt_trace,
    final_value,
    generate_problems,
    grade_trace,
    parse_step,
    problem_key,
    sample_trace,
)


def test_deterministic_from_seed():
    a = generate_problems(ArithmeticConfig(), 50, seed=3)
    b = generate_problems(ArithmeticConfig(), 50, seed=3)
    c = generate_problems(ArithmeticConfig(), 50, seed=4)
    assert a == b
    assert a != c


def test_gold_traces_grade_correct_and_end_in_answer(problems):
    for p in problems:
        grade = grade_trace(p, p.reasoning)
        assert grade.correct and grade.first_wrong is None
        assert parse_step(p.steps[-1])[3] == int(p.answer) == final_value(p.start, p.ops)
        assert p.gsm8k_answer.endswith(f"#### {p.answer}")
        assert len(p.steps) == len(p.ops)


def test_step_counts_follow_the_knobs():
    cfg = ArithmeticConfig(min_steps=5, max_steps=5)
    assert all(len(p.ops) == 5 for p in generate_problems(cfg, 30, seed=0))


def test_train_test_disjoint():
    test = generate_problems(ArithmeticConfig(), 200, seed=1)
    train = generate_problems(ArithmeticConfig(), 2000, seed=2, exclude={problem_key(p) for p in test})
    assert not {problem_key(p) for p in test} & {problem_key(p) for p in train}


def test_traces_are_multimodal():
    """Several distinct valid traces per problem: operand order and commuting step order."""
    p = Problem("q", 20, (("add", 5), ("sub", 3), ("mul", 2)), (), "44")
    cfg = ArithmeticConfig()
    traces = {sample_trace(p.start, p.ops, cfg, random.Random(s)) for s in range(200)}
    assert len(traces) >= 4
    assert ("20-3=17", "17+5=22", "22*2=44") in traces
    assert all(grade_trace(p, list(t)).correct for t in traces)


@pytest.mark.parametrize(
    "steps, first_wrong",
    [
        (["20 + 5 = 25", "25 - 3 = 22", "22 * 2 = 44"], None),
        (["5 + 20 = 25", "25 - 3 = 22", "2 * 22 = 44"], None),
        (["20 - 3 = 17", "5 + 17 = 22", "22 * 2 = 44"], None),
        (["20 + 5 = 26", "26 - 3 = 23", "23 * 2 = 46"], 0),
        (["20 + 5 = 25", "3 - 25 = 22", "22 * 2 = 44"], 1),  # subtraction does not commute
        (["20 * 2 = 40", "40 + 5 = 45", "45 - 3 = 42"], 0),  # multiplication is not movable
        (["20 + 5 = 25", "25 - 3 = 22"], 2),  # unfinished
        (["20 + 5 = 25", "25 - 3 = 22", "22 * 2 = 44", "44 + 1 = 45"], 3),  # extra step
        (["twenty plus five", "25 - 3 = 22", "22 * 2 = 44"], 0),  # not an equation
        ([], 0),
    ],
)
def test_grade_trace_cases(steps, first_wrong):
    p = Problem("q", 20, (("add", 5), ("sub", 3), ("mul", 2)), (), "44")
    grade = grade_trace(p, steps)
    assert grade.first_wrong == first_wrong
    assert grade.correct == (first_wrong is None)


def test_subtraction_order_keeps_values_non_negative():
    p = Problem("q", 5, (("add", 10), ("sub", 12)), (), "3")
    assert grade_trace(p, ["5 + 10 = 15", "15 - 12 = 3"]).correct
    assert grade_trace(p, ["5 - 12 = -7"]).first_wrong == 0


@pytest.mark.parametrize("propagate", [True, False])
def test_corruption_is_located_exactly(problems, propagate):
    rng = random.Random(0)
    for p in problems[:150]:
        step = rng.randrange(len(p.steps))
        bad = corrupt_trace(p, p.steps, step=step, rng=rng, propagate=propagate)
        assert grade_trace(p, list(bad)).first_wrong == step
        assert bad[:step] == p.steps[:step]
        if propagate and step + 1 < len(bad):
            # later steps are arithmetically consistent with the wrong value
            assert parse_step(bad[step + 1]) is None or parse_step(bad[step + 1])[3] != parse_step(p.steps[step + 1])[3]


@pytest.mark.parametrize(
    "kwargs",
    [{"min_steps": 0}, {"min_steps": 3, "max_steps": 2}, {"start_range": (9, 3)}, {"operand_range": (5, 1)}, {"ops": ()}, {"ops": ("div",)}, {"multipliers": (7,)}],
)
def test_invalid_config_raises_naming_the_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ArithmeticConfig(**kwargs)


def test_corrupt_trace_rejects_bad_step(problems):
    with pytest.raises(ValueError, match="step"):
        corrupt_trace(problems[0], problems[0].steps, step=99, rng=random.Random(0))
