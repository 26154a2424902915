import json

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


def test_only_drops_needs_outside_the_selection():
    from mdlm_study.runner import plan

    jobs = {j.source.name: j for j in plan("smoke", None, ["02", "07"], {})}
    assert jobs["02_any_order_vs_l2r.ipynb"].needs == () and jobs["07_summary.ipynb"].needs == ("02_any_order_vs_l2r.ipynb",)


def test_a_failing_notebook_keeps_the_times_of_the_finished_ones(tmp_path, monkeypatch):
    from pathlib import Path

    from mdlm_study import runner

    def fake_execute(job, threads=None):
        if job.source.name == "b.ipynb":
            raise RuntimeError("cell failed")
        return 2.5

    monkeypatch.setattr(runner, "_execute", fake_execute)
    jobs = [runner.Job(Path("a.ipynb"), tmp_path / "a.ipynb", {}, ()), runner.Job(Path("b.ipynb"), tmp_path / "b.ipynb", {}, ())]
    with pytest.raises(RuntimeError, match="cell failed"):
        runner.run(jobs, log_dir=tmp_path)
    record = json.loads((tmp_path / "run_times.json").read_text())
    assert record["seconds"] == {"a.ipynb": 2.5} and record["complete"] is False and record["ran"] == ["a.ipynb"]
