"""Synthetic arithmetic word problems in GSM8K's format, with exact step-by-step grading.

A problem is a chain: a start value, then ``n`` operations each stated in its own sentence
("He buys 15 more.", "He gives away 7.", "Then the number doubles."). The gold answer has one
reasoning step per line and ends with ``#### <answer>`` (GSM8K's format).

The task is built to show the paper's effects: the distribution over correct traces is
genuinely multi-modal, so positions decoded in the same step can be jointly uncertain:

- operand order is free for ``+`` and ``*`` (``23+5=28`` or ``5+23=28``);
- consecutive additive operations commute, so their steps may appear in any order that keeps every
  intermediate value non-negative;
- numbers have one to three digits (the digits of one number depend on each other) and traces have
  variable length (the reasoning slot is padded with EOS).

Every step of any trace (gold, sampled or corrupted) is machine-checked by :func:`grade_trace`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mdlm_study.core.checks import int_at_least

NAMES = ("Tom", "Ann", "Sam", "Mia", "Leo", "Eva", "Ben", "Zoe")
PRONOUNS = {"Tom": "He", "Sam": "He", "Leo": "He", "Ben": "He", "Ann": "She", "Mia": "She", "Eva": "She", "Zoe": "She"}
ITEMS = ("apples", "pens", "cards", "coins", "books", "shells")
ADD_VERBS = ("buys", "finds", "gets")
SUB_VERBS = ("gives away", "loses", "sells")
MUL_WORDS = {2: "doubles", 3: "triples"}
OPS = ("add", "sub", "mul")
SYMBOL = {"add": "+", "sub": "-", "mul": "*"}
STEP_PATTERN = re.compile(r"^\s*(\d+)\s*([+\-*])\s*(\d+)\s*=\s*(\d+)\s*$")


@dataclass(frozen=True)
class ArithmeticConfig:
    """Knobs of the generator; every value is validated (``ValueError`` names the bad one)."""

    min_steps: int = 1  # fewest operations per problem
    max_steps: int = 3  # most operations per problem
    start_range: tuple[int, int] = (2, 29)  # inclusive range of the start value
    operand_range: tuple[int, int] = (2, 9)  # inclusive range of added / subtracted numbers
    multipliers: tuple[int, ...] = (2, 3)  # allowed factors ("doubles", "triples")
    ops: tuple[str, ...] = OPS  # allowed operations
    max_value: int = 99  # every intermediate value stays in [0, max_value]
    shuffle_order: bool = True  # sample a random valid order of commuting steps
    swap_operands: bool = True  # sample the operand order of + and *
    carry_ops: tuple[str, ...] = OPS  # operations allowed to carry / borrow; the others are carry-free (:func:`carry_free`)
    # relative weights of min_steps, ..., max_steps operations per problem (None: uniform); a training
    # mix that leans to long chains trains the slot's late steps as often as its early ones
    depth_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        int_at_least("min_steps", self.min_steps)
        if self.max_steps < self.min_steps:
            raise ValueError(f"max_steps must be >= min_steps={self.min_steps}, got {self.max_steps}")
        for name in ("start_range", "operand_range"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ValueError(f"{name} must be a non-empty range of non-negative ints, got {(lo, hi)}")
        if not self.ops or any(op not in OPS for op in self.ops):
            raise ValueError(f"ops must be a non-empty subset of {OPS}, got {self.ops}")
        if "mul" in self.ops and (not self.multipliers or any(m not in MUL_WORDS for m in self.multipliers)):
            raise ValueError(f"multipliers must be a non-empty subset of {tuple(MUL_WORDS)}, got {self.multipliers}")
        if any(op not in OPS for op in self.carry_ops):
            raise ValueError(f"carry_ops must be a subset of {OPS}, got {self.carry_ops}")
        if self.max_value < self.start_range[1]:
            raise ValueError(f"max_value must be >= the largest start value, got {self.max_value}")
        if self.depth_weights is not None:
            depths = self.max_steps - self.min_steps + 1
            weights = self.depth_weights
            if len(weights) != depths or any(not (w >= 0 and math.isfinite(w)) for w in weights) or sum(weights) <= 0:
                raise ValueError(f"depth_weights must be {depths} finite weights >= 0 (one per depth {self.min_steps}-{self.max_steps}) "
                                 f"with a positive sum, got {weights}")


@dataclass(frozen=True)
class Problem:
    """One problem: its text, its structure, and one gold trace (a sample of the valid ones)."""

    question: str
    start: int
    ops: tuple[tuple[str, int], ...]  # (operation, operand) in the order the question states them
    steps: tuple[str, ...]  # the gold trace, one step per line
    answer: str
    uid: str = field(default="")

    @property
    def reasoning(self) -> str:
        return "\n".join(self.steps)

    @property
    def gsm8k_answer(self) -> str:
        """The answer field in GSM8K's format: the steps, then ``#### <answer>``."""
        return f"{self.reasoning}\n#### {self.answer}"


@dataclass(frozen=True)
class StepGrade:
    """Result of grading a trace: ``first_wrong`` is the 0-based index of the first wrong step
    (``len(steps)`` when all given steps are right but the chain is unfinished), else ``None``."""

    correct: bool
    first_wrong: int | None
    n_steps: int
    n_correct_steps: int


def apply(op: str, value: int, operand: int) -> int:
    """The result of one operation."""
    if op == "add":
        return value + operand
    if op == "sub":
        return value - operand
    if op == "mul":
        return value * operand
    raise ValueError(f"unknown operation {op!r}; expected one of {OPS}")


def final_value(start: int, ops) -> int:
    value = start
    for op, operand in ops:
        value = apply(op, value, operand)
    return value


def format_step(op: str, value: int, operand: int, *, swap: bool = False) -> str:
    """``"23+15=38"`` (compact, like GSM8K's ``<<23+15=38>>`` annotations); with ``swap`` the
    commutative form ``"15+23=38"``."""
    left, right = (operand, value) if swap and op != "sub" else (value, operand)
    return f"{left}{SYMBOL[op]}{right}={apply(op, value, operand)}"


def carry_free(op: str, value: int, operand: int) -> bool:
    """Whether ``value op operand`` needs no carry (``+``, ``*``) or borrow (``-``) in any digit.

    Carry-free arithmetic is digit-local: each result digit depends only on the digits in the same
    place, so a tiny model learns it from a small table (arithmetic easy enough to learn in
    minutes; the multi-digit results can stay).
    """
    if op == "mul":
        return all(int(d) * operand < 10 for d in str(value))
    a, b = str(value), str(operand).zfill(len(str(value)))
    if len(b) > len(a):
        return op == "add" and carry_free(op, operand, value)
    pairs = zip(map(int, a), map(int, b), strict=True)
    return all(x + y < 10 for x, y in pairs) if op == "add" else all(x >= y for x, y in pairs)


def _sample_ops(config: ArithmeticConfig, rng: random.Random, start: int) -> list[tuple[str, int]] | None:
    depths = range(config.min_steps, config.max_steps + 1)
    n = rng.randint(config.min_steps, config.max_steps) if config.depth_weights is None else rng.choices(depths, config.depth_weights)[0]
    value, ops = start, []
    for _ in range(n):
        choices = []
        for op in config.ops:
            operand = rng.choice(config.multipliers) if op == "mul" else rng.randint(*config.operand_range)
            if allowed_step(config, op, value, operand):
                choices.append((op, operand))
        if not choices:
            return None
        op, operand = rng.choice(choices)
        ops.append((op, operand))
        value = apply(op, value, operand)
    return ops


def _valid_next(value: int, remaining: list[tuple[str, int]]) -> list[int]:
    """Indices of the remaining operations that may come next: the first one, or any operation of
    the leading run of additive operations whose result stays non-negative (they commute)."""
    if remaining[0][0] == "mul":
        return [0]
    run = []
    for i, (op, _) in enumerate(remaining):
        if op == "mul":
            break
        run.append(i)
    return [i for i in run if apply(remaining[i][0], value, remaining[i][1]) >= 0]


def allowed_step(config: ArithmeticConfig, op: str, value: int, operand: int) -> bool:
    """Whether the generator may use this step: its result stays in ``[0, max_value]`` and, with
    for an operation outside ``carry_ops``, it needs no carry or borrow."""
    return 0 <= apply(op, value, operand) <= config.max_value and (op in config.carry_ops or carry_free(op, value, operand))


def _random_order(start: int, ops, config: ArithmeticConfig, rng: random.Random) -> list[tuple[str, int, bool]] | None:
    """A random valid order of the steps as ``(op, operand, swap)``; ``None`` when a step the order
    reached is not :func:`allowed_step` (the caller redraws)."""
    value, remaining, order = start, list(ops), []
    while remaining:
        candidates = _valid_next(value, remaining)
        index = rng.choice(candidates) if config.shuffle_order else candidates[0]
        op, operand = remaining.pop(index)
        if not allowed_step(config, op, value, operand):
            return None
        order.append((op, operand, config.swap_operands and op != "sub" and rng.random() < 0.5))
        value = apply(op, value, operand)
    return order


def sample_trace(start: int, ops, config: ArithmeticConfig, rng: random.Random, *, tries: int = 20) -> tuple[str, ...]:
    """One valid trace: a random valid order of commuting steps and random operand orders.

    Every intermediate value of the trace obeys the config (range, ``carry_ops``); an order
    that breaks it is redrawn, and after ``tries`` draws the question's own order (valid by
    construction) is used with random operand orders.
    """
    for _ in range(tries):
        order = _random_order(start, ops, config, rng)
        if order is not None:
            break
    else:
        order = [(op, operand, config.swap_operands and op != "sub" and rng.random() < 0.5) for op, operand in ops]
    value, steps = start, []
    for op, operand, swap in order:
        steps.append(format_step(op, value, operand, swap=swap))
        value = apply(op, value, operand)
    return tuple(steps)


def question_text(start: int, ops, rng: random.Random) -> str:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    pronoun = PRONOUNS[name]
    sentences = [f"{name} has {start} {item}."]
    for op, operand in ops:
        if op == "add":
            sentences.append(f"{pronoun} {rng.choice(ADD_VERBS)} {operand} more.")
        elif op == "sub":
            sentences.append(f"{pronoun} {rng.choice(SUB_VERBS)} {operand}.")
        else:
            sentences.append(f"Then it {MUL_WORDS[operand]}.")
    sentences.append(f"How many {item} now?")
    return " ".join(sentences)


def make_problem(config: ArithmeticConfig, rng: random.Random) -> Problem:
    """Draw one problem and one gold trace from ``rng``."""
    while True:
        start = rng.randint(*config.start_range)
        ops = _sample_ops(config, rng, start)
        if ops is not None:
            break
    answer = str(final_value(start, ops))
    return Problem(
        question=question_text(start, ops, rng),
        start=start,
        ops=tuple(ops),
        steps=sample_trace(start, ops, config, rng),
        answer=answer,
    )


def drills(config: ArithmeticConfig) -> list[tuple[str, str]]:
    """Every single step the config allows, as ``("47+3=", "50")`` pairs, in every written operand
    order: the arithmetic facts a reasoning trace uses, as short drill examples (the tiny model's
    "pre-training" arithmetic; see ``mdlm_study.training.recipes``). Deterministic order."""
    pairs = []
    for value in range(config.max_value + 1):
        for op in config.ops:
            operands = config.multipliers if op == "mul" else range(config.operand_range[0], config.operand_range[1] + 1)
            for operand in operands:
                if not allowed_step(config, op, value, operand):
                    continue
                for swap in ((False, True) if op != "sub" else (False,)):
                    step = format_step(op, value, operand, swap=swap)
                    head, result = step.split("=")
                    pairs.append((head + "=", result))
    return sorted(set(pairs))


def check_problem(problem: Problem) -> None:
    """``ValueError`` unless ``problem`` is consistent, as every generated problem is: at least one
    operation, each a known one with a non-negative operand (``mul`` by a factor the question can word),
    a non-negative start, the answer equal to the value recomputed from ``start`` and ``ops``, and a
    gold trace that :func:`grade_trace` accepts step by step. The message says which part is wrong."""
    int_at_least("start", problem.start, 0)
    if not problem.ops:
        raise ValueError("ops is empty: a problem needs at least one operation")
    for op, operand in problem.ops:
        if op not in OPS:
            raise ValueError(f"unknown operation {op!r} in ops; expected one of {OPS}")
        if operand < 0 or (op == "mul" and operand not in MUL_WORDS):
            allowed = f"one of {tuple(MUL_WORDS)}" if op == "mul" else ">= 0"
            raise ValueError(f"operand {operand} of {op!r} must be {allowed}")
    value = final_value(problem.start, problem.ops)
    if problem.answer != str(value):
        raise ValueError(f"answer {problem.answer!r} is wrong: start {problem.start} and ops {list(map(list, problem.ops))} give {value}")
    grade = grade_trace(problem, list(problem.steps))
    if not grade.correct:
        if grade.first_wrong < len(problem.steps):
            raise ValueError(f"steps: step {grade.first_wrong + 1} {problem.steps[grade.first_wrong]!r} is not a correct next step of the chain")
        raise ValueError(f"steps: the trace stops after {len(problem.steps)} of {len(problem.ops)} operations")


def problem_key(problem: Problem) -> tuple:
    """What makes two problems the same (used to keep train and test disjoint)."""
    return (problem.start, problem.ops)


def generate_problems(config: ArithmeticConfig, n: int, *, seed: int, exclude=frozenset()) -> list[Problem]:
    """``n`` distinct problems, deterministic from ``seed``; problems whose :func:`problem_key` is in
    ``exclude`` are skipped (pass the test keys when drawing a training set)."""
    int_at_least("n", n, 0)
    rng, seen, problems = random.Random(seed), set(exclude), []
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"could not draw {n} distinct problems from {config}; widen the ranges")
        problem = make_problem(config, rng)
        key = problem_key(problem)
        if key in seen:
            continue
        seen.add(key)
        problems.append(
            Problem(problem.question, problem.start, problem.ops, problem.steps, problem.answer, f"{seed}-{len(problems)}")
        )
    return problems


def parse_step(line: str) -> tuple[int, str, int, int] | None:
    """``"23+15=38"`` (spaces allowed) → ``(23, "add", 15, 38)``; ``None`` when the line is not an equation."""
    match = STEP_PATTERN.match(line)
    if match is None:
        return None
    left, symbol, right, result = match.groups()
    op = {v: k for k, v in SYMBOL.items()}[symbol]
    return int(left), op, int(right), int(result)


def restatements(steps: Sequence[str]) -> tuple[int, int]:
    """(restated, pairs): over consecutive equations of a trace, how many take the previous line's
    result as one of their operands (``23-5=18`` then ``18+4=22``), whether or not the arithmetic is
    right. A model can compute every result from the question and still restate wrongly; this counts
    the copying that left-to-right reasoning relies on."""
    parsed = [p for p in (parse_step(line) for line in steps) if p is not None]
    restated = sum(prev[3] in (cur[0], cur[2]) for prev, cur in zip(parsed, parsed[1:], strict=False))
    return restated, max(0, len(parsed) - 1)


def _step_ok(parsed, value: int, remaining: list[tuple[str, int]]) -> int | None:
    """Index into ``remaining`` of the operation this step correctly performs, else ``None``."""
    if parsed is None:
        return None
    for i in _valid_next(value, remaining):
        if _performs(parsed, value, *remaining[i]) and parsed[3] == apply(remaining[i][0], value, remaining[i][1]):
            return i
    return None


def _performs(parsed, value: int, op: str, operand: int) -> bool:
    """Whether an equation applies ``op`` with ``operand`` to ``value`` (in an allowed operand order), whatever its result."""
    left, written_op, right, _ = parsed
    return written_op == op and ((left, right) == (value, operand) or (op != "sub" and (left, right) == (operand, value)))


def split_steps(reasoning: str) -> list[str]:
    """The non-empty lines of a reasoning text (the step separator is a newline, as in GSM8K)."""
    return [line for line in reasoning.split("\n") if line.strip()]


def grade_trace(problem: Problem, reasoning: str | list[str]) -> StepGrade:
    """Grade every step of a trace exactly.

    A step is correct when it applies, to the previous result (the start value for the first step),
    an operation that may come next (:func:`_valid_next`), with the right operands in an allowed
    order and the right result. The trace is correct when every step is and the chain is complete.
    """
    steps = split_steps(reasoning) if isinstance(reasoning, str) else list(reasoning)
    value, remaining = problem.start, list(problem.ops)
    for i, line in enumerate(steps):
        if not remaining:
            return StepGrade(False, i, len(steps), i)
        index = _step_ok(parse_step(line), value, remaining)
        if index is None:
            return StepGrade(False, i, len(steps), i)
        op, operand = remaining.pop(index)
        value = apply(op, value, operand)
    if remaining:
        return StepGrade(False, len(steps), len(steps), len(steps))
    return StepGrade(True, None, len(steps), len(steps))


RESULT_ERRORS = ("arithmetic slip", "follows a miscopied step", "wrong operands and result", "malformed", "stops early",
                 "extra step")


def first_wrong_result(problem: Problem, reasoning: str | list[str]) -> tuple[int | None, str]:
    """The first step whose result is not the chain's value after it, and what went wrong there (one of
    :data:`RESULT_ERRORS`); ``(None, "none")`` when every result is right and the chain is complete.

    Unlike :func:`grade_trace`, which fails a step for any wrong token, this follows the values: a step that writes a
    wrong operand under the right result (``4+46=52`` for ``46+6``) keeps the chain's value, so the search goes on.
    The kinds: ``"arithmetic slip"`` (the right operation and operands, a wrong result), ``"follows a miscopied
    step"`` (a wrong operation or operand, and the result of what was written), ``"wrong operands and result"``
    (neither), ``"malformed"`` (not an equation), ``"stops early"`` and ``"extra step"`` (the trace ends before the
    chain does, or goes on after it)."""
    steps = split_steps(reasoning) if isinstance(reasoning, str) else list(reasoning)
    value, remaining = problem.start, list(problem.ops)
    for i, line in enumerate(steps):
        if not remaining:
            return i, "extra step"
        parsed = parse_step(line)
        if parsed is None:
            return i, "malformed"
        left, written_op, right, result = parsed
        truth = {j: apply(remaining[j][0], value, remaining[j][1]) for j in _valid_next(value, remaining)}
        performed = [j for j in truth if _performs(parsed, value, *remaining[j])]
        if performed and result != truth[performed[0]]:
            return i, "arithmetic slip"
        taken = performed or [j for j in truth if result == truth[j]]  # a miscopied operand under the right result
        if not taken:
            return i, "follows a miscopied step" if result == apply(written_op, left, right) else "wrong operands and result"
        value = truth[taken[0]]
        remaining.pop(taken[0])
    return (len(steps), "stops early") if remaining else (None, "none")


def corrupt_trace(
    problem: Problem, steps, *, step: int, rng: random.Random, propagate: bool = True
) -> tuple[str, ...]:
    """Change the result of step ``step`` (0-based) of a correct trace by a non-zero offset.

    With ``propagate`` the later steps are recomputed from the wrong value (a consistent but wrong
    chain, as a model that made one slip would write); without it they are left unchanged. Either
    way :func:`grade_trace` reports ``first_wrong == step``.
    """
    steps = list(steps)
    if not 0 <= step < len(steps):
        raise ValueError(f"step must be in [0, {len(steps)}), got {step}")
    parsed = [parse_step(line) for line in steps]
    if any(p is None for p in parsed):
        raise ValueError(f"corrupt_trace needs a well-formed trace, got {steps!r}")
    left, op, right, result = parsed[step]
    offsets = [d for d in (-10, -2, -1, 1, 2, 10) if result + d >= 0]
    wrong = result + rng.choice(offsets)
    steps[step] = f"{left}{SYMBOL[op]}{right}={wrong}"
    if propagate:
        value, previous = wrong, result
        for j in range(step + 1, len(steps)):
            left_j, op_j, right_j, _ = parsed[j]
            operand = right_j if left_j == previous else left_j
            swap = left_j != previous
            steps[j] = format_step(op_j, value, operand, swap=swap)
            previous, value = parsed[j][3], apply(op_j, value, operand)
    return tuple(steps)
