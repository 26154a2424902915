"""The Task object: the registry, the built-in tasks, and a task added in one module (docs/adapting.md)
that notebook 02 runs on with nothing else edited."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mdlm_study.engine.templates import Template, build_canvas
from mdlm_study.models.tiny_tokenizer import load_tokenizer
from mdlm_study.tasks.arithmetic import grade_trace
from mdlm_study.tasks.builtin import CHAINS, CHAINS_TEMPLATE
from mdlm_study.tasks.data import read_split, study_data, write_study_data
from mdlm_study.tasks.task import TASKS, Task, get_task, register_task, task_names

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "toy_task.py"


def _task(**changes) -> Task:
    fields = dict(name="scratch", template=Template(), question=str, answer=str, reasoning=str, grade_answer=lambda p, a: True,
                  grade_row=lambda p, r, d: {}, from_row=dict)
    return Task(**{**fields, **changes})


def test_the_registry_holds_the_study_tasks_and_names_the_closest_one():
    assert {"arithmetic", "chains", "sudoku", "gsm8k"} <= set(task_names())
    assert get_task("chains") is CHAINS and get_task(CHAINS) is CHAINS
    with pytest.raises(ValueError, match="unknown task 'chain'; did you mean 'chains'"):
        get_task("chain")
    with pytest.raises(ValueError, match="registered name or 'module:attribute'"):
        get_task("")


def test_a_task_by_file_or_module_path(tmp_path):
    toy = get_task(f"{TOY}:TOY")
    assert toy.name == "toy_addition" and get_task(f"{TOY}:TOY") is toy  # the file is loaded once
    assert get_task("fixtures.toy_task:TOY").name == "toy_addition"  # tests/ is on sys.path
    with pytest.raises(ValueError, match="no such file"):
        get_task(f"{tmp_path / 'missing.py'}:TOY")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        get_task("no_such_module:TOY")
    with pytest.raises(ValueError, match="is function, not a Task"):
        get_task(f"{TOY}:generate")


def test_a_bad_task_is_refused_by_name():
    with pytest.raises(ValueError, match="identifier"):
        _task(name="my task")
    with pytest.raises(ValueError, match="unknown split role"):
        _task(splits={"dev": "x"}, generate=lambda *a, **k: [])
    with pytest.raises(ValueError, match="no generate function"):
        _task(splits={"test": "x"})
    with pytest.raises(ValueError, match="needs a split_config"):
        _task(splits={"test": "x"}, generate=lambda *a, **k: [])
    with pytest.raises(ValueError, match="has no 'posterior' split"):
        get_task("sudoku").file("posterior")
    scratch = _task(name="scratch_task")
    try:
        register_task(scratch)
        assert register_task(scratch) is scratch  # the same object again: a no-op
        with pytest.raises(ValueError, match="already registered"):
            register_task(_task(name="scratch_task", grade_row=dict))  # defined elsewhere
        assert register_task(_task(name="scratch_task")) is not scratch  # the same source file: replaces it
    finally:
        TASKS.pop("scratch_task", None)


def test_each_task_grades_its_answers_by_its_own_rule():
    arithmetic = study_data(sizes={"arithmetic": {"train": 1, "test": 2, "posterior": 1}}, tasks=("arithmetic",)).arithmetic_test
    assert get_task("arithmetic").grade_answers(arithmetic, [arithmetic[0].answer, arithmetic[1].answer + "1"]) == [True, False]
    with pytest.raises(ValueError, match="2 problems but 1 answers"):
        get_task("arithmetic").grade_answers(arithmetic, ["1"])


def test_chains_is_the_deep_regime():
    """2-8 operations at every split; every gold trace fits the 64-position reasoning slot in the tokenizer the
    released chains models carry, with no unknown piece; the splits are disjoint and their steps grade as correct."""
    data = study_data(sizes={"chains": {"train": 400, "test": 200, "posterior": 50}}, tasks=("chains",))
    tokenizer = load_tokenizer(ROOT / "models" / "chains")
    test, train = data.split("chains", "test"), data.split("chains", "train")
    assert {len(p.ops) for p in test} == set(range(2, 9))
    assert not {p.question for p in test} & {p.question for p in train}
    canvas = build_canvas(tokenizer, [p.question for p in test], CHAINS_TEMPLATE, reasonings=[p.reasoning for p in test],
                          answers=[p.answer for p in test])
    assert (canvas.input_ids != tokenizer.unk_token_id).all()
    longest = max(len(tokenizer(p.reasoning, add_special_tokens=False)["input_ids"]) for p in test)
    assert longest <= CHAINS_TEMPLATE.reasoning_len < longest + 8
    assert all(grade_trace(p, list(p.steps)).correct for p in test)


def test_a_tasks_splits_are_written_and_read_through_the_task(tmp_path):
    toy = get_task(f"{TOY}:TOY")
    write_study_data(study_data(tasks=(toy.name,), smoke=True), tmp_path)
    problems = read_split(toy, tmp_path, "test")
    start, extra = map(int, re.findall(r"\d+", problems[0].question))
    assert len(problems) == toy.smoke_sizes["test"] and problems[0].answer == str(start + extra)
    (tmp_path / "toy_addition_test.jsonl").write_text('{"question": 3, "answer": "1"}\n')
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"toy_addition_test.jsonl:1: an addition needs string fields"):
        read_split(toy, tmp_path, "test")


def _doc_blocks(language: str) -> list[str]:
    section = (ROOT / "docs" / "adapting.md").read_text().split("## Adding a task\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.mark.notebooks
def test_notebook_02_runs_on_a_task_added_in_one_module(tmp_path):
    """docs/adapting.md's module, written to a file, and its commands: notebook 02's smoke run on the
    released default model evaluates the new task and grades it by the task's own rule."""
    (module,), (commands,) = _doc_blocks("python"), _doc_blocks("bash")
    assert module == TOY.read_text().split("from __future__ import annotations\n\n", 1)[1]  # the doc shows the tested module
    (tmp_path / "my_task.py").write_text(module)
    make_data, run = commands.strip().split("\n")
    subprocess.run(make_data.replace("python", shlex.quote(sys.executable), 1), shell=True, cwd=tmp_path, check=True)
    argv = [arg.replace("my_task.py", str(tmp_path / "my_task.py")).replace("toy.jsonl", str(tmp_path / "toy.jsonl"))
            for arg in shlex.split(run)]
    assert argv[:3] == ["python", "-m", "mdlm_study.runner"]
    from mdlm_study.runner import main as runner

    runner([*argv[3:], "-p", "n_problems=8", "--out", str(tmp_path / "out")])  # the count is all the test changes
    table = pd.read_csv(tmp_path / "out" / "figures" / "tables" / "02_any_order_vs_l2r.csv")
    ours = table[table["task"] != "sudoku"]
    assert len(ours) > 1 and ours["accuracy"].between(0, 1).all() and (ours["mean_nfe"] > 0).all()
    sidecar = json.loads((tmp_path / "out" / "figures" / "tables" / "02_any_order_vs_l2r.json").read_text())
    assert sidecar["params"]["task"].endswith("my_task.py:TOY")


def test_a_claim_added_as_docs_adapting_shows_it_joins_the_claims_table():
    """docs/adapting.md's claim, run as written: one decorated function, found in the claims table built
    from the committed records with its own verdict, and not counted among the paper's claims."""
    from mdlm_study.reporting import claims, summary
    from mdlm_study.reporting.conclusions import default_seed_records
    from mdlm_study.reporting.study import load_study

    section = (ROOT / "docs" / "adapting.md").read_text().split("## Adding a claim\n", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    before = list(claims.CLAIMS)
    try:
        exec(compile(block, "docs/adapting.md", "exec"), {})
        table = summary.claims_table(load_study(ROOT, default_seed_records(ROOT)))
    finally:
        claims.CLAIMS[:] = before
    row = table[table["claim"] == "MED + exit keeps at least 90% exact answers (our own check)"].iloc[0]
    assert row["notebook"] == "04" and row["kind"] == claims.OWN_TARGET and row["ours"].endswith("(n = 300)")
    assert row["verdict"] in {"reproduced", "smaller", "inconclusive", "larger", "opposite", "not detected"}
    counted = summary.verdict_counts(table)["n_claims"]
    assert counted == summary.verdict_counts(summary.claims_table(load_study(ROOT, default_seed_records(ROOT))))["n_claims"]
