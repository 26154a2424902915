"""The records the claims read: every notebook's JSON summary and CSV table, and the training seeds'
decoding records (:class:`Study`, :func:`load_study`).

The claims (:mod:`mdlm_study.reporting.claims`) read a notebook's numbers with :meth:`Study.get` and
:meth:`Study.n`; a number that is not recorded raises ``LookupError``, and its claim is *missing*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TABLES = ("01_training", "02_any_order_vs_l2r", "03_parallel_decoding", "04_early_exit", "05_finetuning", "05_filtering", "06_step_scoring")
S1, A, S3, S4, S5, F5, S6 = TABLES


@dataclass
class Study:
    """What the claims read: ``summaries`` (table name -> the JSON summary a notebook wrote), ``tables``
    (table name -> its CSV) and ``seed_records`` (a label such as "seed 1" -> one training seed's
    record: from ``benchmarks/bench_seeds.py`` or ``bench_sudoku_seeds.py``, every decoding of the same
    held-out problems with per-problem correctness kept; from ``bench_trace_seeds.py``, the trace
    measures)."""

    summaries: dict
    tables: dict = field(default_factory=dict)
    seed_records: dict = field(default_factory=dict)

    def get(self, table: str, key: str) -> float:
        value = self.summaries.get(table, {}).get(key)
        if value is None:
            raise LookupError(f"{table}.json has no {key!r}")
        return float(value)

    def n(self, table: str, key: str = "n_problems") -> int:
        return int(self.get(table, key))

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise LookupError(f"no table {name}.csv")
        return self.tables[name]


def load_study(out_dir: str | Path, seed_records: dict[str, str | Path] | None = None, *, tables: tuple[str, ...] = TABLES) -> Study:
    """The summaries and CSVs of ``tables`` under ``<out_dir>/figures/tables`` (those that exist), and
    the seed records of ``seed_records`` (label -> path of a seeds benchmark's record: decodings, traces, fine-tuning, or
    a chains seed's regime alone when it is outside the regime, :func:`mdlm_study.experiments.seeds.counts_for_claims`)."""
    from mdlm_study.reporting.figures import load_summary  # deferred: figures loads matplotlib

    folder = Path(out_dir) / "figures" / "tables"
    summaries = {name: load_summary(name, out_dir) for name in tables if (folder / f"{name}.json").exists()}
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in tables if (folder / f"{name}.csv").exists()}
    records = {}
    for label, path in (seed_records or {}).items():
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or not ({"decodings", "traces", "regime", "finetune"} & set(data)):
            raise ValueError(f"{path}: not a seed record of benchmarks/bench_seeds.py, bench_sudoku_seeds.py, bench_trace_seeds.py, "
                             "bench_chains_seeds.py or bench_finetune_seeds.py (no 'decodings', 'traces', 'regime' or 'finetune')")
        records[label] = data
    return Study(summaries, frames, records)
