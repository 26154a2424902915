"""GSM8K traces checked step by step, and corrupted at a known step (docs/decisions.md, "GSM8K step checks").

GSM8K has no step labels, but its solutions carry the calculator annotations of its release: a line
``He beats 20*.8=<<20*.8=16>>16 people`` says that ``20*.8`` is ``16``. A step (one line of the
trace) is checked by its equations:

- the ``<<expression=result>>`` annotations of the line, when it has any;
- otherwise the plain equations it writes, ``expression = number`` with at least one operator
  (``20 * 0.8 = 16``), which is how a model's own trace shows its arithmetic.

An equation holds when its expression, evaluated exactly (:func:`evaluate_expression`), rounds to
the result at the precision the result is written in (``100/3=33.33`` holds, ``48/2=25`` does
not). A step with no equation that can be evaluated is not checkable, neither right nor wrong.

A trace (:func:`grade_gsm8k_trace`) is fully correct when none of its equations is false and its
written conclusion (:func:`conclusion`: the result of its last line's last equation, else that
line's last number) equals the reference answer. Its first wrong
step is the first line with a false equation; failing that, the last line when the conclusion is
wrong. The check sees arithmetic slips and a wrong conclusion, not a wrong plan with right sums.

:func:`corrupt_gsm8k_trace` changes the result of one annotated step, as the arithmetic task's
``corrupt_trace`` does, and with ``propagate`` carries the wrong value into the later annotations
(each re-evaluated from it), so the corrupted step is the first wrong one by construction.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from mdlm_study.tasks.graders import find_numbers, format_number, gsm8k_reference_answer, number_value

ANNOTATION = re.compile(r"<<(?P<expr>[^<>=]*)=(?P<result>[^<>=]*)>>")
_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|\.\d+)"
_TERM = rf"[\s(]*\$?{_NUMBER}%?[\s)]*"
PLAIN_EQUATION = re.compile(rf"(?<![\w.])(?P<expr>{_TERM}(?:[-+*/×÷]{_TERM})+)=\s*\$?(?P<result>-?{_NUMBER})(?![\d.]\d)")
_RESULT = re.compile(rf"^\s*\$?(?P<sign>-?)(?P<number>{_NUMBER})\s*$")
MAX_EXPONENT = 12  # a power beyond this is not evaluated (a DoS, not GSM8K arithmetic)
OFFSETS = (-10, -2, -1, 1, 2, 10)  # the arithmetic task's corruption offsets


@dataclass(frozen=True)
class GSM8KItem:
    """A GSM8K problem as the step-level code uses it: the final answer alone (what the answer slot
    holds) and the worked solution split into lines, as ``read_canvas`` splits a decoded trace."""

    question: str
    answer: str  # the final answer, canonical (format_number of the reference's #### value)
    uid: str
    reasoning: str  # the solution before "####"
    steps: tuple[str, ...]


@dataclass(frozen=True)
class GSM8KGrade:
    correct: bool  # no false equation and the conclusion equals the reference
    first_wrong: int | None  # 0-based line of the first false equation, else the last line if the conclusion is wrong
    n_correct_steps: int  # lines before the first wrong one
    n_checked: int  # lines with at least one equation that could be evaluated


def split_steps(reasoning: str) -> tuple[str, ...]:
    """The non-empty lines of a trace, stripped (what ``templates.read_canvas`` gives for a decoded trace)."""
    return tuple(line.strip() for line in reasoning.split("\n") if line.strip())


def gsm8k_item(problem) -> GSM8KItem:
    """The item of a GSM8K record (``question``, ``answer`` = worked solution ending in ``#### n``, ``uid``)."""
    if "####" not in problem.answer:
        raise ValueError(f"GSM8K problem {problem.uid!r}: the answer {problem.answer[-60:]!r} has no '#### n' final answer")
    reasoning = problem.answer.split("####")[0].strip()
    final = format_number(gsm8k_reference_answer(problem.answer))
    return GSM8KItem(problem.question, final, problem.uid, reasoning, split_steps(reasoning))


def _clean(text: str) -> str:
    return text.replace("$", "").replace(",", "").replace("×", "*").replace("÷", "/").strip()


def _percent(text: str) -> str:
    return re.sub(r"(\d(?:[\d.]*\d)?|\.\d+)\s*%", r"(\1/100)", text)


_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _value(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Fraction(repr(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return -_value(node.operand) if isinstance(node.op, ast.USub) else _value(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_value(node.left), _value(node.right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = _value(node.left), _value(node.right)
        if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
            raise ValueError(f"exponent {exponent} is not an integer within ±{MAX_EXPONENT}")
        return base ** int(exponent)
    raise ValueError(f"not plain arithmetic: {ast.dump(node)[:80]}")


def evaluate_expression(expression: str) -> Fraction | None:
    """The exact value of a calculator expression (``20*.8``, ``$1,200 / 4``, ``15% * 80``, ``2**3``):
    numbers, ``+ - * / ** ^``, parentheses; ``$`` and thousands commas ignored, ``n%`` read as n/100.
    ``None`` when it is not plain arithmetic or divides by zero."""
    text = _percent(_clean(expression)).replace("^", "**")
    if not text or re.search(r"[^\d.+\-*/()\s]", text):
        return None
    try:
        return _value(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


def _written(result: str) -> tuple[Fraction, int] | None:
    """(value, decimals) of a written result (``16``, ``$1,200``, ``33.33``, ``-4``), or None."""
    found = _RESULT.match(result.replace(",", ""))
    if found is None:
        return None
    number = found["number"]
    decimals = len(number.split(".")[1]) if "." in number else 0
    value = Fraction(number)
    return (-value if found["sign"] else value), decimals


def equation_holds(expression: str, result: str) -> bool | None:
    """Whether ``expression`` rounds to ``result`` at the result's written precision (half a unit
    of its last digit); ``None`` when either side cannot be read."""
    value, written = evaluate_expression(expression), _written(result)
    if value is None or written is None:
        return None
    target, decimals = written
    return abs(value - target) <= Fraction(1, 2 * 10**decimals)


def step_equations(step: str) -> list[tuple[str, str]]:
    """(expression, result) of every equation of a line: its annotations, else its plain equations."""
    annotated = [(m["expr"], m["result"]) for m in ANNOTATION.finditer(step)]
    return annotated or [(m["expr"], m["result"]) for m in PLAIN_EQUATION.finditer(step)]


def check_step(step: str) -> bool | None:
    """False if any equation of the line is false, True if at least one holds and none is false,
    None if the line has no equation that can be evaluated."""
    verdicts = [v for v in (equation_holds(e, r) for e, r in step_equations(step)) if v is not None]
    if not verdicts:
        return None
    return all(verdicts)


def conclusion(steps: Sequence[str]) -> Fraction | None:
    """The trace's written conclusion: the result of the last equation of its last line, else the
    last number of that line (None without one). ``4 + 4 = <<4+4=8>>8 years old 4 years from now``
    concludes 8."""
    if not steps:
        return None
    equations = step_equations(steps[-1])
    if equations:
        written = _written(equations[-1][1])
        if written is not None:
            return written[0]
    numbers = find_numbers(ANNOTATION.sub(" ", steps[-1]))
    return number_value(numbers[-1]) if numbers else None


def grade_gsm8k_trace(problem, steps: Sequence[str]) -> GSM8KGrade:
    """The step-level grade of a trace against ``problem.answer`` (a final answer or a worked
    solution ending in ``#### n``); module docstring for the rule."""
    steps = [s for s in (str(s).strip() for s in steps) if s]
    verdicts = [check_step(s) for s in steps]
    first_wrong = next((i for i, v in enumerate(verdicts) if v is False), None)
    if first_wrong is None and conclusion(steps) != gsm8k_reference_answer(problem.answer):
        first_wrong = max(0, len(steps) - 1)
    n_correct = len(steps) if first_wrong is None else first_wrong
    return GSM8KGrade(first_wrong is None, first_wrong, n_correct, sum(v is not None for v in verdicts))


def corruptible_steps(steps: Sequence[str]) -> list[int]:
    """Lines whose first annotation holds (a result that can be changed and then checked)."""
    return [i for i, step in enumerate(steps)
            if (found := ANNOTATION.search(step)) is not None and equation_holds(found["expr"], found["result"])]


def _format(value: Fraction, decimals: int) -> str:
    """``value`` rounded to ``decimals`` places, written with exactly that many."""
    scaled = round(value * 10**decimals)
    if decimals == 0:
        return str(scaled)
    digits = str(abs(scaled)).rjust(decimals + 1, "0")
    return f"{'-' if scaled < 0 else ''}{digits[:-decimals]}.{digits[-decimals:]}"


def _set_result(step: str, found: re.Match[str], new: str) -> str:
    """Rewrite one annotation's result, and the same number written right after the ``>>``."""
    after = step[found.end():]
    old = found["result"].strip()
    if after.lstrip(" $").startswith(old):
        cut = len(after) - len(after.lstrip(" $"))
        after = after[:cut] + new + after[cut + len(old):]
    return step[: found.start()] + f"<<{found['expr']}={new}>>" + after


def _replace_values(text: str, changes: dict[Fraction, Fraction]) -> str:
    """Every number of ``text`` whose value was changed, rewritten (same decimals as written)."""
    def swap(found: re.Match[str]) -> str:
        written = _written(found.group())
        if written is None or written[0] not in changes:
            return found.group()
        return _format(changes[written[0]], written[1])
    return re.sub(rf"(?<![\w.]){_NUMBER}(?![\d.]\d)", swap, text)


def _propagate(step: str, changes: dict[Fraction, Fraction]) -> str:
    """One later line with the changed values substituted and each annotation re-evaluated; a
    result that changes is added to ``changes`` for the lines after it."""
    step = _replace_values(step, changes)
    found = ANNOTATION.search(step)
    while found is not None:
        value, written = evaluate_expression(found["expr"]), _written(found["result"])
        if value is not None and written is not None and not equation_holds(found["expr"], found["result"]):
            new = Fraction(round(value * 10**written[1]), 10**written[1])
            changes[written[0]] = new
            step = _set_result(step, found, _format(new, written[1]))
            found = ANNOTATION.search(step, found.start())
        found = ANNOTATION.search(step, found.end())
    return step


def corrupt_gsm8k_trace(problem, steps: Sequence[str], *, step: int, rng: random.Random, propagate: bool = True) -> tuple[str, ...]:
    """Change the result of the first annotation of line ``step`` by a non-zero offset (the
    arithmetic task's offsets, kept >= 0 for a non-negative result), and the same number written
    after it. With ``propagate`` every later use of a changed value is rewritten and every later
    annotation re-evaluated from it (its result, and its uses, change in turn); without it the later
    lines are left as they were. Either way :func:`grade_gsm8k_trace` reports ``first_wrong == step``
    (the changed annotation is false)."""
    steps = list(steps)
    if step not in corruptible_steps(steps):
        raise ValueError(f"step {step} has no true <<expression=result>> annotation to corrupt; corruptible: {corruptible_steps(steps)}")
    found = ANNOTATION.search(steps[step])
    value, decimals = _written(found["result"])
    wrong = value + rng.choice([d for d in OFFSETS if value < 0 or value + d >= 0])
    steps[step] = _set_result(steps[step], found, _format(wrong, decimals))
    if propagate:
        changes = {value: wrong}
        for j in range(step + 1, len(steps)):
            steps[j] = _propagate(steps[j], changes)
    return tuple(steps)
