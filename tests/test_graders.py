"""Answer graders: number reading, GSM8K extraction and exact comparison, MATH equivalence.

``GSM8K_CASES`` and ``MATH_CASES`` are the probe tables (completion, reference, expected); each row
says why it is there when it is not obvious. The sandbox is tested in ``test_sandbox.py``.
"""

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_study.tasks.graders import (
    find_numbers,
    format_number,
    gsm8k_answer,
    gsm8k_extract_answer,
    gsm8k_is_correct,
    gsm8k_reference_answer,
    math_extract_boxed,
    math_is_correct,
    math_is_equiv,
    math_normalize,
)
from mdlm_study.tasks.sandbox import extract_code

GSM8K = next((p / "shared" / "gsm8k" for p in Path(__file__).resolve().parents if (p / "shared" / "gsm8k").is_dir()), None)
WORKED = "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day.\nA: 18"
DIGITS_400 = "7" * 400

GSM8K_CASES = [
    # read wrong by the old grader (1e-6 relative tolerance, a number pattern that stopped early)
    ("#### 1000001", "1000000", False),
    ("#### 123456789", "123456700", False),
    ("#### 3/4", "3", False),
    ("#### 1e3", "1", False),
    ("\\boxed{\\frac{1}{2}}", "1", False),
    ("#### 10^6", "10", False),
    ("#### 1 000", "1", False),
    (f"#### {DIGITS_400}", DIGITS_400, True),  # both were inf
    (f"#### {DIGITS_400}", DIGITS_400[:-1] + "8", False),
    ("#### 1/2", "0.5", True),
    ("#### 18", WORKED, True),  # a reference ending "A: 18" was read by its first number (16)
    ("#### 16", WORKED, False),
    # the same numbers read whole
    ("#### 1e3", "1000", True),
    ("#### 1.5e-3", "0.0015", True),
    ("#### 1.5 \\times 10^{3}", "1500", True),
    ("#### 10^6", "1000000", True),
    ("#### 2^10", "1024", True),
    ("#### 1 000", "1000", True),
    ("#### 1\u2009000", "1000", True),  # thin space
    ("#### 1\u202f000\u202f000", "1000000", True),  # narrow no-break space
    ("#### 1,000,000", "1000000", True),
    ("#### 3/4", "0.75", True),
    ("\\boxed{\\frac{1}{2}}", "0.5", True),
    ("\\boxed{\\dfrac{3}{4}}", "3/4", True),
    # thousands groups versus lists
    ("#### 1,000", "1", False),
    ("#### 1, 000", "1", True),  # a comma and a space separate two numbers
    ("#### 1, 000", "1000", False),
    ("#### 12,34", "1234", False),
    ("The numbers are 1,2,3", "3", True),
    # signs, currency, units, percent, trailing period, decimals
    ("#### -4", "-4", True),
    ("#### \u22124", "-4", True),  # Unicode minus
    ("#### +18", "18", True),
    ("#### -$5", "-5", True),
    ("#### $-5", "-5", True),
    ("#### $18", "18", True),
    ("#### €1,250", "1250", True),
    ("#### 18 dollars", "18", True),
    ("#### 25%", "25", True),
    ("#### 5%", "0.05", False),  # a percent sign is dropped, not divided by 100 (GSM8K writes 25 for 25%)
    ("#### 18.", "18", True),
    ("#### 18.00", "18", True),
    ("#### 0018", "18", True),
    ("The answer is 18.0", "18", True),
    ("It costs 1.50 per egg", "1.5", True),
    ("10-4=6", "6", True),  # a hyphen after a digit is not a sign
    # lm-evaluation-harness flexible-extract misses: "$18.00" stays "18.00" there and fails string equality
    ("She earns $18.00", "18", True),
    ("He paid $45 for 3 shirts, so 15 each.", "15", True),
    # precedence: #### > the last of (answer phrase, \boxed) > last number
    ("#### 18\nThe answer is 20", "18", True),
    ("#### 18\n#### 20", "20", True),  # the last ####
    ("The answer is 18. In total 20 apples remained", "18", True),
    ("The answer is 5 and \\boxed{7}", "7", True),  # the last explicit answer wins
    ("\\boxed{7}. So the answer is 5", "5", True),
    ("Section A: 240 seats + 60 seats = 300 seats, so \\boxed{920}", "920", True),  # "A:" inside a line is not a marker
    ("the final answer is 15 gallons * 8 pints = 120 pints\n\\boxed{120}", "120", True),
    ("We get \\boxed{7}. Check: 7 - 2 = 5", "7", True),
    ("12 apples + 6 apples = 18 apples", "18", True),
    ("the answer is: -3 apples and 4 pears", "-3", True),
    ("**Answer:** 42", "42", True),
    ("The final answer is \\(42\\)", "42", True),
    ("The answer is: **72**", "72", True),
    ("A: Janet sells 16 - 3 - 4 = 9 eggs and makes 18 dollars.", "18", True),  # "A:" then words is not an answer
    ("A: 18", "18", True),
    ("\\boxed{\\$18}", "18", True),
    ("\\boxed{18 \\text{ dollars}}", "18", True),
    ("The total is \\boxed{1,200}.", "1200", True),
    # a new few-shot question after the answer is cut off (lm-evaluation-harness stops at "Question:")
    ("The answer is 18.\n\nQuestion: Tom has 5 apples. How many?\nAnswer: 5", "18", True),
    ("#### 18\n\nQuestion: Tom has 5 apples.\n#### 5", "18", True),
    ("A: 18\n\nQ: How many cats?\nA: 3", "18", True),
    # no answer, or an answer that cannot be read, is wrong
    ("The answer is 17", "18", False),
    ("I don't know", "18", False),
    ("", "18", False),
    ("#### 1/0", "0", False),
    ("#### 1e99999", "1", False),
    # references in every accepted form
    ("#### 18", "The answer is 18.", True),
    ("#### 18", "\\boxed{18}", True),
    ("#### 18", "$18", True),
    ("#### 18", "18 dollars", True),
    ("#### 5,000", "5 000", True),
    ("#### 18", 18, True),
    ("#### 18", Fraction(18), True),
    ("#### 18", Decimal("18.0"), True),
    ("#### 0.1", 0.1, True),  # a float reference is read by its shortest repr, exactly 1/10
    ("#### 0.30000000000000004", 0.3, False),
    ("The answer is 42", "42.0", True),
    # a second probe set, written after the rules above and run unchanged
    ('#### 1,234,567.89', '1234567.89', True),
    ('#### 1.000', '1', True),
    ('The answer is 18 apples. #### 18', '18', True),
    ('####18', '18', True),
    ('#### **18**', '18', True),
    ('#### \\$18', '18', True),
    ('#### 18 + 2 = 20', '18', True),
    ('The answer is \\boxed{18}', '18', True),
    ('So 5 + 13 = 18.', '18', True),
    ('18', 18, True),
    ('#### 18', '#### 18.0', True),
    ('The answer is 3,000.', '3000', True),
    ('The answer is 3,000,000,000,000', '3000000000000', True),
    ('The answer is 2.5 hours', '2.5', True),
    ('The answer is -2.5', '-5/2', True),
    ('answer is 10\nQuestion: what is 5', '10', True),
    ('#### 1 2', '12', False),
    ('#### 100 000', '100000', True),
    ('#### 10 000 000', '10000000', True),
    ('\\boxed{18}\n\nQuestion: next \\boxed{5}', '18', True),
    ('It is 18.\nQuestion: x', '18', True),
    ('The answer is $\\frac{3}{4}$', '0.75', True),
    ('#### 1e-2', '0.01', True),
    ('#### 5 x 10^2', '500', True),
    ('#### 5*10**2', '500', True),
    ('#### ¥500', '500', True),
    ('#### 2,50', '250', False),
    ('#### 18,', '18', True),
    ('A: -7', '-7', True),
    ('The answer is (18)', '18', True),
    ('The answer is [18]', '18', True),
    ('#### 1000', '999.9999999', False),
    ('#### 999999999999', '1000000000000', False),
    ('#### 0.1', '0.10000001', False),
    ('#### 1/3', '0.3333333', False),
    ('#### 1 000 000', '1', False),
    ('#### 5e2', '5', False),
    ('#### 7^2', '7', False),
    ('\\boxed{\\frac{7}{2}}', '7', False),
]

MATH_CASES = [
    # Hendrycks is_equiv normalisations
    ("\\boxed{\\dfrac{1}{2}}", "\\frac12", True),
    ("\\boxed{\\left(3,4\\right)}", "(3,4)", True),
    ("\\boxed{(3, 4)}", "(3,4)", True),
    ("\\boxed{90^\\circ}", "90", True),
    ("\\boxed{90^{\\circ}}", "90", True),
    ("\\boxed{5\\text{ cm}}", "5", True),
    ("\\boxed{5\\text{ cm}^2}", "5", True),
    ("\\boxed{10 inches}", "10", True),
    ("\\boxed{x = 3}", "3", True),
    ("\\boxed{\\$18.50}", "18.5", True),
    ("\\boxed{50\\%}", "50", True),
    ("\\boxed{\\sqrt3}", "\\sqrt{3}", True),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}", True),
    ("\\boxed{\\text{(A)}}", "(A)", True),
    ("\\boxed{\\text{Evelyn}}", "Evelyn", True),
    ("\\boxed{3\\!\\cdot\\!2}", "3\\cdot2", True),
    # numbers compared exactly, in one canonical form
    ("\\boxed{0.5}", "\\frac{1}{2}", True),
    ("\\boxed{.5}", "\\frac{1}{2}", True),
    ("\\boxed{1/2}", "\\frac{1}{2}", True),
    ("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", True),
    ("\\boxed{\\frac12}", "0.5", True),
    ("\\boxed{-\\frac{1}{2}}", "-0.5", True),
    ("\\boxed{\\frac{-1}{2}}", "-\\frac{1}{2}", True),
    ("\\boxed{3.0}", "3", True),
    ("\\boxed{0.10}", "\\frac{1}{10}", True),
    ("\\boxed{2^{10}}", "1024", True),
    ("\\boxed{1.5\\times10^{3}}", "1500", True),
    ("\\boxed{1,000}", "1000", True),
    ("\\boxed{1{,}000}", "1000", True),
    ("\\boxed{\\frac{1}{3}}", "0.333", False),
    ("\\boxed{0.3333333}", "\\frac{1}{3}", False),
    ("\\boxed{1000001}", "1000000", False),
    ("\\boxed{5}", "4", False),
    # lists, tuples, intervals and sets, element by element
    ("\\boxed{1, 000}", "1000", False),
    ("\\boxed{1,2}", "12", False),  # a list, not twelve (the old grader removed the comma)
    ("\\boxed{1, 2}", "1,2", True),
    ("\\boxed{(0,100)}", "(0, 100)", True),
    ("\\boxed{(0.5, 1)}", "(\\frac12, 1)", True),
    ("\\boxed{\\{1,2\\}}", "\\{1, 2\\}", True),
    ("\\boxed{[1, 2)}", "[1,2)", True),
    ("\\boxed{(1,2)}", "[1,2]", False),
    # symbols, reference forms, missing answers
    ("\\boxed{\\infty}", "\\infty", True),
    ("\\boxed{2\\pi}", "\\pi", False),
    ("\\boxed{10}", "The final answer is $\\boxed{10}$.", True),
    ("\\boxed 5", "5", True),
    ("no box 4", "4", False),
    # a second probe set, written after the rules above and run unchanged
    ('\\boxed{\\frac{3}{2}}', '1.5', True),
    ('\\boxed{\\dfrac{\\pi}{2}}', '\\frac{\\pi}{2}', True),
    ('\\boxed{x=\\frac12}', '0.5', True),
    ('\\boxed{y = 2x + 1}', '2x+1', True),
    ('\\boxed{4\\text{ units}^2}', '4', True),
    ('\\boxed{4 \\text{square units}}', '4', True),
    ('\\boxed{\\text{5 inches}}', '5', True),
    ('\\boxed{3\\sqrt{2}}', '3\\sqrt2', True),
    ('\\boxed{(-\\infty, 3]}', '(-\\infty,3]', True),
    ('\\boxed{\\{-1, 2\\}}', '\\{-1,2\\}', True),
    ('\\boxed{0.25}', '\\frac{1}{4}', True),
    ('\\boxed{-.5}', '-\\frac12', True),
    ('\\boxed{10^{-2}}', '0.01', True),
    ('\\boxed{\\$1,000}', '1000', True),
    ('\\boxed{1000}', '10^3', True),
    ('\\boxed{3}', '\\text{3}', True),
    ('\\boxed{\\textbf{(B)}}', '(B)', True),
    ('\\boxed{5.5\\%}', '5.5', True),
    ('\\boxed{30^\\circ}', '30', True),
    ('\\boxed{\\left[ 1,2 \\right]}', '[1,2]', True),
    ('\\boxed{2, 3}', '3, 2', False),
    ('\\boxed{1,5}', '15', False),
    ('\\boxed{0.999999}', '1', False),
    ('\\boxed{\\frac{1}{7}}', '0.142857', False),
    ('\\boxed{12,345}', '12345', True),
]


@pytest.mark.parametrize("completion, reference, expected", GSM8K_CASES, ids=[f"gsm8k-{i}" for i in range(len(GSM8K_CASES))])
def test_gsm8k_table(completion, reference, expected):
    assert gsm8k_is_correct(completion, reference) is expected


@pytest.mark.parametrize("completion, reference, expected", MATH_CASES, ids=[f"math-{i}" for i in range(len(MATH_CASES))])
def test_math_table(completion, reference, expected):
    assert math_is_correct(completion, reference) is expected


def test_tables_are_large_and_balanced():
    rows = GSM8K_CASES + MATH_CASES
    assert len(rows) >= 80
    assert 0.2 < sum(expected for *_, expected in rows) / len(rows) < 0.8


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so she has 18 left.\n#### 18", "18"),
        ("#### 1,000", "1000"),
        ("#### $1,234.50 dollars", "1234.5"),
        ("The answer is 7.", "7"),
        ("Answer: 3.0", "3"),
        ("A: 12 dollars", "12"),
        ("5.00", "5"),
        ("It is \\boxed{42}.", "42"),
        ("The total is 12 and then we add 5 to get 17 apples in total.", "17"),
        ("3 500 ml", "500"),  # outside an answer slot a plain space separates numbers
        ("#### 1/3", "1/3"),
        ("#### -0.25", "-0.25"),
        ("no numbers here", None),
        ("", None),
        ("0.5 of the cake", "0.5"),
    ],
)
def test_gsm8k_extract(text, expected):
    assert gsm8k_extract_answer(text) == expected


def test_find_numbers_reads_whole_numbers():
    text = "Costs: $1,234.50, -$5, 1.5 \\times 10^{3}, \\dfrac{3}{4}, 10^6, 1e3, 3/4, 25% and 1, 000."
    assert [m.group() for m in find_numbers(text)] == [
        "$1,234.50", "-$5", "1.5 \\times 10^{3}", "\\dfrac{3}{4}", "10^6", "1e3", "3/4", "25", "1", "000"]
    assert [m.group() for m in find_numbers("#### 1 000", spaces_group=True)] == ["1 000"]


def test_unreadable_numbers_are_none_not_slow():
    assert gsm8k_answer("#### 10^99999999") is None
    assert gsm8k_answer("#### 1e99999999") is None
    assert gsm8k_answer("#### " + "9" * 5000) is None
    assert gsm8k_answer("#### 0^-1") is None


@pytest.mark.parametrize("text", ["1,0" * 200_000, "1 " * 200_000, "#### " * 100_000, "-" * 400_000 + "x", "\\frac{" * 100_000])
def test_long_adversarial_text_is_linear(text):
    import time

    start = time.perf_counter()
    gsm8k_answer(text)
    math_normalize(text)
    assert time.perf_counter() - start < 8.0  # about 1 s here; the quadratic version took 12 s


def test_reference_without_a_marked_answer_is_refused():
    with pytest.raises(ValueError, match=r"'Janet sells 16 eggs and keeps 3'.*2 numbers"):
        gsm8k_reference_answer("Janet sells 16 eggs and keeps 3")
    with pytest.raises(ValueError, match="'none'"):
        gsm8k_is_correct("5", "none")
    with pytest.raises(ValueError, match=r"'1/0'"):
        gsm8k_reference_answer("#### 1/0")


def test_non_string_completion_is_a_type_error():
    with pytest.raises(TypeError, match="completion must be a str, got NoneType None"):
        gsm8k_is_correct(None, "18")
    with pytest.raises(TypeError, match="completion must be a str, got bytes b'18'"):
        gsm8k_is_correct(b"18", "18")


@st.composite
def formatted_integers(draw):
    """An integer and a way a model might write it after an answer marker."""
    n = draw(st.integers(-10**15, 10**15))
    separator = draw(st.sampled_from(["", ",", " ", "\u2009", "\u202f"]))
    digits = f"{abs(n):,}".replace(",", separator)
    currency = draw(st.sampled_from(["", "$", "\\$", "€", "£"]))
    sign = "-" if n < 0 else draw(st.sampled_from(["", "+"]))
    body = draw(st.sampled_from([f"{sign}{currency}{digits}", f"{currency}{sign}{digits}"]))
    suffix = draw(st.sampled_from(["", ".", " dollars", "%", " cm.", ".00"]))
    marker = draw(st.sampled_from(["#### ", "The answer is ", "Answer: ", "A: ", "so the answer is: **"]))
    return n, marker + body + suffix


@settings(deadline=None)  # the machine is shared with training jobs
@given(formatted_integers())
def test_formatted_integers_round_trip(case):
    n, text = case
    assert gsm8k_answer(text) == n
    assert gsm8k_is_correct(text, str(n)) and gsm8k_is_correct(text, n)


@settings(deadline=None)  # the machine is shared with training jobs
@given(st.integers(-10**12, 10**12), st.integers(-10**12, 10**12))
def test_a_number_never_equals_a_different_one(a, b):
    assert gsm8k_is_correct(f"#### {a:,}", f"The answer is {b}.") is (a == b)
    assert math_is_equiv(str(a), f"{b:,}") is (a == b)


@settings(deadline=None)  # the machine is shared with training jobs
@given(st.fractions(max_denominator=10**6), st.fractions(max_denominator=10**6))
def test_fractions_are_exact(p, q):
    assert gsm8k_answer("#### " + format_number(p)) == p
    latex = f"{'-' if p < 0 else ''}\\frac{{{abs(p.numerator)}}}{{{p.denominator}}}"
    assert math_is_equiv(latex, format_number(q)) is (p == q)


@pytest.mark.skipif(GSM8K is None, reason="shared/gsm8k is not present")
@pytest.mark.parametrize("split, size", [("train", 7473), ("test", 1319)])
def test_real_gsm8k_gold_answers_read_as_their_final_number(split, size):
    rows = [json.loads(line) for line in (GSM8K / f"{split}.jsonl").read_text().splitlines()]
    assert len(rows) == size
    for row, following in zip(rows, rows[1:] + rows[:1], strict=True):
        body, tail = row["answer"].rsplit("####", 1)
        final = Fraction(tail.strip().replace(",", ""))
        assert gsm8k_reference_answer(row["answer"]) == final, row["answer"]
        # the same solution ending "A: n" instead of "#### n" is read the same way
        assert gsm8k_reference_answer(body + "A:" + tail) == final, row["answer"]
        # completions: the solution, its reasoning with a boxed answer, and one that runs on into the next exemplar
        run_on = f"{row['answer']}\n\nQuestion: {following['question']}\nAnswer: {following['answer']}"
        for completion in (row["answer"], body + f"\\boxed{{{tail.strip()}}}", run_on):
            assert gsm8k_answer(completion) == final, completion


@pytest.mark.parametrize(
    "text, expected",
    [("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"), ("\\boxed{a} then \\boxed{b}", "b"), ("\\fbox{3}", "3"), ("none", None),
     ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"), ("\\boxed{x^{2}+1}", "x^{2}+1"), ("\\boxed{unbalanced", None), ("$\\boxed 7$", "7")],
)
def test_math_extract_boxed(text, expected):
    assert math_extract_boxed(text) == expected


@pytest.mark.parametrize(
    "a, b",
    [("\\dfrac{1}{2}", "\\frac12"), ("\\left(3,4\\right)", "(3,4)"), ("90^\\circ", "90"), ("5\\text{ cm}", "5"), ("x = 3", "3"),
     ("0.5", "\\frac{1}{2}"), ("3.0", "3"), ("12.", "12"), ("\\tfrac{3}{4}", "0.75")],
)
def test_math_normalize_equivalences(a, b):
    assert math_normalize(a) == math_normalize(b)


def test_math_normalize_keeps_symbols_and_deep_nesting():
    assert math_normalize("x^2 + m") == "x^2+m"  # a single-letter variable is not a unit
    deep = "(" * 500 + "1" + ")" * 500
    assert math_normalize(deep).startswith("(((")


def test_math_reference_without_an_answer_is_refused():
    with pytest.raises(ValueError, match=r"reference '\\\\boxed\{\}'"):
        math_is_correct("\\boxed{1}", "\\boxed{}")
    with pytest.raises(TypeError, match="reference must be a str, got int 4"):
        math_is_correct("\\boxed{4}", 4)


def test_extract_code():
    assert extract_code("Here:\n```python\nreturn 1\n```") == "return 1\n"
    assert extract_code("    return 1\n") == "    return 1\n"
