import json
from pathlib import Path

import pytest

from mdlm_study.tasks.benchmark_data import (
    BENCHMARK_SETTINGS,
    gsm8k_prompt,
    load_gsm8k,
    load_humaneval,
    load_math500,
    math_prompt,
)
from mdlm_study.tasks.graders import gsm8k_is_correct
from mdlm_study.tasks.sandbox import humaneval_check

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "gsm8k"


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gsm8k_local_file_and_prompt(tmp_path):
    path = write(tmp_path / "g.jsonl", [{"question": "1+1?", "answer": "1+1=2\n#### 2"}, {"question": "2+2?", "answer": "#### 4"}])
    problems = load_gsm8k(path)
    assert [p.uid for p in problems] == ["gsm8k-0", "gsm8k-1"]
    assert gsm8k_is_correct("The answer is 2", problems[0].answer)
    prompt = gsm8k_prompt("3+3?", shots=problems[:1])
    assert prompt.startswith("Question: 1+1?\nAnswer: 1+1=2\n#### 2\n\n") and prompt.endswith("Question: 3+3?\nAnswer:")
    assert load_gsm8k(path, limit=1) == problems[:1]


def test_gsm8k_missing_fields_and_paths(tmp_path):
    with pytest.raises(ValueError, match="g.jsonl:1: missing field 'answer'"):
        load_gsm8k(write(tmp_path / "g.jsonl", [{"question": "q"}]))
    with pytest.raises(ValueError, match="has no '####'"):
        load_gsm8k(write(tmp_path / "h.jsonl", [{"question": "q", "answer": "2"}]))
    with pytest.raises(ValueError, match="does not exist"):
        load_gsm8k(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="'dev'"):
        load_gsm8k("dev")


@pytest.mark.skipif(not (GSM8K / "train.jsonl").exists(), reason="../shared/gsm8k is not present")
def test_real_gsm8k_files_load():
    assert len(load_gsm8k(GSM8K / "train.jsonl")) == 7473
    assert len(load_gsm8k(GSM8K / "test.jsonl")) == 1319


def test_math500(tmp_path):
    path = write(tmp_path / "m.jsonl", [{"problem": "p", "answer": "\\frac12"}, {"problem": "q", "solution": "so \\boxed{3}"}])
    problems = load_math500(path)
    assert [p.answer for p in problems] == ["\\frac12", "3"]
    assert "\\boxed{}" in math_prompt("p")
    with pytest.raises(ValueError, match="neither 'answer'"):
        load_math500(write(tmp_path / "bad.jsonl", [{"problem": "p"}]))


def test_humaneval_shipped_problems_and_canonical_solution_passes():
    problems = load_humaneval()
    assert len(problems) == 164
    first = problems[0]
    assert humaneval_check(first, first["canonical_solution"])["passed"]


def test_settings_cover_the_benchmarks():
    assert {"gsm8k", "math500", "humaneval"} <= set(BENCHMARK_SETTINGS)
    assert all("source" in s for s in BENCHMARK_SETTINGS.values())
