"""Each notebook's conclusion, rendered from the records it wrote by the claims table's own code.

``render("03", out_dir)`` returns Markdown: every claim notebook 03 measures, the paper's number,
ours with its interval, the test, the verdict and its reason, and on how many training seeds it
holds. It is :func:`mdlm_study.reporting.summary.claims_table` restricted to that notebook, so a notebook's
conclusion, notebook 07's table (``render("07", out_dir)``) and ``docs/results.md`` cannot disagree.
``show`` displays it in a notebook: the last cell of each is ``show("<id>", out_dir)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mdlm_study.core.records import ROOT
from mdlm_study.core.verdicts import VERDICTS
from mdlm_study.experiments.seeds import SEEDS
from mdlm_study.reporting.plots import seeds_forest as forest_plot
from mdlm_study.reporting.study import TABLES, load_study
from mdlm_study.reporting.summary import claims_table, verdict_counts

NOTEBOOKS = {"01": "01_training", "02": "02_any_order_vs_l2r", "03": "03_parallel_decoding_med", "04": "04_answer_uncertainty_early_exit",
             "05": "05_posterior_traces_finetuning", "06": "06_step_scoring", "07": "07_summary"}
# the tables each notebook's claims read: a conclusion never waits for (or reads half of) another notebook's output
NOTEBOOK_TABLES = {"01": ("01_training",), "02": ("02_any_order_vs_l2r",), "03": ("03_parallel_decoding",), "04": ("04_early_exit",),
                   "05": ("05_finetuning", "05_filtering"), "06": ("06_step_scoring",), "07": TABLES}
# The training seeds' records: the default recipe's, each decoded with every rule on the same held-out problems
# (benchmarks/bench_seeds.py); the Sudoku recipe's, decoded the same way on the same held-out puzzles
# (benchmarks/bench_sudoku_seeds.py); the default recipe's posterior traces and step scores (benchmarks/bench_trace_seeds.py); the
# chains recipe's, the deep regime's, decoded with the same rules on the chains test split (benchmarks/bench_chains_seeds.py); the
# default recipe's base snapshots fine-tuned on gold, posterior and both traces, Table E (benchmarks/bench_finetune_seeds.py)
SEED_RECORDS = {**{f"seed {seed}": f"benchmarks/results/seeds/seed{seed}.json" for seed in SEEDS},
                **{f"sudoku seed {seed}": f"benchmarks/results/seeds_sudoku/seed{seed}.json" for seed in SEEDS},
                **{f"traces seed {seed}": f"benchmarks/results/seeds_traces/seed{seed}.json" for seed in SEEDS},
                **{f"chains seed {seed}": f"benchmarks/results/seeds_chains/seed{seed}.json" for seed in SEEDS},
                **{f"finetune seed {seed}": f"benchmarks/results/seeds_finetune/seed{seed}.json" for seed in SEEDS}}
SEED_CLAIMS = "benchmarks/results/seeds/claims.json"  # every decoding claim across those seeds, pooled
VERDICTS_DOC = "docs/verdicts.md"


def _params(out_dir: Path) -> dict:
    path = out_dir / "figures" / "tables" / "03_parallel_decoding.json"
    return json.loads(path.read_text()).get("params", {}) if path.exists() else {}


def default_seed_records(out_dir: str | Path) -> dict[str, Path]:
    """:data:`SEED_RECORDS` (absolute paths) when the notebooks decoded the study's default model on
    arithmetic, the model those records were made with; otherwise none."""
    params = _params(Path(out_dir))
    if params.get("model", "default") != "default" or params.get("task", "arithmetic") != "arithmetic":
        return {}
    return existing_seed_records(ROOT)


def existing_seed_records(root: str | Path) -> dict[str, Path]:
    """:data:`SEED_RECORDS` under ``root`` (absolute paths), those that exist (a recipe's seeds join as they are measured)."""
    return {label: Path(root) / path for label, path in SEED_RECORDS.items() if (Path(root) / path).exists()}


def seeds_forest(out_dir: str | Path):
    """The forest plot of every decoding claim across the training seeds (each seed's paired effect,
    the pooled one, the paper's), drawn from :data:`SEED_CLAIMS` when the notebooks decoded the study's
    default model (:func:`default_seed_records`); None otherwise or when the record is absent."""
    path = ROOT / SEED_CLAIMS
    if not default_seed_records(out_dir) or not path.exists():
        return None
    record = json.loads(path.read_text())
    return forest_plot(record["claims"], title=f"Decoding claims across {len(record['seeds'])} training seeds")


def show_seeds_forest(out_dir: str | Path):
    """:func:`seeds_forest` as an image a notebook shows inline (:class:`~mdlm_study.reporting.figures.InlineFigure`), or None."""
    from mdlm_study.reporting.figures import InlineFigure  # deferred: figures loads matplotlib and seaborn

    fig = seeds_forest(out_dir)
    return None if fig is None else InlineFigure(fig)


def _sources(out_dir: Path, tables: tuple[str, ...]) -> str:
    """Which records the numbers come from, with the commit each was written at."""
    parts = []
    for name in tables:
        path = out_dir / "figures" / "tables" / f"{name}.json"
        if path.exists():
            record = json.loads(path.read_text())
            commit = record.get("provenance", {}).get("commit") or record.get("git_commit") or "unknown"
            parts.append(f"`{name}` ({commit[:7]})")
    return ", ".join(parts)


def _claim_block(row: pd.Series) -> str:
    run = f"- This notebook's run (shown, not a second verdict): {row['run']}\n" if row["run"] else ""
    return (f"**{row['takeaway']}**\n\n"
            f"- Verdict of record: **{row['verdict']}** ({row['kind']}; {row['evidence'] or 'no records'})\n"
            f"- Paper: {row['paper']}\n- Ours: {row['ours']}\n{run}- Test: {row['test'] or 'none'}. {row['reason'][:1].upper()}{row['reason'][1:]}.\n"
            f"- Training seeds: {row['seeds'] or 'none'}\n"
            + (f"- The deep regime (the answer has to come out of the reasoning): **{row['deep_regime']}**; {row['deep_ours']}\n"
               if row["deep_regime"] else ""))


def render(notebook_id: str, out_dir: str | Path, *, seed_records: dict | None = None, verdicts_link: str = VERDICTS_DOC) -> str:
    """The Markdown conclusion of notebook ``notebook_id`` ("01" to "07") from the tables under
    ``<out_dir>/figures/tables``; ``seed_records`` (label -> decoding-record path) defaults to
    :func:`default_seed_records`. "07" gives the whole claims table."""
    if notebook_id not in NOTEBOOKS:
        raise ValueError(f"notebook_id must be one of {sorted(NOTEBOOKS)}, got {notebook_id!r}")
    out_dir = Path(out_dir)
    records = default_seed_records(out_dir) if seed_records is None else seed_records
    tables = NOTEBOOK_TABLES[notebook_id]
    table = claims_table(load_study(out_dir, records, tables=tables), notebook=None if notebook_id == "07" else notebook_id)
    head = f"## Conclusion\n\nVerdict words are defined in `{verdicts_link}`; intervals are 95% unless stated. Records: {_sources(out_dir, tables)}.\n"
    if notebook_id == "07":
        rows = ["| notebook | claim | kind | paper | evidence | ours | verdict | deep regime |", "|---|---|---|---|---|---|---|---|"]
        rows += [f"| {r.notebook} | {r.claim} | {r.kind} | {r.paper} | {r.evidence} | {r.ours} | **{r.verdict}** | "
                 f"{f'**{r.deep_regime}**: {r.deep_ours}' if r.deep_regime else '—'} |" for r in table.itertuples()]
        counts = verdict_counts(table)
        tally = ", ".join(f"{counts['n_' + word.replace(' ', '_')]} {word}" for word in VERDICTS if counts["n_" + word.replace(" ", "_")])
        takeaways = "\n".join(f"- {r.takeaway}" for r in table.itertuples())
        return (f"{head}\n{counts['n_claims']} claims of the paper: {tally} (our own target and the checks of our model apart).\n\n"
                f"{takeaways}\n\n" + "\n".join(rows) + "\n")
    return head + "\n" + "\n".join(_claim_block(row) for _, row in table.iterrows())


def show(notebook_id: str, out_dir: str | Path, **kwargs) -> None:
    """Display :func:`render`'s Markdown in a notebook."""
    from IPython.display import Markdown, display  # deferred: only inside a notebook

    display(Markdown(render(notebook_id, out_dir, **kwargs)))
