"""Bad input to the answer graders and the HumanEval sandbox: each case gets a specific error whose
message names the bad value (see ``tests/bad_input.py``). None of them starts a sandboxed process."""

import pytest

from mdlm_study.tasks.graders import (
    find_numbers,
    gsm8k_answer,
    gsm8k_extract_answer,
    gsm8k_is_correct,
    gsm8k_reference_answer,
    math_extract_boxed,
    math_is_correct,
    math_is_equiv,
    math_normalize,
)
from mdlm_study.tasks.sandbox import extract_code, humaneval_check, humaneval_pass_at_1
from tests.bad_input import Case, check

PROBLEM = {"prompt": "def add(a, b):\n", "test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"}
GOOD = "    return a + b\n"
UNMARKED = "Janet sells 16 - 3 - 4 = 9 eggs and makes 9 * 2 = 18 dollars"


def problem_with(**fields):
    return {**PROBLEM, **fields}


CASES = [
    # GSM8K: the completion
    Case("graders", "gsm8k completion None", lambda: gsm8k_is_correct(None, "18"), TypeError, r"completion must be a str, got NoneType None"),
    Case("graders", "gsm8k completion bytes", lambda: gsm8k_is_correct(b"#### 18", "18"), TypeError, r"got bytes b'#### 18'"),
    Case("graders", "gsm8k completion int", lambda: gsm8k_is_correct(18, "18"), TypeError, r"completion must be a str, got int 18"),
    Case("graders", "gsm8k completion list", lambda: gsm8k_is_correct(["#### 18"], "18"), TypeError, r"got list \['#### 18'\]"),
    # GSM8K: the reference
    Case("graders", "gsm8k reference None", lambda: gsm8k_is_correct("18", None), TypeError, r"reference must be a str or a number, got NoneType None"),
    Case("graders", "gsm8k reference bytes", lambda: gsm8k_is_correct("18", b"18"), TypeError, r"got bytes b'18'"),
    Case("graders", "gsm8k reference bool", lambda: gsm8k_is_correct("18", True), TypeError, r"got bool True"),
    Case("graders", "gsm8k reference nan", lambda: gsm8k_is_correct("18", float("nan")), ValueError, r"reference nan is not a finite number"),
    Case("graders", "gsm8k reference inf", lambda: gsm8k_is_correct("18", float("inf")), ValueError, r"reference inf is not a finite number"),
    Case("graders", "gsm8k reference without a number", lambda: gsm8k_is_correct("18", "none"), ValueError, r"reference 'none' .* 0 numbers"),
    Case("graders", "gsm8k reference empty", lambda: gsm8k_is_correct("18", ""), ValueError, r"reference '' has no final-answer marker"),
    Case("graders", "gsm8k worked solution without its answer line", lambda: gsm8k_reference_answer(UNMARKED), ValueError,
         r"reference 'Janet sells 16 - 3 - 4 = 9 eggs.*' .* 7 numbers, so its answer is ambiguous"),
    Case("graders", "gsm8k reference 1/0", lambda: gsm8k_is_correct("0", "#### 1/0"), ValueError, r"reference '#### 1/0': its answer '1/0'"),
    Case("graders", "gsm8k reference too long", lambda: gsm8k_reference_answer("#### 1e99999"), ValueError, r"'1e99999' is not a readable number"),
    Case("graders", "gsm8k reference a list", lambda: gsm8k_reference_answer(["18"]), TypeError, r"got list \['18'\]"),
    Case("graders", "gsm8k extract None", lambda: gsm8k_extract_answer(None), TypeError, r"text must be a str, got NoneType None"),
    Case("graders", "gsm8k answer bytes", lambda: gsm8k_answer(b"#### 18"), TypeError, r"text must be a str, got bytes b'#### 18'"),
    Case("graders", "find_numbers int", lambda: find_numbers(12), TypeError, r"text must be a str, got int 12"),
    # MATH
    Case("graders", "math completion None", lambda: math_is_correct(None, "4"), TypeError, r"completion must be a str, got NoneType None"),
    Case("graders", "math reference int", lambda: math_is_correct("\\boxed{4}", 4), TypeError, r"reference must be a str, got int 4"),
    Case("graders", "math reference empty", lambda: math_is_correct("\\boxed{4}", ""), ValueError, r"reference '' holds no answer"),
    Case("graders", "math reference blank", lambda: math_is_correct("\\boxed{4}", "  "), ValueError, r"reference '  ' holds no answer"),
    Case("graders", "math reference empty box", lambda: math_is_correct("\\boxed{4}", "so \\boxed{}"), ValueError,
         r"reference 'so \\\\boxed\{\}' holds no answer"),
    Case("graders", "math normalize None", lambda: math_normalize(None), TypeError, r"answer must be a str, got NoneType None"),
    Case("graders", "math equivalence with an int", lambda: math_is_equiv("1", 1), TypeError, r"answer must be a str, got int 1"),
    Case("graders", "math boxed bytes", lambda: math_extract_boxed(b"\\boxed{1}"), TypeError, r"text must be a str, got bytes"),
    Case("graders", "extract_code None", lambda: extract_code(None), TypeError, r"completion must be a str, got NoneType None"),
    # HumanEval sandbox: the program
    Case("sandbox", "completion None", lambda: humaneval_check(PROBLEM, None), TypeError, r"completion must be a str, got NoneType None"),
    Case("sandbox", "completion bytes", lambda: humaneval_check(PROBLEM, GOOD.encode()), TypeError, r"completion must be a str, got bytes"),
    Case("sandbox", "problem None", lambda: humaneval_check(None, GOOD), TypeError, r"problem must be a dict, got NoneType None"),
    Case("sandbox", "problem a string", lambda: humaneval_check("def add(a, b):", GOOD), TypeError, r"got str 'def add\(a, b\):'"),
    Case("sandbox", "problem without entry_point", lambda: humaneval_check({"prompt": "", "test": ""}, GOOD), ValueError,
         r"missing the field 'entry_point'"),
    Case("sandbox", "prompt not a string", lambda: humaneval_check(problem_with(prompt=5), GOOD), TypeError,
         r"problem\['prompt'\] must be a str, got int 5"),
    Case("sandbox", "test not a string", lambda: humaneval_check(problem_with(test=None), GOOD), TypeError,
         r"problem\['test'\] must be a str, got NoneType None"),
    Case("sandbox", "entry_point that injects code", lambda: humaneval_check(problem_with(entry_point="add); import os; (0"), GOOD),
         ValueError, r"entry_point'\] must be a Python identifier, got 'add\); import os; \(0'"),
    Case("sandbox", "entry_point a keyword", lambda: humaneval_check(problem_with(entry_point="class"), GOOD), ValueError,
         r"got 'class'"),
    # HumanEval sandbox: the limits
    Case("sandbox", "timeout 0", lambda: humaneval_check(PROBLEM, GOOD, timeout_s=0), ValueError, r"timeout_s must be .* > 0, got 0"),
    Case("sandbox", "timeout negative", lambda: humaneval_check(PROBLEM, GOOD, timeout_s=-1.5), ValueError, r"got -1\.5"),
    Case("sandbox", "timeout nan", lambda: humaneval_check(PROBLEM, GOOD, timeout_s=float("nan")), ValueError, r"got nan"),
    Case("sandbox", "timeout inf", lambda: humaneval_check(PROBLEM, GOOD, timeout_s=float("inf")), ValueError, r"got inf"),
    Case("sandbox", "timeout a string", lambda: humaneval_check(PROBLEM, GOOD, timeout_s="5"), TypeError, r"timeout_s must be a number of seconds, got str '5'"),
    Case("sandbox", "timeout a bool", lambda: humaneval_check(PROBLEM, GOOD, timeout_s=True), TypeError, r"got bool True"),
    Case("sandbox", "memory 0", lambda: humaneval_check(PROBLEM, GOOD, memory_mb=0), ValueError, r"memory_mb must be >= 64, got 0"),
    Case("sandbox", "memory a float", lambda: humaneval_check(PROBLEM, GOOD, memory_mb=512.0), TypeError, r"memory_mb must be an int, got float 512\.0"),
    Case("sandbox", "more problems than completions", lambda: humaneval_pass_at_1([PROBLEM, PROBLEM], [GOOD]), ValueError,
         r"2 problems but 1 completions"),
    Case("sandbox", "zero workers", lambda: humaneval_pass_at_1([PROBLEM], [GOOD], workers=0), ValueError, r"workers must be an int >= 1, got 0"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}/{c.name}" for c in CASES])
def test_bad_input(case):
    check(case)
