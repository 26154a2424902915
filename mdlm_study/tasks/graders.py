"""Deterministic answer extraction and exact comparison (GSM8K, MATH500).

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

HumanEval code execution lives in :mod:`mdlm_study.tasks.sandbox`.
"""


from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

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


def quote_value(value: object, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters, for error messages that name the bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {quote_value(value)}")
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
    return list(pattern.finditer(require_str(text, "text")))


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
    text = _NEXT_QUESTION.split(require_str(text, "text"), maxsplit=1)[0]
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
        raise TypeError(f"reference must be a str or a number, got {type(reference).__name__} {quote_value(reference)}")
    found = gsm8k_marked_answer(reference)
    if found is None:
        numbers = find_numbers(reference, spaces_group=True)
        if len(numbers) != 1:
            raise ValueError(f"reference {quote_value(reference)} has no final-answer marker (#### n, The answer is n, "
                             f"A: n, \\boxed{{n}}) and {len(numbers)} numbers, so its answer is ambiguous")
        found = numbers[0]
    value = number_value(found)
    if value is None:
        raise ValueError(f"reference {quote_value(reference)}: its answer {found.group()!r} is not a readable number")
    return value


def gsm8k_is_correct(completion: str, reference: str | int | Fraction | float) -> bool:
    """Whether the completion's final answer (:func:`gsm8k_answer`) equals the reference's
    (:func:`gsm8k_reference_answer`) exactly. A completion without a readable answer is wrong; a
    reference without one raises ``ValueError``; a completion that is not a ``str`` raises ``TypeError``."""
    require_str(completion, "completion")
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
    text = require_str(text, "text")
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
    return _canonical(_strip_units_and_variable(_latex_cleanup(require_str(answer, "answer"))))


def math_is_equiv(a: str, b: str) -> bool:
    """Two MATH answers are equivalent when their :func:`math_normalize` forms are equal."""
    return math_normalize(a) == math_normalize(b)


def math_is_correct(completion: str, reference: str) -> bool:
    """The completion's last boxed answer is equivalent (:func:`math_is_equiv`) to the reference (a
    solution with a ``\\boxed{}``, or a bare answer). No boxed answer in the completion is wrong; an
    empty reference raises ``ValueError``; a non-``str`` argument raises ``TypeError``."""
    require_str(completion, "completion")
    require_str(reference, "reference")
    boxed = math_extract_boxed(reference)
    expected = reference if boxed is None else boxed
    if not math_normalize(expected):
        raise ValueError(f"reference {quote_value(reference)} holds no answer")
    got = math_extract_boxed(completion)
    return got is not None and math_normalize(got) == math_normalize(expected)
