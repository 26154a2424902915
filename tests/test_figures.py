"""Figure and table sidecars: provenance, model and data identity, repository-relative paths; old sidecars still load."""

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from mdlm_study.core.records import ROOT
from mdlm_study.reporting.figures import load_summary, save_figure, save_table

SHA = "ab" * 32


def test_a_figure_sidecar_records_provenance_models_data_and_relative_paths(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    params = {"out_dir": str(ROOT / "build" / "x"), "data_dir": str(ROOT / "data"), "checkpoints_dir": "/elsewhere/ckpt", "n_problems": 3}
    path = save_figure(fig, "f", tmp_path, params, notebook="03_x", model="default", weights_sha256=SHA, data_sha256="cd" * 32)
    plt.close(fig)
    record = json.loads((tmp_path / "figures" / "f.json").read_text())
    assert path.exists() and record["notebook"] == "03_x"
    assert record["params"] == {"out_dir": "build/x", "data_dir": "data", "checkpoints_dir": "/elsewhere/ckpt", "n_problems": 3}
    assert record["models"] == [{"model": "default", "weights_sha256": SHA}] and record["data_sha256"] == "cd" * 32
    prov = record["provenance"]
    assert {"commit", "dirty", "python", "torch", "transformers", "cpu", "threads", "date", "command"} <= set(prov)
    assert record["git_commit"] == prov["commit"]


def test_a_table_sidecar_with_several_models_loads_its_summary(tmp_path):
    save_table(pd.DataFrame({"a": [1]}), "t", tmp_path, {"n_problems": 7}, {"x": 0.5}, model={"default": SHA, "base": "ef" * 32},
               data_sha256={"test": "01" * 32})
    record = json.loads((tmp_path / "figures" / "tables" / "t.json").read_text())
    assert [m["model"] for m in record["models"]] == ["default", "base"] and record["data_sha256"] == {"test": "01" * 32}
    assert load_summary("t", tmp_path) == {"x": 0.5, "n_problems": 7}
    assert "models" not in json.loads(save_table(pd.DataFrame(), "u", tmp_path, {}).with_suffix(".json").read_text())


def test_an_old_sidecar_without_provenance_still_loads(tmp_path):
    folder = tmp_path / "figures" / "tables"
    folder.mkdir(parents=True)
    (folder / "old.json").write_text(json.dumps({"summary": {"k1_accuracy": 0.92}, "params": {"n_problems": 300}, "git_commit": "8420fca"}))
    assert load_summary("old", tmp_path) == {"k1_accuracy": 0.92, "n_problems": 300}
    with pytest.raises(ValueError, match="no table summary"):
        load_summary("absent", tmp_path)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights_sha256": SHA}, "without model="),
    ({"model": "default"}, "needs weights_sha256="),
    ({"model": "default", "weights_sha256": "abc"}, "64-hex-digit"),
    ({"model": {"default": SHA}, "weights_sha256": SHA}, "do not pass weights_sha256"),
])
def test_an_incomplete_model_identity_is_refused_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        save_table(pd.DataFrame({"a": [1]}), "t", tmp_path, {}, **kwargs)
    assert not (tmp_path / "figures" / "tables" / "t.csv").exists()


def test_sidecars_and_tables_are_written_whole_and_leave_no_temporary_file(tmp_path):
    save_table(pd.DataFrame({"a": [1, 2]}), "t", tmp_path, {}, {"x": 1})
    save_table(pd.DataFrame({"a": [3]}), "t", tmp_path, {}, {"x": 2})
    folder = tmp_path / "figures" / "tables"
    assert sorted(p.name for p in folder.iterdir()) == ["t.csv", "t.json"]
    assert pd.read_csv(folder / "t.csv")["a"].tolist() == [3] and load_summary("t", tmp_path) == {"x": 2}


def test_a_saved_figure_reads_as_its_path_and_shows_inline_only_in_a_kernel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from mdlm_study.reporting import figures

    shown = []
    monkeypatch.setattr(figures, "_in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    fig, _ = plt.subplots()
    path = figures.save_figure(fig, "x", tmp_path, {"seed": 0})
    assert path.exists() and path.name == "x.png" and path._repr_mimebundle_() == {"text/plain": f"saved to {path}"}
    assert len(shown) == 1 and shown[0].data == path.read_bytes()  # the PNG as written, inline
    assert not plt.fignum_exists(fig.number)  # closed: a kernel's inline backend cannot show it twice
    monkeypatch.setattr(figures, "_in_kernel", lambda: False)
    figures.save_figure(plt.subplots()[0], "y", tmp_path, {"seed": 0})
    assert len(shown) == 1  # a script or a test shows nothing
    inline = figures.InlineFigure(plt.subplots()[0])
    assert inline._repr_png_().startswith(b"\x89PNG")
