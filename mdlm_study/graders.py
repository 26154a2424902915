"""Deterministic answer extraction and comparison: GSM8K, MATH500; sandboxed HumanEval.

GSM8K (following lm-evaluation-harness's ``gsm8k`` strict/flexible extractors, re-written): the
final answer is the number after ``####`` when present, else after an explicit answer phrase
(``The answer is``, ``Answer:``, ``A:``, ``\\boxed{}``), else the last number in the text. Numbers
are normalised: ``$``, commas, units and trailing text removed, ``5.00`` → ``5``.

MATH500 (Hendrycks et al.'s ``is_equiv`` normalisation, as used by Minerva, re-written): the last
``\\boxed{...}`` with balanced braces, then string normalisation (``\\left``/``\\right``, ``\\dfrac``,
``\\frac12``, units, degrees, spaces) and a numeric comparison where both sides are numbers.

HumanEval: the completion runs only in a child process (``python -I``) in a fresh temporary
directory, with an address-space, CPU-time, file-size and process-count limit, a wall-clock
timeout, a stripped environment, and the network namespace removed when ``unshare`` allows it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\.\d+")
ANSWER_PHRASES = (r"the answer is[:\s]*", r"answer[:\s]+", r"\bA:\s*")


def normalize_number(text: str) -> str | None:
    """``"$1,234.50"`` → ``"1234.5"``; ``"-3.00"`` → ``"-3"``; ``None`` when no number is found."""
    match = NUMBER.search(text)
    if match is None:
        return None
    raw = match.group(0).replace("$", "").replace(",", "").replace(" ", "")
    try:
        value = Fraction(raw)
    except ValueError:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    return format(float(value), "f").rstrip("0").rstrip(".")


def gsm8k_extract_answer(text: str) -> str | None:
    """The final answer of a GSM8K completion as a normalised number string, or ``None``."""
    if "####" in text:
        found = normalize_number(text.split("####")[-1])
        if found is not None:
            return found
    boxed = math_extract_boxed(text)
    if boxed is not None and normalize_number(boxed) is not None:
        return normalize_number(boxed)
    for phrase in ANSWER_PHRASES:
        parts = re.split(phrase, text, flags=re.IGNORECASE)
        if len(parts) > 1:
            found = normalize_number(parts[-1])
            if found is not None:
                return found
    numbers = NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def gsm8k_is_correct(completion: str, reference: str | int | float) -> bool:
    """Numeric comparison of a completion's final answer with a GSM8K reference (an answer string
    ending in ``#### n``, or a bare number). Unparsable completions are wrong; an unparsable
    reference raises ``ValueError``."""
    ref_text = str(reference)
    ref = normalize_number(ref_text.split("####")[-1]) if "####" in ref_text else normalize_number(ref_text)
    if ref is None:
        raise ValueError(f"reference {reference!r} contains no number")
    got = gsm8k_extract_answer(completion)
    if got is None:
        return False
    a, b = float(got), float(ref)
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def math_extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; ``None`` if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[brace + 1 : i]
    return None


def _fix_fracs(text: str) -> str:
    """``\\frac12`` → ``\\frac{1}{2}``, ``\\frac1{2}`` → ``\\frac{1}{2}``."""
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", text)
    return re.sub(r"\\frac\{([^{}]+)\}(\d)", r"\\frac{\1}{\2}", text)


def math_normalize(answer: str) -> str:
    """Hendrycks-style string normalisation of a MATH answer."""
    s = answer.strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("dfrac", "frac"), ("tfrac", "frac"),
                     ("^{\\circ}", ""), ("^\\circ", ""), ("\\$", ""), ("$", ""), ("\\%", ""), ("%", "")):
        s = s.replace(old, new)
    s = re.sub(r"\s*(cm|m|km|units|unit|inches|inch|feet|degrees|dollars)\s*$", "", s)
    s = re.sub(r"^[a-zA-Z]\s*=\s*", "", s)
    s = s.replace(" ", "").rstrip(".")
    s = _fix_fracs(s)
    if s.startswith("0.") is False and s.startswith("."):
        s = "0" + s
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    if s == "0.5":
        s = "\\frac{1}{2}"
    return s


def _as_number(s: str) -> Fraction | None:
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}", s)
    try:
        if frac:
            sign = -1 if frac.group(1) else 1
            return sign * Fraction(int(frac.group(2)), int(frac.group(3)))
        return Fraction(s.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def math_is_correct(completion: str, reference: str) -> bool:
    """The completion's last boxed answer equals the reference (a boxed solution or a bare answer)."""
    got = math_extract_boxed(completion)
    if got is None:
        return False
    ref = math_extract_boxed(reference) or reference
    a, b = math_normalize(got), math_normalize(ref)
    if a == b:
        return True
    x, y = _as_number(a), _as_number(b)
    return x is not None and y is not None and x == y


def extract_code(completion: str) -> str:
    """The code inside the first markdown fence, or the completion unchanged."""
    match = re.search(r"```(?:python)?\n(.*?)```", completion, flags=re.DOTALL)
    return match.group(1) if match else completion


def _limits(memory_mb: int, cpu_s: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
        resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
        os.setsid()

    return apply


def _no_network_prefix() -> list[str]:
    """``unshare -rn`` (a new user and network namespace: no interface but loopback) when available."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


def humaneval_check(problem: dict, completion: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> dict:
    """Run ``prompt + completion + test + check(entry_point)`` in a sandboxed child process."""
    for key in ("prompt", "test", "entry_point"):
        if key not in problem:
            raise ValueError(f"HumanEval problem is missing the field {key!r}")
    program = problem["prompt"] + completion + "\n\n" + problem["test"] + f"\n\ncheck({problem['entry_point']})\n"
    with tempfile.TemporaryDirectory(prefix="humaneval-") as workdir:
        path = os.path.join(workdir, "program.py")
        with open(path, "w") as handle:
            handle.write(program)
        command = _no_network_prefix() + [sys.executable, "-I", path]
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        try:
            done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=timeout_s, preexec_fn=_limits(memory_mb, int(timeout_s) + 1))
        except subprocess.TimeoutExpired:
            return {"passed": False, "status": "timeout", "detail": f"killed after {timeout_s} s"}
    if done.returncode == 0:
        return {"passed": True, "status": "passed", "detail": ""}
    status = "killed" if done.returncode < 0 else "failed"
    return {"passed": False, "status": status, "detail": done.stderr.decode(errors="replace")[-500:]}


def humaneval_pass_at_1(problems: list[dict], completions: list[str], *, workers: int = 2, **kwargs) -> list[dict]:
    """Check many completions with a small pool; results in the original order."""
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pc: humaneval_check(pc[0], pc[1], **kwargs), zip(problems, completions, strict=True)))
