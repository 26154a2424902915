"""Bad data files: every reader refuses them with a ValueError naming the file (and the 1-based line
of a bad record), instead of a JSONDecodeError without either, or a silently wrong problem set."""

from __future__ import annotations

import atexit
import codecs
import hashlib
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest
from bad_input import Case, check

from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.tasks.benchmark_data import load_gsm8k, load_humaneval, load_math500
from mdlm_study.tasks.data import _row, held_out_problems, read_problems, read_puzzles
from mdlm_study.tasks.sudoku import generate_puzzles


@cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bad_input_data_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@cache
def _problem_rows() -> tuple[dict, ...]:
    """Three valid 3-step problems as JSON records (as ``write_jsonl`` writes and JSON reads them)."""
    return tuple(json.loads(json.dumps(_row(p))) for p in generate_problems(ArithmeticConfig(min_steps=3, max_steps=3), 3, seed=0))


@cache
def _puzzle_rows() -> tuple[dict, ...]:
    return tuple(_row(p) for p in generate_puzzles(2, seed=0))


def _line(row) -> bytes:
    return (json.dumps(row, sort_keys=True) + "\n").encode()


def _file(name: str, content: bytes, manifest: dict | None = None) -> Path:
    """``content`` written to ``name`` in a fresh directory (with ``manifest.json`` beside it if given)."""
    directory = Path(tempfile.mkdtemp(dir=_root()))
    (directory / name).write_bytes(content)
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory / name


def _problems_with(change) -> Path:
    """The three good problems with the first record passed through ``change`` (a dict -> dict)."""
    rows = [dict(row) for row in _problem_rows()]
    rows[0] = change(rows[0])
    return _file("bad.jsonl", b"".join(_line(row) for row in rows))


def _puzzles_with(change) -> Path:
    rows = [dict(row) for row in _puzzle_rows()]
    rows[0] = change(rows[0])
    return _file("puzzles.jsonl", b"".join(_line(row) for row in rows))


def _without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


def _good_problems() -> bytes:
    return b"".join(_line(row) for row in _problem_rows())


def _manifested(sha256: str | None = None, size: int = 3) -> Path:
    """The good problems as ``test.jsonl`` beside a manifest that lists it with ``sha256`` (default:
    the right one) and ``size``."""
    content = _good_problems()
    entry = {"file": "test.jsonl", "sha256": sha256 or hashlib.sha256(content).hexdigest(), "size": size}
    return _file("test.jsonl", content, {"arithmetic_test": entry})


def _wrong_step(row: dict) -> dict:
    left, rest = row["steps"][1].split("=")
    return {**row, "steps": [row["steps"][0], f"{left}={int(rest) + 1}", row["steps"][2]]}


def _swapped_cells(row: dict) -> dict:
    """Solution with its first two cells swapped (rows stay permutations; columns 1 and 2 do not)."""
    s = row["solution"]
    return {**row, "puzzle": "." * 16, "solution": s[1] + s[0] + s[2:]}


def _contradicted_given(row: dict) -> dict:
    """The puzzle's first cell given as a digit the solution does not have there."""
    other = next(d for d in "1234" if d != row["solution"][0])
    return {**row, "puzzle": other + row["puzzle"][1:]}


def _corrupt_train_split() -> list:
    """``held_out_problems`` reads every arithmetic split of a data directory; one of them truncated."""
    directory = _manifested().parent
    good = _good_problems()
    for name in ("arithmetic_test", "arithmetic_posterior"):
        (directory / f"{name}.jsonl").write_bytes(good)
    (directory / "manifest.json").unlink()
    (directory / "arithmetic_train.jsonl").write_bytes(good[: len(good) - 40])
    return held_out_problems(directory, 3)


def _read_beside_manifest_text(text: str) -> list:
    path = _file("test.jsonl", _good_problems())
    (path.parent / "manifest.json").write_text(text)
    return read_problems(path)


GSM8K_ROW = {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"}
HUMANEVAL_ROW = {"task_id": "HumanEval/0", "prompt": "def f():\n", "test": "assert f() is None", "entry_point": "f"}


def _benchmark_file(name: str, rows: list, truncate_last: int = 0) -> Path:
    content = b"".join(_line(row) for row in rows)
    return _file(name, content[: len(content) - truncate_last] if truncate_last else content)


CASES = [
    Case("data", "truncated last line", lambda: read_problems(_file("bad.jsonl", _good_problems()[:-40])),
         match=r"bad\.jsonl:3: not valid JSON"),
    Case("data", "blank line between records",
         lambda: read_problems(_file("bad.jsonl", _line(_problem_rows()[0]) + b"\n" + _line(_problem_rows()[1]))),
         match=r"bad\.jsonl:2: blank line"),
    Case("data", "byte-order mark", lambda: read_problems(_file("bad.jsonl", codecs.BOM_UTF8 + _good_problems())),
         match=r"bad\.jsonl:1: starts with a UTF-8 byte-order mark"),
    Case("data", "latin-1 byte", lambda: read_problems(_file("bad.jsonl", _line(_problem_rows()[0]) + b'{"question": "caf\xe9"}\n')),
         match=r"bad\.jsonl:2: not UTF-8"),
    Case("data", "record is a list", lambda: read_problems(_file("bad.jsonl", b"[1, 2]\n")),
         match=r"bad\.jsonl:1: a record is a JSON object, got list"),
    Case("data", "missing answer", lambda: read_problems(_problems_with(lambda r: _without(r, "answer"))),
         match=r"bad\.jsonl:1: missing field 'answer'"),
    Case("data", "start is a string", lambda: read_problems(_problems_with(lambda r: {**r, "start": str(r["start"])})),
         match=r"bad\.jsonl:1: field 'start' must be int, got str"),
    Case("data", "start is a bool", lambda: read_problems(_problems_with(lambda r: {**r, "start": True})),
         match=r"bad\.jsonl:1: field 'start' must be int, got bool"),
    Case("data", "operation without operand", lambda: read_problems(_problems_with(lambda r: {**r, "ops": [["add"]]})),
         match=r"bad\.jsonl:1: field 'ops' must hold \[operation, operand\] pairs"),
    Case("data", "unknown operation", lambda: read_problems(_problems_with(lambda r: {**r, "ops": [["div", 2]] + r["ops"][1:]})),
         match=r"bad\.jsonl:1: unknown operation 'div'"),
    Case("data", "changed gold answer",
         lambda: read_problems(_problems_with(lambda r: {**r, "answer": str(int(r["answer"]) + 1)})),
         match=r"bad\.jsonl:1: answer '\d+' is wrong: start \d+ and ops .* give \d+"),
    Case("data", "wrong step in the gold trace", lambda: read_problems(_problems_with(_wrong_step)),
         match=r"bad\.jsonl:1: steps: step 2 '.*' is not a correct next step"),
    Case("data", "gold trace stops early", lambda: read_problems(_problems_with(lambda r: {**r, "steps": r["steps"][:2]})),
         match=r"bad\.jsonl:1: steps: the trace stops after 2 of 3 operations"),
    Case("data", "gsm8k_answer disagrees", lambda: read_problems(_problems_with(lambda r: {**r, "gsm8k_answer": "#### 1"})),
         match=r"bad\.jsonl:1: field 'gsm8k_answer' '#### 1' disagrees"),
    Case("data", "file differs from its manifest", lambda: read_problems(_manifested(sha256="0" * 64)),
         match=r"test\.jsonl: SHA-256 [0-9a-f]{64} differs from 0{64} recorded in .*manifest\.json"),
    Case("data", "manifest size disagrees", lambda: read_problems(_manifested(size=4)),
         match=r"test\.jsonl: 3 records, but .*manifest\.json records size 4"),
    Case("data", "missing file", lambda: read_problems(_root() / "missing.jsonl"), match=r"missing\.jsonl: no such data file"),
    Case("data", "truncated manifest", lambda: _read_beside_manifest_text("{\"arithmetic_test\": "),
         match=r"manifest\.json: unreadable manifest"),
    Case("data", "five-character Sudoku", lambda: read_puzzles(_puzzles_with(lambda r: {**r, "puzzle": "12.4."})),
         match=r"puzzles\.jsonl:1: puzzle '12\.4\.' has 5 cells; a 4x4 Sudoku has 16"),
    Case("data", "Sudoku with a stray character", lambda: read_puzzles(_puzzles_with(lambda r: {**r, "puzzle": "x" + r["puzzle"][1:]})),
         match=r"puzzles\.jsonl:1: puzzle '.*' has characters outside '1234\.': \['x'\]"),
    Case("data", "Sudoku solution breaks a column", lambda: read_puzzles(_puzzles_with(_swapped_cells)),
         match=r"puzzles\.jsonl:1: solution '\d{16}' is not a valid grid: column 1"),
    Case("data", "Sudoku solution contradicts a given", lambda: read_puzzles(_puzzles_with(_contradicted_given)),
         match=r"puzzles\.jsonl:1: solution '\d{16}' contradicts the puzzle's given \d at row 1, column 1"),
    Case("data", "Sudoku solution is a list", lambda: read_puzzles(_puzzles_with(lambda r: {**r, "solution": list(r["solution"])})),
         match=r"puzzles\.jsonl:1: field 'solution' must be str, got list"),
    Case("data", "held-out draw over a truncated training split", _corrupt_train_split,
         match=r"arithmetic_train\.jsonl:3: not valid JSON"),
    Case("data", "GSM8K file with a truncated line", lambda: load_gsm8k(_benchmark_file("gsm8k.jsonl", [GSM8K_ROW] * 2, 20)),
         match=r"gsm8k\.jsonl:2: malformed JSON"),
    Case("data", "GSM8K answer is a number", lambda: load_gsm8k(_benchmark_file("gsm8k.jsonl", [GSM8K_ROW, {**GSM8K_ROW, "answer": 7}])),
         match=r"gsm8k\.jsonl:2: field 'answer' must be a string, got int 7"),
    Case("data", "GSM8K answer without ####", lambda: load_gsm8k(_benchmark_file("gsm8k.jsonl", [GSM8K_ROW, {**GSM8K_ROW, "answer": "7"}])),
         match=r"gsm8k\.jsonl:2: GSM8K answer has no '####'"),
    Case("data", "GSM8K record is a list", lambda: load_gsm8k(_file("gsm8k.jsonl", b'["q", "a"]\n')),
         match=r"gsm8k\.jsonl:1: expected a JSON object, got list"),
    Case("data", "HumanEval file with a truncated line",
         lambda: load_humaneval(_benchmark_file("humaneval.jsonl", [HUMANEVAL_ROW] * 3, 15)),
         match=r"humaneval\.jsonl:3: malformed JSON"),
    Case("data", "HumanEval entry point is missing",
         lambda: load_humaneval(_benchmark_file("humaneval.jsonl", [_without(HUMANEVAL_ROW, "entry_point")])),
         match=r"humaneval\.jsonl:1: missing field 'entry_point'"),
    Case("data", "MATH500 answer is a number",
         lambda: load_math500(_benchmark_file("math500.jsonl", [{"problem": "1 + 1?", "answer": 2}])),
         match=r"math500\.jsonl:1: field 'answer' must be a string, got int 2"),
    Case("data", "missing benchmark file", lambda: load_humaneval(_root() / "nope.jsonl"), match=r"nope\.jsonl does not exist"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_data_is_refused_naming_the_file(case):
    check(case)


def test_good_files_still_read(tmp_path):
    """The checks pass what ``write_jsonl`` writes, with and without a manifest beside it."""
    assert len(read_problems(_manifested())) == 3
    assert len(read_puzzles(_file("puzzles.jsonl", b"".join(_line(row) for row in _puzzle_rows())))) == 2
    assert read_problems(_file("empty.jsonl", b"")) == []
    assert [p.answer for p in load_gsm8k(_benchmark_file("gsm8k.jsonl", [GSM8K_ROW]))] == [GSM8K_ROW["answer"]]
    assert load_humaneval(_benchmark_file("humaneval.jsonl", [HUMANEVAL_ROW])) == [HUMANEVAL_ROW]


def test_read_json_object_names_the_file_and_what_it_holds(tmp_path):
    from mdlm_study.core.records import read_json_object

    path = tmp_path / "manifest.json"
    path.write_text('{"a": 1}')
    assert read_json_object(path, "manifest") == {"a": 1}
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest.json: unreadable manifest \("):
        read_json_object(path, "manifest")
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"manifest.json: a training record is a JSON object, got list"):
        read_json_object(path, "training record")
