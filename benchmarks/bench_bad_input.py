"""Count how the package meets bad input: every case of ``tests/test_bad_input_*.py`` run once and
sorted into clear error / silently wrong / crash (``tests/bad_input.py`` defines the three).

    python benchmarks/bench_bad_input.py --out benchmarks/results/machine/bad_input.json

Writes one record per area (tried, clear, silent, crash) and the cases that were not clear, with
provenance; the README's reliability table quotes it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the cases live with the tests that check them

from bad_input import OUTCOMES, outcome  # noqa: E402

from mdlm_study.core.records import write_record  # noqa: E402


def cases() -> list:
    found = []
    for path in sorted((ROOT / "tests").glob("test_bad_input_*.py")):
        found += importlib.import_module(path.stem).CASES
    return found


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "machine" / "bad_input.json"))
    args = parser.parse_args(argv)
    counts: dict[str, Counter] = {}
    not_clear = []
    for case in cases():
        result, detail = outcome(case)
        counts.setdefault(case.area, Counter())[result] += 1
        if result != "clear":
            not_clear.append({"area": case.area, "case": case.name, "outcome": result, "detail": detail})
    rows = [{"area": area, "tried": sum(c.values()), **{o: c[o] for o in OUTCOMES}} for area, c in sorted(counts.items())]
    total = {"area": "all", "tried": sum(r["tried"] for r in rows), **{o: sum(r[o] for r in rows) for o in OUTCOMES}}
    write_record(args.out, {"records": [*rows, total], "not_clear": not_clear})
    for row in [*rows, total]:
        print(f"{row['area']:12s} tried {row['tried']:4d}  clear {row['clear']:4d}  silent {row['silent']:3d}  crash {row['crash']:3d}")
    return [*rows, total]


if __name__ == "__main__":
    main()
