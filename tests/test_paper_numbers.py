"""The paper's numbers are typed once, in ``mdlm_study/core/paper.py``: the package, the benchmarks and the
notebooks' code cells read them from there, so a figure, a claim and a document cannot quote two values.

The scan looks for every number of that module as it would be typed: a fraction (``0.7695``), in percent
(``76.95``), an NFE (``193``), and the differences and speed-ups the claims derive from them, in points
(``14.6``) or as a factor (``2.72``). Forms too common to tell from a coincidence are not scanned: a
fraction with one significant digit (``0.5``), percent, points or a factor with fewer than three (``97``,
``1.2`` points, ``3.0`` tokens), and the generation setting's sizes (:data:`UNSCANNED`); the few literals
that are scanned and are coincidences are in :data:`COINCIDENCES`, each with its reason. Notebook markdown is prose
and is not scanned; the executed notebooks are outputs of the sources.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from mdlm_study.core import paper

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "mdlm_study" / "core" / "paper.py"

# (file relative to the repository, literal): why that literal there is not the paper's number
COINCIDENCES = {
    ("mdlm_study/core/clustered_stats.py", "193"): "a citation's page range (Survey Methodology 24:193-201)",
    ("mdlm_study/reporting/plots.py", "0.012"): "the offsets (axes fraction) of the two strokes of a cut axis' break mark",
}
# The generation setting's sizes (L = 256, so k = 1's 256 NFE; the answer slot of 10; blocks of 1, 32 and
# 128) are the powers of two and round numbers every batch size, width, budget and block sweep of the
# package uses, so their literals cannot be told from a coincidence: not scanned. ``models.paper_setting``
# reads them from ``core.paper``, and the claims print them from there.
UNSCANNED = {"256", "128", "32", "10", "1"}


def _values() -> dict[str, float]:
    """Every number ``paper`` holds, by a dotted name: constants, dataclass fields, mapping entries."""
    out = {}

    def add(name, value):
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            out[name] = value
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                add(f"{name}.{f.name}", getattr(value, f.name))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                add(f"{name}[{key!r}]", item)
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                add(f"{name}[{i}]", item)

    for name, value in vars(paper).items():
        if name.isupper():
            add(name, value)
    return out


def _derived() -> dict[str, float]:
    """The differences (fractions) and speed-ups the claims and figures compute from the paper's numbers."""
    a, s, c, e = paper.TABLE_A_GSM8K, paper.TABLE_A_SUDOKU, paper.TABLE_C, paper.TABLE_E
    out = {"Table A: block 128 minus L2R": a.block_128 - a.l2r, "Table A, Sudoku: block 128 minus L2R": s.block_128 - s.l2r,
           "Table B and C: MED minus fixed k = 2": c.med.accuracy - paper.TABLE_B_GSM8K[2],
           **{f"Table B: k = {k} minus k = 1": paper.fixed_k_drop(k) for k in paper.TABLE_B_GSM8K if k != 1},
           **{f"Table C: {rule} minus k = 1": c.change(rule) for rule in ("exit", "med", "med_exit")},
           **{f"Table E: {arm} minus base": e[arm] - e["base"] for arm in ("gold", "posterior", "both")},
           "Table E: both minus the better arm": e["both"] - max(e["gold"], e["posterior"])}
    return out


def _significant(text: str) -> int:
    return len(text.replace(".", "").replace("-", "").lstrip("0"))


def literals() -> dict[str, str]:
    """Each literal the scan looks for -> the number of ``paper`` it types: fractions with at least two
    significant digits (``0.36``), percent, points and speed-ups with at least three (``76.95``, ``14.6``,
    ``2.72``), every count (``193``) but the generation setting's sizes (:data:`UNSCANNED`)."""
    found = {}

    def add(form: str, name: str, digits: int) -> None:
        if _significant(form) >= digits and form not in UNSCANNED:
            found.setdefault(form, name)

    for name, value in _values().items():
        name = f"paper.{name}"
        if isinstance(value, int):
            add(str(value), name, 1)
        elif 0 < value < 1:
            add(repr(value), name, 2)
            add(f"{paper.percent(value):g}", name, 3)
        else:
            add(repr(value), name, 3)
    for name, value in _derived().items():
        add(repr(round(abs(value), 4)), name, 2)
        add(f"{100 * abs(value):.1f}", name, 3)
    for rule in ("exit", "med", "med_exit"):
        add(f"{paper.TABLE_C.speedup(rule):.2f}", f"paper.TABLE_C.speedup({rule!r})", 3)
    return found


def _sources() -> dict[str, str]:
    """Repository-relative path (a notebook's with its cell) -> text: the package but ``core/paper.py``,
    the benchmarks, and the notebooks' code cells."""
    out = {}
    for path in sorted([*(ROOT / "mdlm_study").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]):
        if path != HOME:
            out[str(path.relative_to(ROOT))] = path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                out[f"{path.relative_to(ROOT)}#cell{i}"] = "".join(cell["source"])
    return out


def typed_again(sources: Mapping[str, str]) -> list[str]:
    """Where a literal of :func:`literals` occurs in ``sources`` (not part of a longer number), but for :data:`COINCIDENCES`."""
    hits = []
    for form, name in literals().items():
        pattern = re.compile(rf"(?<![\w.]){re.escape(form)}(?![\d])")
        for where, text in sources.items():
            if (where.split("#")[0], form) in COINCIDENCES:
                continue
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                hits.append(f"{where}:{line}: {form} ({name})")
    return sorted(hits)


def test_no_paper_number_is_typed_outside_core_paper():
    hits = typed_again(_sources())
    assert not hits, "read these from mdlm_study.core.paper instead:\n" + "\n".join(hits)


def test_the_scan_finds_a_number_typed_again():
    """The scan catches each form a number takes, and not a longer number that contains it."""
    sources = {"a.py": 'PAPER = {1: 76.95, 2: 62.31}\nx = 0.7695 - 0.5344\n', "b.ipynb#cell3": 'label = "256 → 193 NFE (1.33x)"',
               "c.py": "speedup = 2.72\ndrop = -14.6\nbatch = 1193\nwidth = 0.79401\n"}
    hits = typed_again(sources)
    assert {h.split(": ")[1].split(" ")[0] for h in hits} == {"76.95", "62.31", "0.7695", "0.5344", "193", "1.33", "2.72", "14.6"}
    assert not any(h.startswith("c.py:3") or h.startswith("c.py:4") for h in hits)


def test_every_coincidence_is_still_there():
    """An allowlisted literal that no longer occurs in its file is a stale entry."""
    for (path, form), reason in COINCIDENCES.items():
        assert reason and re.search(rf"(?<![\w.]){re.escape(form)}(?![\d])", (ROOT / path).read_text()), (path, form)


@pytest.mark.parametrize("name, value", sorted(_values().items()))
def test_every_number_is_in_its_range(name, value):
    """Fractions are fractions (the paper prints percent: :func:`paper.percent`), NFE and sizes are counts."""
    if isinstance(value, int):
        assert value >= 1, name
    elif "mean_distance" not in name:
        assert 0 <= value <= 1, name
