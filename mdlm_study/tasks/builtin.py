"""The study's tasks: ``arithmetic`` (the original regime), ``chains`` (the deep regime), ``sudoku`` and
``gsm8k`` (the real benchmark, read from a file the user names), each a :class:`~mdlm_study.tasks.task.Task`.

- ``arithmetic``: 1-3-operation chains on a 28-position canvas, tested on 3-operation problems. A
  tiny model computes most answers here in the masked answer slot before any reasoning is written
  (docs/recipe_history.md).
- ``chains``: the paper's regime, dependency chains of 2-8 operations (GSM8K solutions have 2-8
  steps) on a 64-position reasoning slot: eight steps of the compact notation. The chain is longer
  than a tiny model composes in one forward pass, so the answer has to come from the reasoning.
- ``sudoku``: 4x4 Sudoku, the answer slot is the 16 cells (any-order against left-to-right).
- ``gsm8k``: GSM8K problems from a local jsonl, graded by :func:`mdlm_study.tasks.graders.gsm8k_is_correct`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping

from mdlm_study.engine.templates import (
    ARITHMETIC_TEMPLATE,
    GSM8K_TEMPLATE,
    SUDOKU_TEMPLATE,
    Readout,
    Template,
)
from mdlm_study.tasks.arithmetic import (
    ArithmeticConfig,
    Problem,
    allowed_step,
    apply,
    check_problem,
    generate_problems,
    grade_trace,
    problem_key,
    question_text,
    restatements,
    sample_trace,
)
from mdlm_study.tasks.benchmark_data import BenchmarkProblem
from mdlm_study.tasks.graders import gsm8k_is_correct
from mdlm_study.tasks.sudoku import SudokuPuzzle, check_puzzle, generate_puzzles, solves
from mdlm_study.tasks.task import Task, register_task

# ---------------------------------------------------------------------------------------------------
# Records: typed fields, checked problems


def typed_field(row: dict, name: str, kind: type, default=None):
    """``row[name]``, which must be a ``kind`` (bool does not count as int); ``KeyError`` when absent
    and there is no default."""
    if name not in row and default is not None:
        return default
    value = row[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {name!r} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def problem_from_row(row: dict) -> Problem:
    """A validated arithmetic problem from one JSON record (``ValueError`` says what is wrong)."""
    question, start = typed_field(row, "question", str), typed_field(row, "start", int)
    ops = []
    for op in typed_field(row, "ops", list):
        if not (isinstance(op, list) and len(op) == 2 and isinstance(op[0], str) and isinstance(op[1], int) and not isinstance(op[1], bool)):
            raise ValueError(f"field 'ops' must hold [operation, operand] pairs such as [\"add\", 3], got {op!r}")
        ops.append((op[0], op[1]))
    steps = typed_field(row, "steps", list)
    if not all(isinstance(step, str) for step in steps):
        raise ValueError(f"field 'steps' must be a list of strings, got {steps!r}")
    problem = Problem(question, start, tuple(ops), tuple(steps), typed_field(row, "answer", str), typed_field(row, "uid", str, ""))
    check_problem(problem)
    if "gsm8k_answer" in row and row["gsm8k_answer"] != problem.gsm8k_answer:
        raise ValueError(f"field 'gsm8k_answer' {row['gsm8k_answer']!r} disagrees with the steps and answer ({problem.gsm8k_answer!r})")
    return problem


def puzzle_from_row(row: dict) -> SudokuPuzzle:
    """A validated Sudoku puzzle from one JSON record (``ValueError`` says what is wrong)."""
    puzzle = SudokuPuzzle(typed_field(row, "puzzle", str), typed_field(row, "solution", str))
    check_puzzle(puzzle)
    return puzzle


def benchmark_from_row(row: dict) -> BenchmarkProblem:
    return BenchmarkProblem(typed_field(row, "question", str), typed_field(row, "answer", str), typed_field(row, "uid", str, ""))


# ---------------------------------------------------------------------------------------------------
# Grading: one table row per problem


def arithmetic_answer_correct(problem: Problem, answer: str) -> bool:
    """The exact final number."""
    return answer == problem.answer


def arithmetic_row(problem: Problem, read: Readout, decoded: Mapping) -> dict:
    """The answer graded exactly and every step of the written reasoning
    (:func:`~mdlm_study.tasks.arithmetic.grade_trace`), with the engine's counts."""
    grade = grade_trace(problem, read.steps)
    restated, pairs = restatements(read.steps)
    return {"uid": problem.uid, "n_ops": len(problem.ops), "answer": problem.answer, "predicted": read.answer,
            "correct": arithmetic_answer_correct(problem, read.answer), "trace_correct": grade.correct,
            "first_wrong": grade.first_wrong, "n_correct_steps": grade.n_correct_steps, "n_restated": restated,
            "n_step_pairs": pairs, "nfe": decoded["nfe"], "n_decoded": decoded["n_decoded"], "exited": decoded["exited"], "logprob": decoded["logprob"],
            "empty_reasoning": read.reasoning == "", "reasoning": read.reasoning}


def sudoku_answer_correct(puzzle: SudokuPuzzle, answer: str) -> bool:
    """A valid grid keeping the clues."""
    return solves(puzzle.puzzle, answer.replace(" ", ""))


def sudoku_row(puzzle: SudokuPuzzle, read: Readout, decoded: Mapping) -> dict:
    grid = read.answer.replace(" ", "")
    return {"puzzle": puzzle.puzzle, "predicted": grid, "correct": sudoku_answer_correct(puzzle, grid), "nfe": decoded["nfe"],
            "n_decoded": decoded["n_decoded"]}


def gsm8k_answer_correct(problem: BenchmarkProblem, answer: str) -> bool:
    """mdlm_study.tasks.graders' GSM8K rule on the answer slot."""
    return gsm8k_is_correct(answer, problem.answer)


def gsm8k_row(problem: BenchmarkProblem, read: Readout, decoded: Mapping) -> dict:
    """The answer slot graded by the deterministic GSM8K grader (no step labels exist)."""
    return {"uid": problem.uid, "answer": problem.answer.split("####")[-1].strip(), "predicted": read.answer,
            "correct": gsm8k_answer_correct(problem, read.answer), "nfe": decoded["nfe"], "n_decoded": decoded["n_decoded"], "exited": decoded["exited"],
            "reasoning": read.reasoning}


# ---------------------------------------------------------------------------------------------------
# The tasks

# The original regime's training distribution: 1-3-step chains, multi-digit values up to 99. Subtraction
# never borrows (the slowest fact to learn here); + and x2 / x3 may carry, so the answer is not a
# digit-local function of the question: computing it needs the carries the reasoning writes out.
ARITHMETIC_CONFIG = ArithmeticConfig(start_range=(2, 49), operand_range=(1, 9), carry_ops=("add", "mul"))
ARITHMETIC_TEST_CONFIG = dataclasses.replace(ARITHMETIC_CONFIG, min_steps=3, max_steps=3)  # the default evaluation: 3-step problems

# The deep regime: the same operations, 2-8 of them, the steps written in the question's order (docs/recipe_history.md,
# "The deep regime", says how it was chosen). The test and posterior sets hold every depth equally often; the training
# set draws half its chains from every depth and half from 6-8 steps (weights 3 : 10 = 1/14 : 1/14 + 1/6), so the
# slot's late steps are trained about as often as its early ones.
CHAINS_CONFIG = dataclasses.replace(ARITHMETIC_CONFIG, min_steps=2, max_steps=8, shuffle_order=False)
CHAINS_TRAIN_CONFIG = dataclasses.replace(CHAINS_CONFIG, depth_weights=(3, 3, 3, 3, 10, 10, 10))
CHAINS_TEMPLATE = Template(reasoning_len=64, answer_len=4, delimiter="\n####", answer_prefix=" ")  # eight 7-token steps and their newlines


def _arithmetic_task(name: str, template: Template, train_config: ArithmeticConfig, test_config: ArithmeticConfig, *,
                     seeds: Mapping[str, int], sizes: Mapping[str, int], smoke_sizes: Mapping[str, int], description: str,
                     generate=generate_problems) -> Task:
    """An arithmetic task with the splits ``seeds`` names (train, test, and posterior where given)."""
    roles = tuple(role for role in ("train", "test", "posterior") if role in seeds)
    return Task(
        name=name, template=template, question=lambda p: p.question, answer=lambda p: p.answer, reasoning=lambda p: p.reasoning,
        grade_answer=arithmetic_answer_correct, grade_row=arithmetic_row, from_row=problem_from_row,
        key=problem_key, generate=generate,
        split_configs={role: train_config if role == "train" else test_config for role in roles},
        splits={role: f"{name}_{role}" for role in roles}, split_seeds=seeds, sizes=sizes,
        smoke_sizes=smoke_sizes, step_labels=True, description=description,
    )


ARITHMETIC = register_task(_arithmetic_task(
    "arithmetic", ARITHMETIC_TEMPLATE, ARITHMETIC_CONFIG, ARITHMETIC_TEST_CONFIG,
    seeds={"test": 1000, "posterior": 2000, "train": 1},
    sizes={"train": 40_000, "test": 300, "posterior": 200}, smoke_sizes={"train": 600, "test": 48, "posterior": 48},
    description="1-3-operation chains, tested on 3 operations (the original regime)"))

# The deep regime's warm start: every single step a chain can take (one operation on any value 0-99 the
# chains reach), each once, as a one-operation problem. A model trained on these brings the arithmetic of a
# step, read from its sentence and written out, but no practice at composing steps in one forward pass
# (docs/recipe_history.md, "A warm start from single steps").
STEPS_CONFIG = dataclasses.replace(ARITHMETIC_CONFIG, min_steps=1, max_steps=1, start_range=(0, ARITHMETIC_CONFIG.max_value))


def single_steps(config: ArithmeticConfig) -> list[tuple[int, str, int]]:
    """Every single step ``config`` allows, as ``(start, operation, operand)``, in a fixed order."""
    if (config.min_steps, config.max_steps) != (1, 1):
        raise ValueError(f"single steps need min_steps = max_steps = 1, got {config.min_steps}-{config.max_steps}")
    return [(start, op, operand) for start in range(config.start_range[0], config.start_range[1] + 1) for op in config.ops
            for operand in (config.multipliers if op == "mul" else range(config.operand_range[0], config.operand_range[1] + 1))
            if allowed_step(config, op, start, operand)]


def single_step_problems(config: ArithmeticConfig, n: int, *, seed: int, exclude=frozenset()) -> list[Problem]:
    """``n`` distinct one-operation problems drawn without replacement from :func:`single_steps` (a
    shuffled enumeration, deterministic from ``seed``; keys in ``exclude`` skipped). ``n`` larger than
    what is left is a ``ValueError`` naming both."""
    rng = random.Random(seed)
    facts = [fact for fact in single_steps(config) if (fact[0], (fact[1:],)) not in exclude]
    if n > len(facts):
        raise ValueError(f"n={n} single steps asked for, but {config} allows only {len(facts)} outside the excluded ones")
    rng.shuffle(facts)
    problems = []
    for index, (start, op, operand) in enumerate(facts[:n]):
        ops = ((op, operand),)
        problems.append(Problem(question_text(start, ops, rng), start, ops, sample_trace(start, ops, config, rng), str(apply(op, start, operand)),
                                f"{seed}-{index}"))
    return problems


STEPS_TEST = 100  # held out to follow the training; every other step is the training set
STEPS = register_task(_arithmetic_task(
    "steps", ARITHMETIC_TEMPLATE, STEPS_CONFIG, STEPS_CONFIG, seeds={"test": 7000, "train": 7},
    sizes={"train": len(single_steps(STEPS_CONFIG)) - STEPS_TEST, "test": STEPS_TEST}, smoke_sizes={"train": 300, "test": 48},
    description="every single step of the chains, once each (the deep regime's warm start)", generate=single_step_problems))

CHAINS = register_task(_arithmetic_task(
    "chains", CHAINS_TEMPLATE, CHAINS_TRAIN_CONFIG, CHAINS_CONFIG,
    seeds={"test": 5000, "posterior": 6000, "train": 4},
    sizes={"train": 60_000, "test": 1500, "posterior": 300}, smoke_sizes={"train": 600, "test": 48, "posterior": 48},
    description="2-8-operation dependency chains (the deep regime: the answer has to come from the reasoning)"))


def _generate_puzzles(config, n: int, *, seed: int, exclude=frozenset()) -> list[SudokuPuzzle]:
    return generate_puzzles(n, seed=seed, exclude=exclude)


SUDOKU = register_task(Task(
    name="sudoku", template=SUDOKU_TEMPLATE, question=lambda p: p.question, answer=lambda p: p.answer, reasoning=lambda p: "",
    grade_answer=sudoku_answer_correct, grade_row=sudoku_row, from_row=puzzle_from_row, key=lambda p: p.puzzle,
    generate=_generate_puzzles, split_configs={"train": None, "test": None}, splits={"train": "sudoku_train", "test": "sudoku_test"},
    split_seeds={"test": 3000, "train": 2}, sizes={"train": 40_000, "test": 300}, smoke_sizes={"train": 300, "test": 48},
    description="4x4 Sudoku; the answer slot is the grid"))

GSM8K = register_task(Task(
    name="gsm8k", template=GSM8K_TEMPLATE, question=lambda p: p.question, answer=lambda p: p.answer.split("####")[-1].strip(),
    reasoning=lambda p: p.answer.split("####")[0].strip(), grade_answer=gsm8k_answer_correct, grade_row=gsm8k_row,
    from_row=benchmark_from_row, key=lambda p: p.question,
    description="GSM8K from a local jsonl (data_path=); the paper's setting"))
