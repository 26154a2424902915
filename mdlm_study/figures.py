"""The study's plot style and the only way figures and tables are written: with a provenance sidecar.

``save_figure(fig, name, out_dir, params)`` writes ``<out_dir>/figures/<name>.png`` and
``<name>.json`` (parameters, git commit, package version, notebook); ``save_table(df, name, out_dir,
params, summary)`` writes ``<out_dir>/figures/tables/<name>.csv`` and ``<name>.json`` (the summary
of headline numbers plus the same provenance).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

import mdlm_study  # noqa: E402

PAPER_STYLE = {"color": "black", "marker": "*", "s": 180, "zorder": 5}


def set_style() -> None:
    """Seaborn's colour-blind palette, white grid, readable font sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=1.05)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 130, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def provenance(params: dict, notebook: str | None = None) -> dict:
    return {"params": _jsonable(params), "git_commit": git_commit(), "package_version": mdlm_study.__version__, "notebook": notebook}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def save_figure(fig, name: str, out_dir: str | Path, params: dict, *, notebook: str | None = None) -> Path:
    """Write the figure as PNG with its JSON sidecar; return the PNG path."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path)
    (folder / f"{name}.json").write_text(json.dumps(provenance(params, notebook), indent=2))
    return path


def save_table(table: pd.DataFrame, name: str, out_dir: str | Path, params: dict, summary: dict | None = None, *,
               notebook: str | None = None) -> Path:
    """Write the table as CSV and a JSON with the headline ``summary`` and provenance."""
    folder = Path(out_dir) / "figures" / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    table.to_csv(path, index=False)
    record = {"summary": _jsonable(summary or {}), **provenance(params, notebook)}
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2))
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


def paper_marker(ax, x, y, label: str = "paper") -> None:
    """Draw the paper's number beside ours (a black star, labelled)."""
    ax.scatter([x], [y], label=label, **PAPER_STYLE)
