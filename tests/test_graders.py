import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdlm_study.graders import (
    extract_code,
    gsm8k_extract_answer,
    gsm8k_is_correct,
    humaneval_check,
    humaneval_pass_at_1,
    math_extract_boxed,
    math_is_correct,
    math_normalize,
)

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "gsm8k"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so she has 18 left.\n#### 18", "18"),
        ("#### 1,000", "1000"),
        ("#### $1,234.50 dollars", "1234.5"),
        ("The answer is 7.", "7"),
        ("the answer is: -3 apples and 4 pears", "-3"),
        ("Answer: 3.0", "3"),
        ("A: 12 dollars", "12"),
        ("He paid $45 for 3 shirts, so 15 each.", "15"),
        ("5.00", "5"),
        ("It is \\boxed{42}.", "42"),
        ("The total is 12 and then we add 5 to get 17 apples in total.", "17"),
        ("no numbers here", None),
        ("", None),
        ("0.5 of the cake", "0.5"),
    ],
)
def test_gsm8k_extract(text, expected):
    assert gsm8k_extract_answer(text) == expected


@pytest.mark.parametrize(
    "completion, reference, ok",
    [
        ("#### 18", "Janet sells 16 - 3 - 4 = 9 duck eggs...\n#### 18", True),
        ("The answer is 18.", 18, True),
        ("The answer is 18.0", "18", True),
        ("The answer is $1,800", 1800, True),
        ("The answer is 17", 18, False),
        ("I don't know", 18, False),
        ("#### -4", -4, True),
    ],
)
def test_gsm8k_is_correct(completion, reference, ok):
    assert gsm8k_is_correct(completion, reference) is ok


def test_unparsable_reference_raises():
    with pytest.raises(ValueError, match="'none'"):
        gsm8k_is_correct("5", "none")


@given(st.integers(-10**9, 10**9))
def test_formatted_integers_round_trip(n):
    assert gsm8k_extract_answer(f"#### {n:,}") == str(n)
    dollars = f"-${abs(n):,}" if n < 0 else f"${n:,}"
    assert gsm8k_extract_answer(f"The answer is {dollars}.") == str(n)


@pytest.mark.skipif(not (GSM8K / "test.jsonl").exists(), reason="../shared/gsm8k is not present")
def test_real_gsm8k_gold_solutions_grade_themselves_correct():
    rows = [json.loads(line) for line in (GSM8K / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 1319
    assert all(gsm8k_is_correct(r["answer"], r["answer"]) for r in rows)
    assert sum(gsm8k_is_correct(r["answer"].split("####")[0], r["answer"]) for r in rows) > 0.9 * len(rows)


@pytest.mark.parametrize(
    "text, expected",
    [("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"), ("\\boxed{a} then \\boxed{b}", "b"), ("\\fbox{3}", "3"), ("none", None),
     ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"), ("\\boxed{x^{2}+1}", "x^{2}+1")],
)
def test_math_extract_boxed(text, expected):
    assert math_extract_boxed(text) == expected


@pytest.mark.parametrize(
    "a, b",
    [("\\dfrac{1}{2}", "\\frac12"), ("\\left(3,4\\right)", "(3,4)"), ("90^\\circ", "90"), ("5\\text{ cm}", "5"), ("x = 3", "3"),
     ("0.5", "\\frac{1}{2}"), ("3.0", "3"), ("12.", "12")],
)
def test_math_normalize_equivalences(a, b):
    assert math_normalize(a) == math_normalize(b)


def test_math_is_correct():
    assert math_is_correct("We get \\boxed{\\dfrac{3}{6}}", "\\frac{1}{2}")
    assert math_is_correct("\\boxed{4}", "The final answer is $\\boxed{4}$.")
    assert not math_is_correct("\\boxed{5}", "4")
    assert not math_is_correct("no box", "4")


def test_extract_code():
    assert extract_code("Here:\n```python\nreturn 1\n```") == "return 1\n"
    assert extract_code("    return 1\n") == "    return 1\n"


PROBLEM = {"prompt": "def add(a, b):\n", "test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"}


def test_humaneval_pass_fail_timeout_memory_network_files(tmp_path):
    cases = ["    return a + b\n", "    return a - b\n", "    while True:\n        pass\n",
             "    x = bytearray(10**10)\n    return a + b\n",
             "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
             "    open('out.txt', 'w').write('x')\n    return a + b\n"]
    results = humaneval_pass_at_1([PROBLEM] * len(cases), cases, timeout_s=3.0)
    assert results[0]["passed"] and results[0]["status"] == "passed"
    assert not results[1]["passed"] and results[1]["status"] == "failed"
    assert not results[2]["passed"] and results[2]["status"] in ("timeout", "killed")
    assert not results[3]["passed"]
    assert not results[4]["passed"]
    assert results[5]["passed"]  # writing inside its own temporary directory is allowed
    assert not (tmp_path / "out.txt").exists() and not Path("out.txt").exists()


def test_humaneval_bad_problem():
    with pytest.raises(ValueError, match="entry_point"):
        humaneval_check({"prompt": "", "test": ""}, "")
