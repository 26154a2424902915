"""Every notebook runs end to end with smoke parameters on the released models (CI's smoke run); the
tables it writes are checked, and what they show means something (the released default model solves
most problems and exits early)."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mdlm_study.core.verdicts import VERDICTS
from mdlm_study.runner import NOTEBOOKS, main

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("smoke_run")]  # one worker runs the module: the smoke run once
SMOKE_DIR = Path(__file__).resolve().parents[1] / "build" / "smoke"  # kept: CI uploads the executed notebooks from here


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke run in a folder of its own (two runs of the suite, or of this fixture, never share
    one), then copied to build/smoke, where CI keeps the executed notebooks as an artifact."""
    out = tmp_path_factory.mktemp("smoke")
    main(["--smoke", "--released", "--out", str(out), "--jobs", "2"])  # the parallel scheduler, end to end
    try:  # the artifact copy is for people reading CI's output; a failed copy must not fail the tests
        shutil.rmtree(SMOKE_DIR, ignore_errors=True)
        shutil.copytree(out, SMOKE_DIR, dirs_exist_ok=True)
    except OSError as err:
        print(f"could not copy the smoke run to {SMOKE_DIR}: {err}")
    return out


def manifest():
    return yaml.safe_load((NOTEBOOKS / "manifest.yaml").read_text())["notebooks"]


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_notebook_wrote_its_tables_and_figures(smoke_run, entry):
    assert (smoke_run / "notebooks" / entry["file"]).exists()
    for name in entry["tables"]:
        table = pd.read_csv(smoke_run / "figures" / "tables" / f"{name}.csv")
        record = json.loads((smoke_run / "figures" / "tables" / f"{name}.json").read_text())
        assert len(table) > 0 and record["git_commit"] and "params" in record
        for column in ("accuracy", "fraction_correct", "auroc"):
            if column in table:
                assert table[column].between(0, 1).all(), (name, column)
        if "mean_nfe" in table:
            assert (table["mean_nfe"] > 0).all()
    for name in entry["figures"]:
        assert (smoke_run / "figures" / f"{name}.png").stat().st_size > 1000
        assert json.loads((smoke_run / "figures" / f"{name}.json").read_text())["notebook"]


def test_claims_table_has_every_claim(smoke_run):
    claims = pd.read_csv(smoke_run / "figures" / "tables" / "07_claims.csv")
    assert len(claims) >= 13 and set(claims["verdict"]) <= set(VERDICTS)
    measured = claims[claims["verdict"] != "missing"]
    assert len(measured) >= 13, claims.loc[claims["verdict"] == "missing", ["claim", "reason"]]


def test_run_times_recorded(smoke_run):
    times = json.loads((smoke_run / "figures" / "tables" / "run_times.json").read_text())
    assert set(times["seconds"]) == {e["file"] for e in manifest()} and times["jobs"] == 2
    assert 0 < times["wall_seconds"] <= times["total_seconds"] + 60


def test_every_notebook_started_after_what_it_needs(smoke_run):
    """The executed notebooks' papermill timestamps respect the manifest's ``needs``."""
    import nbformat

    def times(name):
        meta = nbformat.read(smoke_run / "notebooks" / name, as_version=4).metadata["papermill"]
        return meta["start_time"], meta["end_time"]

    for entry in manifest():
        for need in entry.get("needs", []):
            assert times(need)[1] <= times(entry["file"])[0], (entry["file"], need)


def test_smoke_results_mean_something_and_record_the_counts_used(smoke_run):
    smoke = yaml.safe_load((NOTEBOOKS / "params" / "smoke.yaml").read_text())
    table = pd.read_csv(smoke_run / "figures" / "tables" / "04_early_exit.csv")
    record = json.loads((smoke_run / "figures" / "tables" / "04_early_exit.json").read_text())
    assert record["params"]["n_problems"] == smoke["04_answer_uncertainty_early_exit"]["n_problems"] == table["n_problems"].max()
    assert record["params"]["checkpoints_dir"].endswith("models")
    assert table["accuracy"].min() > 0.5 and table["exit_rate"].max() > 0.5
    for name in ("02_any_order_vs_l2r", "03_parallel_decoding", "06_step_scoring"):
        record = json.loads((smoke_run / "figures" / "tables" / f"{name}.json").read_text())
        notebook = next(e["file"] for e in manifest() if name in e["tables"]).removesuffix(".ipynb")
        assert record["params"]["n_problems"] == smoke[notebook]["n_problems"]
    scoring = json.loads((smoke_run / "figures" / "tables" / "06_step_scoring.json").read_text())["summary"]
    assert scoring["n_problems"] == smoke["06_step_scoring"]["n_problems"]
