import json
from pathlib import Path

import nbformat
import pytest

from mdlm_study.runner import NOTEBOOKS, load_manifest, main, parse_overrides


def test_check_passes_on_the_real_manifest():
    assert main(["--smoke", "--check"]) == {}
    assert main(["--full", "--check"]) == {}


def test_unknown_override_is_rejected_naming_it():
    with pytest.raises(ValueError, match="'n_problemz'"):
        main(["--smoke", "--check", "-p", "n_problemz=3"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["oops"])


def test_an_unknown_override_names_the_closest_valid_name_and_the_valid_names():
    with pytest.raises(ValueError) as err:
        main(["--smoke", "--check", "--only", "04", "-p", "gamma=[0.1]"])
    message = str(err.value)
    assert "'gamma' (did you mean 'gammas'?)" in message and "they declare:" in message and "med_lambda" in message
    assert "\n" not in message


def test_a_list_split_at_its_spaces_as_make_passes_it_is_joined_again():
    # `make notebook NB=04 ARGS='gammas=[0.05, 0.5]'`: make's foreach gives one -p per word
    assert parse_overrides(["gammas=[0.05,", "0.5]", "n_problems=3"]) == {"gammas": [0.05, 0.5], "n_problems": 3}
    assert parse_overrides(["rules=[entropy,", "l2r,", "med]"]) == {"rules": ["entropy", "l2r", "med"]}


def test_a_malformed_override_is_one_line_naming_the_pair_and_the_fix():
    for words in (["gammas=[0.05,"], ["gammas=[0.05,", "0.5"], ["x={a: [1}"]):
        with pytest.raises(ValueError) as err:
            parse_overrides(words)
        message = str(err.value)
        assert message.startswith(f"override {' '.join(words)!r}: the value is not valid YAML") and "e.g. -p '" in message
        assert "\n" not in message
    with pytest.raises(ValueError, match="key=value, got 'oops'"):
        parse_overrides(["n_problems=3", "oops"])  # a complete value is never continued


def test_override_values_are_yaml():
    assert parse_overrides(["n_problems=3", "rules=[entropy, l2r]", "smoke=true"]) == {"n_problems": 3, "rules": ["entropy", "l2r"], "smoke": True}


def test_manifest_lists_every_notebook():
    listed = {e["file"] for e in load_manifest()}
    assert listed == {p.name for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_sources_are_clean_with_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    for line in tagged[0].source.splitlines():
        assert ":" in line and "=" in line and "  # " in line, f"{path.name}: parameter without annotation or comment: {line}"
    json.dumps(nb)  # serialisable


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_papermill_parses_every_parameter(path):
    """papermill skips a line it cannot parse (e.g. an ``=`` inside the comment) with only a log
    message; then the runner would reject that parameter as unknown. Every line must parse."""
    import papermill

    nb = nbformat.read(path, as_version=4)
    tagged = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split(":")[0].strip() for line in tagged.source.splitlines() if line.strip()]
    assert sorted(papermill.inspect_notebook(str(path))) == sorted(names)


def test_manifest_needs_must_name_listed_notebooks(tmp_path):
    import shutil

    from mdlm_study.runner import plan

    shutil.copytree(NOTEBOOKS, tmp_path / "nb", ignore=shutil.ignore_patterns("executed"))
    manifest = (tmp_path / "nb" / "manifest.yaml")
    manifest.write_text(manifest.read_text().replace("needs: [01_training.ipynb]", "needs: [01_trainin.ipynb]", 1))
    with pytest.raises(ValueError, match="01_trainin.ipynb"):
        plan("smoke", tmp_path / "out", None, {}, notebooks_dir=tmp_path / "nb")


def _write_prerequisites(out, names):
    """Stand-ins for what notebook 01 (and 03-06, for 07) write: enough for the runner's check."""
    for name in names:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


FROM_01 = ["checkpoints/default/config.json", "checkpoints/sudoku/config.json", "checkpoints/default/training.json",
           "data/arithmetic_test.jsonl", "data/sudoku_test.jsonl", "data/arithmetic_posterior.jsonl", "data/arithmetic_train.jsonl"]
TABLES = [f"figures/tables/{n}.json" for n in ("01_training", "03_parallel_decoding", "04_early_exit", "05_finetuning", "05_filtering",
                                              "06_step_scoring")]


def test_only_drops_needs_outside_the_selection(tmp_path):
    from mdlm_study.runner import plan

    _write_prerequisites(tmp_path, FROM_01 + TABLES)
    jobs = {j.source.name: j for j in plan("smoke", tmp_path, ["02", "07"], {})}
    assert jobs["02_any_order_vs_l2r.ipynb"].needs == () and jobs["07_summary.ipynb"].needs == ("02_any_order_vs_l2r.ipynb",)


def test_a_failing_notebook_keeps_the_times_of_the_finished_ones(tmp_path, monkeypatch):
    from mdlm_study import runner

    def fake_execute(job, threads=None, log_output=False):
        if job.source.name == "b.ipynb":
            raise RuntimeError("cell failed")
        return 2.5

    monkeypatch.setattr(runner, "_execute", fake_execute)
    jobs = [runner.Job(Path("a.ipynb"), tmp_path / "a.ipynb", {}, ()), runner.Job(Path("b.ipynb"), tmp_path / "b.ipynb", {}, ())]
    with pytest.raises(RuntimeError, match="cell failed"):
        runner.run(jobs, log_dir=tmp_path)
    record = json.loads((tmp_path / "run_times.json").read_text())
    assert record["seconds"] == {"a.ipynb": 2.5} and record["complete"] is False and record["ran"] == ["a.ipynb"]


def test_check_reads_and_validates_values_not_only_names():
    from mdlm_study.runner import plan

    jobs = {j.source.name: j for j in plan("smoke", None, None, parse_overrides(["gammas=[0.05, 0.5]", "trust_remote_code=no"]))}
    early_exit = jobs["04_answer_uncertainty_early_exit.ipynb"].params
    assert early_exit["gammas"] == [0.05, 0.5] and early_exit["trust_remote_code"] is False
    with pytest.raises(ValueError, match="'block_size' must be an integer in \\[0, inf\\).*got 'abc'"):
        main(["--smoke", "--check", "-p", "block_size=abc"])


def test_a_missing_prerequisite_fails_before_running_and_says_how_to_make_it(tmp_path, monkeypatch):
    from mdlm_study import runner

    monkeypatch.setattr(runner, "_execute", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(ValueError) as err:
        main(["--smoke", "--only", "04", "--out", str(tmp_path), "-p", "device=cpu"])
    message = str(err.value)
    assert f"{tmp_path}/checkpoints/default/config.json (written by 01_training.ipynb)" in message
    assert f"python -m mdlm_study.runner --smoke --out {tmp_path} --only 01 -p device=cpu" in message
    assert "--only 01 04 -p device=cpu" in message
    with pytest.raises(ValueError, match="checkpoints/default/config.json"):
        main(["--smoke", "--check", "--only", "04", "--out", str(tmp_path)])  # --check checks it too
    _write_prerequisites(tmp_path, FROM_01)
    assert main(["--smoke", "--check", "--only", "04", "--out", str(tmp_path)]) == {}


def test_prerequisites_are_not_checked_when_their_writer_runs_too(tmp_path):
    from mdlm_study.runner import plan

    assert [j.needs for j in plan("smoke", tmp_path, ["01", "04"], {})] == [(), ("01_training.ipynb",)]


def test_prerequisites_follow_the_parameters():
    """A real model needs no study checkpoint (the README's LLaDA command), a study model does."""
    from mdlm_study.runner import plan

    real = {"model": "GSAI-ML/LLaDA-8B-Instruct", "task": "gsm8k", "trust_remote_code": True, "data_path": "x.jsonl"}
    assert len(plan("full", Path("/nonexistent/llada"), ["02", "03", "04"], real)) == 3
    with pytest.raises(ValueError, match="/nonexistent/llada/data/sudoku_test.jsonl"):
        plan("full", Path("/nonexistent/llada"), ["04"], {**real, "model": "GSAI-ML/LLaDA-8B-Instruct", "task": "sudoku"})


def test_only_must_match_a_notebook():
    with pytest.raises(ValueError, match="--only \\['4'\\] matches no notebook"):
        main(["--smoke", "--check", "--only", "4"])


def test_manifest_requires_must_name_listed_notebooks(tmp_path):
    import shutil

    from mdlm_study.runner import plan

    shutil.copytree(NOTEBOOKS, tmp_path / "nb", ignore=shutil.ignore_patterns("executed"))
    manifest = tmp_path / "nb" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("by: 06_step_scoring.ipynb", "by: 06_steps.ipynb"))
    with pytest.raises(ValueError, match="06_steps.ipynb"):
        plan("smoke", tmp_path / "out", None, {}, notebooks_dir=tmp_path / "nb")


def test_jobs_know_which_parameters_differ_from_the_defaults(tmp_path):
    from mdlm_study.runner import plan

    (job,) = plan("smoke", tmp_path, ["01"], {"workers": 1})
    assert job.changed["n_problems"] == 48 and job.changed["smoke"] is True and job.changed["out_dir"] == str(tmp_path)
    assert "seed" not in job.changed and "workers" not in job.changed  # given, but equal to the default


def test_progress_lines_say_start_end_totals_and_what_is_still_running(tmp_path, monkeypatch, capsys):
    import time

    from mdlm_study import runner

    def fake_execute(job, threads=None, log_output=False):
        time.sleep(0.5)
        return 0.5

    monkeypatch.setattr(runner, "_execute", fake_execute)
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.05)
    jobs = [runner.Job(Path("a.ipynb"), tmp_path / "a.ipynb", {"n_problems": 3}, (), {"n_problems": 3}),
            runner.Job(Path("b.ipynb"), tmp_path / "b.ipynb", {}, ())]
    runner.run(jobs, log_dir=tmp_path)
    out = capsys.readouterr().out
    assert "[runner] start a.ipynb with n_problems=3" in out and "[runner] start b.ipynb with its defaults" in out
    assert "[runner] done  a.ipynb in 0 s (1/2 done" in out and "(2/2 done" in out
    assert "[runner] running a.ipynb (0 s) (0/2 done" in out and "[runner] all 2 notebooks done" in out


def test_a_failure_is_reported_with_where_to_look(tmp_path, monkeypatch, capsys):
    from mdlm_study import runner

    def fake_execute(job, threads=None, log_output=False):
        raise RuntimeError("cell failed")

    monkeypatch.setattr(runner, "_execute", fake_execute)
    with pytest.raises(RuntimeError):
        runner.run([runner.Job(Path("a.ipynb"), tmp_path / "out" / "a.ipynb", {}, ())], log_dir=tmp_path)
    assert "[runner] FAILED a.ipynb after 0 s: RuntimeError (0/1 done" in capsys.readouterr().out


def test_log_output_prefixes_papermills_log_with_the_notebook(tmp_path, capsys):
    import logging

    from mdlm_study.runner import Job, _streamed

    job = Job(Path("04_x.ipynb"), tmp_path / "04_x.ipynb", {})
    with _streamed(job, True):
        logging.getLogger("papermill").info("Executing Cell 3")
    with _streamed(job, False):
        logging.getLogger("papermill").info("not shown")
    assert capsys.readouterr().out == "[04_x] Executing Cell 3\n"


def test_released_runs_read_the_released_models_and_train_nothing():
    from mdlm_study.models.released import RELEASED_DIR
    from mdlm_study.runner import ROOT, plan

    (job,) = plan("full", None, ["04"], {"gammas": [0.05, 0.5]}, released=True)  # no notebook 01, no checkpoints/ needed
    assert job.params["checkpoints_dir"] == str(RELEASED_DIR) and job.params["data_dir"] == str(ROOT / "data")
    assert job.params["out_dir"] == str(ROOT / "build" / "released") and job.target == ROOT / "build" / "released" / "notebooks" / job.source.name
    assert job.changed["gammas"] == [0.05, 0.5]
    assert [j.params.get("checkpoints_dir") for j in plan("smoke", Path("/tmp/x"), None, {}, released=True)][:6] == [str(RELEASED_DIR)] * 6


def test_a_missing_checkpoint_also_names_the_released_models(tmp_path):
    with pytest.raises(ValueError, match=f"released models \\(models/, no training\\):\n  python -m mdlm_study.runner --smoke --released --out {tmp_path} --only 04"):
        main(["--smoke", "--check", "--only", "04", "--out", str(tmp_path)])
