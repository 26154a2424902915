import random

import pytest

from mdlm_study.tasks.arithmetic import (
    ArithmeticConfig,
    Problem,
    carry_free,
    corrupt_trace,
    drills,
    final_value,
    first_wrong_result,
    generate_problems,
    grade_trace,
    parse_step,
    problem_key,
    restatements,
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
    "op, value, operand, expected",
    [("add", 23, 5, True), ("add", 25, 5, False), ("add", 5, 23, True), ("add", 8, 23, False), ("add", 90, 9, True),
     ("sub", 27, 5, True), ("sub", 23, 5, False), ("sub", 40, 0, True), ("mul", 34, 2, True), ("mul", 35, 2, False),
     ("mul", 13, 3, True), ("mul", 4, 3, False)],
)
def test_carry_free_cases(op, value, operand, expected):
    assert carry_free(op, value, operand) is expected


@pytest.mark.parametrize("carry_ops", [(), ("mul",)])
def test_carry_ops_keep_the_other_operations_carry_free(carry_ops):
    """Every step of every gold trace (in any sampled order) of an operation outside ``carry_ops``
    is digit-local; the operations in ``carry_ops`` do carry sometimes."""
    cfg = ArithmeticConfig(carry_ops=carry_ops, start_range=(2, 49), operand_range=(1, 9), max_value=99)
    problems = generate_problems(cfg, 500, seed=0)
    carried = set()
    for p in problems:
        value = p.start
        for step in p.steps:
            left, op, right, result = parse_step(step)
            operand = right if left == value else left
            if op not in carry_ops:
                assert carry_free(op, value, operand), step
            elif not carry_free(op, value, operand):
                carried.add(op)
            assert 0 <= result <= cfg.max_value
            value = result
        assert grade_trace(p, p.reasoning).correct
    assert carried == set(carry_ops)
    assert any(int(p.answer) >= 10 for p in problems)  # the multi-digit results stay


def test_every_gold_step_stays_in_range():
    """Reordered commuting steps never leave ``[0, max_value]`` (the question's order is in range by construction)."""
    cfg = ArithmeticConfig(max_value=40)
    for p in generate_problems(cfg, 500, seed=0):
        assert all(0 <= parse_step(step)[3] <= 40 for step in p.steps)


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
    [{"min_steps": 0}, {"min_steps": 3, "max_steps": 2}, {"start_range": (9, 3)}, {"operand_range": (5, 1)}, {"ops": ()}, {"ops": ("div",)}, {"multipliers": (7,)}, {"carry_ops": ("div",)}],
)
def test_invalid_config_raises_naming_the_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ArithmeticConfig(**kwargs)


def test_corrupt_trace_rejects_bad_step(problems):
    with pytest.raises(ValueError, match="step"):
        corrupt_trace(problems[0], problems[0].steps, step=99, rng=random.Random(0))


def test_drills_are_every_allowed_step_in_every_written_order(problems):
    config = ArithmeticConfig(start_range=(2, 29), max_value=40, carry_ops=("add", "mul"))
    pairs = drills(config)
    assert len(pairs) == len(set(pairs)) and pairs == sorted(pairs)
    for head, result in pairs:
        left, op, right, value = parse_step(head + result)
        assert value == {"add": left + right, "sub": left - right, "mul": left * right}[op]
        assert 0 <= value <= config.max_value
    assert ("17+3=", "20") in pairs and ("3+17=", "20") in pairs and ("2*13=", "26") in pairs
    assert ("23-5=", "18") not in pairs  # - never borrows here (carry_ops)
    facts = set(pairs)  # every step of every gold trace of the default config is a drill
    default_facts = set(drills(ArithmeticConfig()))
    for p in problems:
        for step in p.steps:
            head, result = step.split("=")
            assert (head + "=", result) in default_facts
    assert facts


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["23-5=18", "18+4=22", "22*2=44"], (2, 2)),  # both later lines take the previous result
        (["23-5=18", "4+18=22"], (1, 1)),  # as the second operand too
        (["23-5=18", "19+4=23", "23*2=46"], (1, 2)),  # a wrong restatement, then a right one of the wrong result
        (["23-5=18", "no equation", "18+4=22"], (1, 1)),  # non-equations are skipped
        (["23-5=18"], (0, 0)),
        ([], (0, 0)),
    ],
)
def test_restatements_count_lines_that_take_the_previous_result(steps, expected):
    assert restatements(steps) == expected


def test_gold_traces_restate_every_result(problems):
    for p in problems[:50]:
        assert restatements(p.steps) == (len(p.steps) - 1, len(p.steps) - 1)


def test_check_problem_accepts_generated_problems_and_names_what_is_inconsistent(problems):
    """Every generated problem passes; a changed answer, a wrong or missing step, an unknown operation
    or an unwordable factor is a ValueError saying which."""
    from dataclasses import replace

    from mdlm_study.tasks.arithmetic import check_problem

    for p in problems:
        check_problem(p)
    p = next(p for p in problems if len(p.steps) == 3)
    bad = [(replace(p, answer=str(int(p.answer) + 1)), f"answer '{int(p.answer) + 1}' is wrong"),
           (replace(p, steps=p.steps[:1]), "the trace stops after 1 of 3 operations"),
           (replace(p, steps=(p.steps[1],) + p.steps[1:]), "step 1 .* is not a correct next step"),
           (replace(p, ops=(("pow", 2),) + p.ops[1:]), "unknown operation 'pow'"),
           (replace(p, ops=(("mul", 5),) + p.ops[1:]), "operand 5 of 'mul' must be one of"),
           (replace(p, ops=()), "ops is empty"), (replace(p, start=-1), "start must be an int >= 0, got -1")]
    for problem, match in bad:
        with pytest.raises(ValueError, match=match):
            check_problem(problem)


def test_depth_weights_choose_the_number_of_operations():
    from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems

    only_long = ArithmeticConfig(min_steps=2, max_steps=4, depth_weights=(0, 0, 1), start_range=(2, 49), operand_range=(1, 9))
    assert {len(p.ops) for p in generate_problems(only_long, 50, seed=3)} == {4}
    leaning = ArithmeticConfig(min_steps=2, max_steps=4, depth_weights=(1, 1, 8), start_range=(2, 49), operand_range=(1, 9))
    depths = [len(p.ops) for p in generate_problems(leaning, 400, seed=3)]
    assert depths.count(4) > 2 * (depths.count(2) + depths.count(3))  # 80% expected, far above a third


@pytest.mark.parametrize("weights", [(1, 1), (1, -1, 1), (0, 0, 0), (1, float("nan"), 1)])
def test_bad_depth_weights_are_named(weights):
    from mdlm_study.tasks.arithmetic import ArithmeticConfig

    with pytest.raises(ValueError, match=r"depth_weights must be 3 finite weights >= 0 \(one per depth 2-4\)"):
        ArithmeticConfig(min_steps=2, max_steps=4, depth_weights=weights)


def test_chains_task_trains_long_and_tests_every_depth_in_order():
    from mdlm_study.tasks.arithmetic import format_step
    from mdlm_study.tasks.builtin import CHAINS

    train, test = CHAINS.split_configs["train"], CHAINS.split_configs["test"]
    assert test.depth_weights is None and (test.min_steps, test.max_steps) == (2, 8)
    assert train.depth_weights is not None and train.depth_weights[-1] > train.depth_weights[0]
    for problem in CHAINS.generate(test, 30, seed=11):  # the steps follow the question's order
        value = problem.start
        for (op, operand), step in zip(problem.ops, problem.steps, strict=True):
            written = {format_step(op, value, operand), format_step(op, value, operand, swap=True)}
            assert step in written
            value = int(step.split("=")[1])


def test_the_steps_task_holds_every_single_step_of_the_chains_once():
    """The deep regime's warm start: its test and training splits together are every one-operation step
    a chain can take (any value the chains reach, every operation the chains allow), each exactly once."""
    from mdlm_study.tasks.arithmetic import apply, check_problem
    from mdlm_study.tasks.builtin import CHAINS, STEPS, single_step_problems, single_steps
    from mdlm_study.tasks.data import study_data

    data = study_data(tasks=("steps",))
    train, test = data.split(STEPS, "train"), data.split(STEPS, "test")
    keys = [STEPS.key(p) for p in train + test]
    config = STEPS.split_configs["train"]
    assert len(keys) == len(set(keys)) == len(single_steps(config)) and len(test) == 100
    assert sorted(keys) == sorted((start, ((op, operand),)) for start, op, operand in single_steps(config))
    chains = CHAINS.split_configs["train"]
    reached = {int(step.split("=")[1]) for p in CHAINS.generate(chains, 300, seed=3) for step in p.steps[:-1]}
    starts = {start for start, _ in keys}
    assert reached <= starts and max(reached) > chains.start_range[1]  # a chain's middle values, beyond its own starts
    for problem in test[:20]:
        check_problem(problem)
        (op, operand), = problem.ops
        assert problem.answer == str(apply(op, problem.start, operand))
    assert single_step_problems(config, 5, seed=4) == single_step_problems(config, 5, seed=4)


def test_single_steps_refuse_chains_and_too_many_problems():
    from mdlm_study.tasks.builtin import CHAINS, STEPS, single_step_problems, single_steps

    with pytest.raises(ValueError, match="single steps need min_steps = max_steps = 1, got 2-8"):
        single_steps(CHAINS.split_configs["test"])
    config = STEPS.split_configs["train"]
    n = len(single_steps(config))
    with pytest.raises(ValueError, match=f"n={n + 1} single steps asked for, but .* allows only {n}"):
        single_step_problems(config, n + 1, seed=0)


CHAIN = Problem("Ann has 6 pens. She gets 1 more. Then it doubles. How many pens now?", 6, (("add", 1), ("mul", 2)),
                ("6+1=7", "2*7=14"), "14")


@pytest.mark.parametrize(("trace", "expected"), [
    ("6+1=7\n2*7=14", (None, "none")),
    ("1+6=7\n7*2=14", (None, "none")),  # commuted operands
    ("6+2=7\n2*7=14", (None, "none")),  # a miscopied operand under the right result keeps the chain's value
    ("6+1=8\n2*8=16", (0, "arithmetic slip")),
    ("6+1=7\n2*7=15", (1, "arithmetic slip")),
    ("6+2=8\n2*8=16", (0, "follows a miscopied step")),
    ("6-1=5\n2*5=10", (0, "follows a miscopied step")),  # the wrong operation, its own result
    ("6+3=5\n2*5=10", (0, "wrong operands and result")),
    ("6+1=7\nseven", (1, "malformed")),
    ("6+1=7", (1, "stops early")),
    ("6+1=7\n2*7=14\n14+1=15", (2, "extra step")),
])
def test_the_first_wrong_result_follows_the_values_not_the_tokens(trace, expected):
    assert first_wrong_result(CHAIN, trace) == expected
    assert first_wrong_result(CHAIN, trace.split("\n")) == expected


def test_commuting_steps_are_followed_in_any_valid_order():
    problem = Problem("q", 10, (("add", 3), ("sub", 4), ("mul", 2)), ("10+3=13", "13-4=9", "2*9=18"), "18")
    assert first_wrong_result(problem, "10-4=6\n6+3=9\n9*2=18") == (None, "none")
    assert first_wrong_result(problem, "10-4=6\n6+3=10\n10*2=20") == (1, "arithmetic slip")
    assert first_wrong_result(problem, "10*2=20") == (0, "follows a miscopied step")  # mul may not come first
