import hashlib
import json

import pytest

from mdlm_study.tasks.arithmetic import problem_key
from mdlm_study.tasks.data import (
    held_out_problems,
    read_problems,
    read_puzzles,
    study_data,
    study_tokenizer,
    write_study_data,
)


@pytest.fixture(scope="module")
def small():
    return study_data(sizes={"arithmetic": {"train": 300, "test": 40, "posterior": 20}, "sudoku": {"train": 50, "test": 10}}, tasks=("arithmetic", "sudoku"), seed=0)


def test_sets_are_disjoint_and_sized(small):
    test = {problem_key(p) for p in small.arithmetic_test}
    post = {problem_key(p) for p in small.arithmetic_posterior}
    train = {problem_key(p) for p in small.arithmetic_train}
    assert len(test) == 40 and len(post) == 20 and len(train) == 300
    assert not (test & post) and not (train & (test | post))
    assert all(len(p.ops) == 3 for p in small.arithmetic_test)
    assert not {p.puzzle for p in small.sudoku_test} & {p.puzzle for p in small.sudoku_train}


def test_manifest_records_checksums_and_round_trips(small, tmp_path):
    manifest = write_study_data(small, tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    for name, entry in manifest.items():
        text = (tmp_path / entry["file"]).read_bytes()
        assert hashlib.sha256(text).hexdigest() == entry["sha256"]
        assert entry["size"] == len(getattr(small, name))
    assert read_problems(tmp_path / "arithmetic_test.jsonl") == small.arithmetic_test
    assert read_puzzles(tmp_path / "sudoku_test.jsonl") == small.sudoku_test
    again = study_data(sizes={"arithmetic": {"train": 300, "test": 40, "posterior": 20}, "sudoku": {"train": 50, "test": 10}}, tasks=("arithmetic", "sudoku"), seed=0)
    assert write_study_data(again, tmp_path / "again") == manifest


def test_tokenizer_covers_every_text(small):
    tok = study_tokenizer(small)
    for p in small.arithmetic_test[:20]:
        assert tok.unk_token_id not in tok(p.question + "\n" + p.gsm8k_answer)["input_ids"]


def test_read_problems_names_missing_field(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"question": "q"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: missing field 'start'"):
        read_problems(tmp_path / "bad.jsonl")


def test_read_puzzles_names_missing_field(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"puzzle": "1..."}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: missing field 'solution'"):
        read_puzzles(tmp_path / "bad.jsonl")


def test_held_out_problems_avoid_every_split_and_repeat_from_the_seed(small, tmp_path):
    write_study_data(small, tmp_path)
    fresh = held_out_problems(tmp_path, 30)
    used = {problem_key(p) for p in small.arithmetic_train + small.arithmetic_test + small.arithmetic_posterior}
    assert len(fresh) == 30 and all(len(p.ops) == 3 for p in fresh)
    assert not {problem_key(p) for p in fresh} & used
    assert fresh == held_out_problems(tmp_path, 30) and fresh != held_out_problems(tmp_path, 30, seed=1)
    assert all(len(p.ops) == 2 for p in held_out_problems(tmp_path, 5, steps=2))
    later = held_out_problems(tmp_path, 10, skip=30)
    assert later == held_out_problems(tmp_path, 40)[30:] and not {problem_key(p) for p in later} & {problem_key(p) for p in fresh}
    for bad in ({"n": 0}, {"n": 3, "steps": 0}, {"n": 3, "skip": -1}):
        with pytest.raises(ValueError, match="n=0|steps=0|skip=-1"):
            held_out_problems(tmp_path, **bad)
