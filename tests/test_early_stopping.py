"""Early stopping inside the paper's regime (``mdlm_study.training.early_stopping``): the rule on hand-built
candidate tables, the kept weights of a smoke run (``--keep-every``), and the record of a selection."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mdlm_study.models.checkpoints import read_record
from mdlm_study.training import early_stopping
from mdlm_study.training.early_stopping import StoppingRule, candidates, choose, choose_weights, main
from mdlm_study.training.recipes import is_trained, recipe, snapshot_steps, train_all, trial_recipe


def table(*rows):
    return pd.DataFrame([{"step": s, "accuracy": a, "blank_slot_accuracy": b} for s, a, b in rows])


def test_the_most_accurate_candidate_inside_the_blank_slot_bound_is_chosen():
    rule = StoppingRule(max_blank_slot=0.20)
    # step 3000 is the most accurate overall but answers from the blank slot too often
    chosen = choose(table((1000, 0.40, 0.05), (2000, 0.91, 0.18), (3000, 0.96, 0.24), (4000, 0.89, 0.20)), rule)
    assert chosen["step"] == 2000
    # the bound is inclusive, and a tie in accuracy goes to the earlier step
    assert choose(table((1000, 0.90, 0.20), (2000, 0.90, 0.10)), rule)["step"] == 1000


def test_no_candidate_inside_the_bound_is_an_error_naming_the_lowest_blank_slot():
    with pytest.raises(ValueError, match=r"at or below 0.2: the lowest is 0.230 at step 2000"):
        choose(table((1000, 0.9, 0.31), (2000, 0.8, 0.23)), StoppingRule())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_blank_slot": 0.3}, r"max_blank_slot must be a number in \[0, 0.25\].*got 0.3"),
    ({"max_blank_slot": True}, r"max_blank_slot must be a number.*got True"),
    ({"split": "test"}, r"split must not be 'test'"),
    ({"min_steps": 0}, r"min_steps must be an int >= 1, got 0"),
    ({"from_step": 2.5}, r"from_step must be an int >= 1, got 2.5"),
    ({"n_problems": 0}, r"n_problems must be an int >= 1, got 0"),
])
def test_a_bad_rule_is_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StoppingRule(**kwargs)


def test_keep_every_adds_the_multiples_before_the_last_step_to_the_recipe_snapshots():
    assert snapshot_steps("chains", 30) == (15,)
    assert snapshot_steps("chains", 30, 10) == (10, 15, 20)
    assert snapshot_steps("sudoku", 30, 10) == (10, 20)
    assert snapshot_steps("default", 9750, 5000) == (5000,)
    with pytest.raises(ValueError, match="keep_every must be an int >= 1, got 0"):
        snapshot_steps("chains", 30, 0)
    with pytest.raises(ValueError, match="keep_every must be an int >= 1, got -5"):
        trial_recipe(recipe("chains", smoke=True), keep_every=-5)


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """A smoke chains run (30 steps) keeping its weights every 10 steps, and its data folder."""
    root = tmp_path_factory.mktemp("selection")
    record = train_all(["chains"], root / "data", root / "ck", smoke=True, progress=False, threads=1, keep_every=10)["chains"]
    return root, record


def test_a_run_kept_every_ten_steps_offers_each_kept_set_and_its_own_weights(kept_run):
    root, record = kept_run
    assert record["snapshots"] == ["step10", "step15", "step20"]
    run = root / "ck" / "chains"
    assert candidates(run) == [(10, run / "step10"), (15, run / "step15"), (20, run / "step20"), (30, run)]
    assert [step for step, _ in candidates(run, from_step=16)] == [20, 30]
    with pytest.raises(ValueError, match="no kept weights at or after from_step=31"):
        candidates(run, from_step=31)
    # a listed snapshot that no folder holds is named, where it is a candidate
    (run / "step10").rename(run / "moved")
    try:
        assert [step for step, _ in candidates(run, from_step=11)] == [15, 20, 30]
        with pytest.raises(ValueError, match=r"lists snapshots that no folder holds: \[.*step10'\]"):
            candidates(run)
    finally:
        (run / "moved").rename(run / "step10")
    # the kept weights do not change the run: the same recipe without keep_every counts it as trained
    assert is_trained("chains", root / "ck", recipe("chains", smoke=True))


def test_selection_decodes_every_candidate_on_the_posterior_split_and_keeps_the_rule_s_choice(kept_run, monkeypatch):
    root, _ = kept_run
    reads = []
    monkeypatch.setattr(early_stopping, "read_record", lambda run_dir: reads.append(run_dir) or read_record(run_dir))
    run = root / "ck" / "chains"
    # a stand-in for the regime's diagnostics, one reading per candidate in step order: 10, 15, 20, 30
    readings = iter([(0.50, 0.05), (0.85, 0.12), (0.95, 0.30), (0.88, 0.19)])
    seen = []

    def fake_diagnose(model, tokenizer, problems, template, task, *, keep):
        seen.append((len(problems), sum(keep)))
        accuracy, blank = next(readings)
        return {"accuracy": accuracy, "blank_slot_accuracy": blank, "exit_saving": 0.2, "right_at_half": 0.3}

    rule = StoppingRule(max_blank_slot=0.2, min_steps=3)
    selection = choose_weights(run, rule, root / "data", diagnose_fn=fake_diagnose)
    assert selection["chosen"]["step"] == 30 and selection["chosen"]["accuracy"] == 0.88
    assert selection["weights_sha256"] == selection["chosen"]["weights_sha256"] == selection["run_weights_sha256"]
    assert [c["step"] for c in selection["candidates"]] == [10, 15, 20, 30]
    assert len({c["weights_sha256"] for c in selection["candidates"]}) == 4
    assert selection["split"] == "posterior" and selection["rule"]["max_blank_slot"] == 0.2
    n_problems, n_deep = seen[0]
    assert selection["n_problems"] == n_problems and selection["n_deep"] == n_deep and 0 < n_deep < n_problems
    assert reads == [run]  # the run's training.json is read once for the whole selection


def test_the_command_decodes_for_real_and_writes_a_record_with_provenance(kept_run, tmp_path):
    root, record = kept_run
    out = tmp_path / "selection.json"
    selection = main([str(root / "ck" / "chains"), "--data-dir", str(root / "data"), "--n-problems", "12", "--out", str(out)])
    written = json.loads(out.read_text())
    body = written[0] if isinstance(written, list) else written
    assert body["chosen"]["step"] == selection["chosen"]["step"]
    assert body["run_weights_sha256"] == record["weights_sha256"]
    assert "provenance" in json.dumps(written)
    for c in selection["candidates"]:
        assert 0 <= c["accuracy"] <= 1 and 0 <= c["blank_slot_accuracy"] <= 1


def test_a_run_resumed_with_keep_every_lists_only_the_snapshots_it_kept(tmp_path):
    """``keep_every`` is not part of a run's identity, so a run may resume with it; its record then lists the
    snapshots that exist, not those a run with it from the start would have kept."""
    stopped = train_all(["chains"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False, threads=1, until=12)
    assert stopped["chains"]["finished"] is False
    record = train_all(["chains"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False, threads=1, keep_every=5)["chains"]
    assert record["snapshots"] == ["step15", "step20", "step25"]
    assert [step for step, _ in candidates(tmp_path / "ck" / "chains")] == [15, 20, 25, 30]
