"""The decoders' frontier as notebook 07 and the documents show it, from the frontier records.

The records are written by ``benchmarks/bench_frontier.py`` (one file per task regime and template
run, :data:`FRONTIER_RECORDS`); :func:`load_frontier` reads every file there into one table
(:func:`mdlm_study.experiments.decoder_frontier.frontier_table`), :func:`frontier_markdown` gives
the per-template table (seeds on the frontier, AUP, the best pooled setting) and the answers in
words, :func:`show_frontier` displays both and the figure (:func:`mdlm_study.reporting.plots.decoder_frontier`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mdlm_study.core.records import ROOT, read_records
from mdlm_study.experiments import decoder_frontier
from mdlm_study.reporting.plots import decoder_frontier as frontier_figure
from mdlm_study.reporting.plots import decoder_name

FRONTIER_RECORDS = "benchmarks/results/frontier"  # <regime>_<template>.json, each a list of bench_frontier records


def load_frontier(directory: str | Path | None = None) -> pd.DataFrame | None:
    """Every frontier record under ``directory`` (default :data:`FRONTIER_RECORDS`) as one
    :func:`~mdlm_study.experiments.decoder_frontier.frontier_table`, or None when there is none."""
    directory = ROOT / FRONTIER_RECORDS if directory is None else Path(directory)
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    records = [record for path in files for record in read_records(path)]
    return decoder_frontier.frontier_table(records) if records else None


def _percent(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}"


def decoder_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Per template and decoder: seeds on the frontier (of seeds run), mean AUP over seeds (range),
    and its best pooled setting (highest pooled accuracy) with accuracy, interval and mean NFE."""
    shares = decoder_frontier.decoder_shares(table)
    aups = decoder_frontier.decoder_aup(table)
    pooled = decoder_frontier.pooled_settings(table)
    best = pooled.sort_values("accuracy", ascending=False).groupby(["template", "decoder"], as_index=False).first()
    rows = shares.merge(aups.drop(columns="seeds"), on=["template", "decoder"]).merge(best.drop(columns="seeds"), on=["template", "decoder"])
    out = pd.DataFrame({
        "template": rows["template"], "decoder": rows["decoder"].map(decoder_name),
        "on the frontier": [f"{a} of {b} seeds" for a, b in zip(rows["on_frontier"], rows["seeds"], strict=True)],
        "AUP (mean, range over seeds)": [f"{m:.1f} ({lo:.1f}-{hi:.1f})" for m, lo, hi in zip(rows["aup"], rows["aup_min"], rows["aup_max"], strict=True)],
        "best setting": rows["label"],
        "accuracy % (pooled, 95% CI)": [f"{_percent(a)} ({_percent(lo)}-{_percent(hi)})" for a, lo, hi in zip(rows["accuracy"], rows["low"], rows["high"], strict=True)],
        "mean NFE": rows["mean_nfe"].round(2),
    })
    return out.sort_values(["template", "on the frontier"], ascending=[True, False], ignore_index=True)


def _names(decoders, empty: str) -> str:
    """Decoder families in words, comma-separated (``empty`` when there are none)."""
    return ", ".join(decoder_name(d) for d in decoders) or empty


def frontier_sentences(table: pd.DataFrame) -> list[str]:
    """The answers in words, one sentence per template: MED + exit's seeds on the frontier, the
    decoders on every seed's frontier, and whether a combination reaches a point no single decoder reaches."""
    sentences = []
    for template, answer in decoder_frontier.frontier_answers(table).items():
        always = _names(answer["always_on_frontier"], "no decoder")
        combos = answer["combination_only_points"]
        reach = (f"{len(combos)} combined setting(s) reach a pooled point no single decoder reaches ({', '.join(combos)})" if combos
                 else "no combination reaches a pooled point that a single decoder does not")
        sentences.append(f"Template '{template}' ({answer['seeds']} training seeds): MED + exit is on the frontier of "
                         f"{answer['med_exit_on_frontier']} of {answer['seeds']} seeds; on every seed's frontier: {always}; {reach}.")
    return sentences


def frontier_line(table: pd.DataFrame) -> str:
    """The README's one-line answer: per template, on how many seeds' frontiers MED + exit is and which
    decoders are on every seed's frontier."""
    parts = []
    for template, answer in decoder_frontier.frontier_answers(table).items():
        always = _names(answer["always_on_frontier"], "none")
        parts.append(f"`{template}` template: MED + exit on {answer['med_exit_on_frontier']} of {answer['seeds']} seeds' frontiers; "
                     f"on all {answer['seeds']}: {always}")
    return "**Decoders' frontier** ([table](docs/results.md#decoders-on-one-frontier)): " + "; ".join(parts) + "."


def frontier_markdown(table: pd.DataFrame) -> str:
    """The frontier's table and answers as Markdown."""
    rows = decoder_rows(table)
    header = "| " + " | ".join(rows.columns) + " |\n|" + "---|" * len(rows.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in rows.itertuples(index=False))
    return "\n".join(f"- {s}" for s in frontier_sentences(table)) + "\n\n" + header + body


def show_frontier(directory: str | Path | None = None, *, out_dir: str | Path | None = None, params: dict | None = None,
                  notebook: str | None = None):
    """Display the frontier's answers and table in a notebook and its figure (inline; with ``out_dir``
    also saved as ``figures/07_decoder_frontier.png`` with its sidecar, :func:`~mdlm_study.reporting.figures.save_figure`),
    or print where the records come from and return None when there are none."""
    from IPython.display import Markdown, display  # deferred: only inside a notebook

    from mdlm_study.reporting.figures import (  # deferred: figures loads matplotlib and seaborn
        InlineFigure,
        save_figure,
    )

    table = load_frontier(directory)
    if table is None:
        print(f"no frontier records in {FRONTIER_RECORDS}/ (python benchmarks/bench_frontier.py, docs/benchmarks.md)")
        return None
    display(Markdown(frontier_markdown(table)))
    fig = frontier_figure(decoder_frontier.pooled_settings(table))
    if out_dir is None:
        return InlineFigure(fig)
    models = dict(zip(table["model"], table["weights_sha256"], strict=True)) if "weights_sha256" in table else None
    return save_figure(fig, "07_decoder_frontier", out_dir, params or {}, notebook=notebook, model=models)
