"""Bad input as data: every case says what it calls and the specific error it must raise.

Each ``tests/test_bad_input_<area>.py`` defines ``CASES`` (a list of :class:`Case`) and runs them with
:func:`check`; ``benchmarks/bench_bad_input.py`` imports the same lists and counts the outcomes
(clear error / silently wrong / crash) for the README's reliability table.

- ``clear``: the call raised ``case.error`` and its message matches ``case.match`` (a regex that
  names the bad value or parameter);
- ``silent``: the call returned (a wrong answer nobody is told about);
- ``crash``: it raised something else, or the right type with a message that does not name the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

OUTCOMES = ("clear", "silent", "crash")


@dataclass(frozen=True)
class Case:
    area: str  # e.g. "engine", "graders", "sandbox", "flags", "training", "notebooks", "data"
    name: str  # what is wrong, in a few words (the test id)
    call: Callable[[], object]  # runs the bad input
    error: type[BaseException] = ValueError  # the error it must raise
    match: str = ""  # regex the message must contain (it should name the bad value)


def outcome(case: Case) -> tuple[str, str]:
    """(outcome, detail) of running one case."""
    try:
        result = case.call()
    except case.error as err:
        if re.search(case.match, str(err)):
            return "clear", f"{type(err).__name__}: {err}"
        return "crash", f"{type(err).__name__} without {case.match!r}: {err}"
    except Exception as err:  # noqa: BLE001 - any other exception is a crash by definition
        return "crash", f"{type(err).__name__}: {err}"
    return "silent", f"returned {result!r}"[:200]


def check(case: Case) -> None:
    """Assert that ``case`` gets its clear error (pytest shows the detail otherwise)."""
    result, detail = outcome(case)
    assert result == "clear", f"{case.area}/{case.name}: {result}: {detail}"
