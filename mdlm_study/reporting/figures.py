"""The study's plot style and the only way figures and tables are written: with a provenance sidecar.

``save_figure(fig, name, out_dir, params)`` writes ``<out_dir>/figures/<name>.png`` and
``<name>.json``; ``save_table(df, name, out_dir, params, summary)`` writes
``<out_dir>/figures/tables/<name>.csv`` and ``<name>.json`` (the summary of headline numbers too).
Each sidecar holds the parameters (paths relative to the repository, :func:`records.relative`), the
notebook, the package version, :func:`records.provenance` (commit, dirty flag, Python / torch /
transformers versions, CPU, threads, UTC time, command) and, when the caller passes them, the model
name with its weights' SHA-256 and the data's SHA-256. ``git_commit`` repeats the commit at the top
level, as sidecars written before provenance blocks had it; :func:`load_summary` reads both kinds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

import mdlm_study  # noqa: E402
from mdlm_study.core import records  # noqa: E402


def set_style() -> None:
    """Seaborn's colour-blind palette, white grid, readable font sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=1.05)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 130, "savefig.bbox": "tight", "axes.titleweight": "bold"})


PATH_PARAMS = ("out_dir", "checkpoints_dir", "data_dir", "data_path")  # parameters that are paths


def _models(model: str | Mapping[str, str] | None, weights_sha256: str | None) -> list[dict]:
    """``[{"model", "weights_sha256"}]`` from one name and its SHA-256, or a {name: SHA-256} mapping."""
    if model is None:
        if weights_sha256 is not None:
            raise ValueError("weights_sha256 was given without model=: name the model the weights belong to")
        return []
    if isinstance(model, Mapping):
        if weights_sha256 is not None:
            raise ValueError("model= is a {name: weights_sha256} mapping; do not pass weights_sha256= as well")
        return [records.model_identity(name, sha) for name, sha in model.items()]
    if weights_sha256 is None:
        raise ValueError(f"model={model!r} needs weights_sha256= (e.g. mdlm_study.models.checkpoints.weights_sha256(model))")
    return [records.model_identity(model, weights_sha256)]


def provenance(params: dict, notebook: str | None = None, *, model: str | Mapping[str, str] | None = None,
               weights_sha256: str | None = None, data_sha256: str | Mapping[str, str] | None = None) -> dict:
    """A sidecar's provenance: parameters (path parameters relative to the repository), notebook,
    package version, :func:`records.provenance`, the models used and the data's SHA-256."""
    params = {k: records.relative(v) if k in PATH_PARAMS and isinstance(v, str) and v else v for k, v in _jsonable(params).items()}
    prov = records.provenance()
    out = {"params": params, "git_commit": prov["commit"], "package_version": mdlm_study.__version__, "notebook": notebook, "provenance": prov}
    models = _models(model, weights_sha256)
    if models:
        out["models"] = models
    if data_sha256 is not None:
        out["data_sha256"] = dict(data_sha256) if isinstance(data_sha256, Mapping) else data_sha256
    return out


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


class SavedFigure(type(Path())):
    """The path of a saved figure; as a notebook cell's value it reads "saved to <path>", not a PosixPath."""

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": f"saved to {self}"}


def _in_kernel() -> bool:
    """Whether a Jupyter kernel runs this (a notebook, papermill), not a script or a test."""
    try:
        from IPython import get_ipython  # deferred: IPython only matters inside a notebook
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show_png(png: bytes) -> None:
    """Display a PNG inline when a notebook kernel runs this (the package draws with the Agg backend,
    which never displays by itself); a no-op elsewhere."""
    if _in_kernel():
        from IPython.display import Image, display  # deferred: IPython only matters inside a notebook

        display(Image(data=png, format="png"))


class InlineFigure:
    """A figure drawn but not saved, shown inline by a notebook (``_repr_png_``) and then closed."""

    def __init__(self, fig):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        self.png = buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png


def save_figure(fig, name: str, out_dir: str | Path, params: dict, *, notebook: str | None = None, model: str | Mapping[str, str] | None = None,
                weights_sha256: str | None = None, data_sha256: str | Mapping[str, str] | None = None) -> SavedFigure:
    """Write the figure as PNG with its JSON sidecar (:func:`provenance`), show it inline in a notebook
    (:func:`show_png`), close it, and return the PNG path (:class:`SavedFigure`).

    ``model``: the model's name with ``weights_sha256`` its weights' SHA-256, or a mapping
    {name: weights SHA-256} when several models made the figure; ``data_sha256``: the problems' SHA-256
    (:func:`records.problems_sha256`), or a mapping {data set: SHA-256}."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    record = provenance(params, notebook, model=model, weights_sha256=weights_sha256, data_sha256=data_sha256)
    fig.savefig(path)
    plt.close(fig)
    records.write_text_atomic(folder / f"{name}.json", json.dumps(record, indent=2))
    show_png(path.read_bytes())
    return SavedFigure(path)


def save_table(table: pd.DataFrame, name: str, out_dir: str | Path, params: dict, summary: dict | None = None, *,
               notebook: str | None = None, model: str | Mapping[str, str] | None = None, weights_sha256: str | None = None,
               data_sha256: str | Mapping[str, str] | None = None) -> Path:
    """Write the table as CSV and a JSON with the headline ``summary`` and :func:`provenance` (``model``,
    ``weights_sha256`` and ``data_sha256`` as in :func:`save_figure`)."""
    folder = Path(out_dir) / "figures" / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    record = {"summary": _jsonable(summary or {}), **provenance(params, notebook, model=model, weights_sha256=weights_sha256, data_sha256=data_sha256)}
    records.write_text_atomic(path, table.to_csv(index=False))
    records.write_text_atomic(folder / f"{name}.json", json.dumps(record, indent=2))
    return path


def load_summary(name: str, out_dir: str | Path) -> dict:
    """The ``summary`` of a table written by :func:`save_table` (notebook 07 reads only these), with
    the notebook's ``n_problems`` parameter added when the summary does not state it (the claims'
    noise bands need it)."""
    path = Path(out_dir) / "figures" / "tables" / f"{name}.json"
    if not path.exists():
        raise ValueError(f"no table summary {path}; run the notebook that writes {name!r} first")
    record = json.loads(path.read_text())
    summary = dict(record["summary"])
    if "n_problems" not in summary and record.get("params", {}).get("n_problems"):
        summary["n_problems"] = record["params"]["n_problems"]
    return summary

