"""The committed full run reads as a reader needs it: every executed notebook shows each figure its
manifest entry lists inline (an ``image/png`` output), writes nothing to stderr and raises nothing, and
every table and figure sidecar of the run names one clean commit (``make reproduce`` or
``python -m mdlm_study.runner --full --released`` wrote them; they are never edited by hand)."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = yaml.safe_load((ROOT / "notebooks" / "manifest.yaml").read_text())["notebooks"]


def _outputs(path: Path) -> list[dict]:
    return [o for cell in json.loads(path.read_text())["cells"] for o in cell.get("outputs", [])]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_executed_notebook_shows_its_figures_and_no_stderr(entry):
    outputs = _outputs(ROOT / "notebooks" / "executed" / entry["file"])
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images >= len(entry["figures"]), (entry["file"], images, entry["figures"])
    noisy = [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not noisy, (entry["file"], noisy[:1])


def test_the_full_run_has_one_clean_commit():
    sidecars = sorted((ROOT / "figures" / "tables").glob("*.json")) + sorted((ROOT / "figures").glob("*.json"))
    states = {}
    for path in sidecars:
        record = json.loads(path.read_text())
        if "provenance" in record:
            states[path.relative_to(ROOT).as_posix()] = (record["provenance"].get("commit"), record["provenance"].get("dirty"))
    assert len(states) >= 20, sorted(states)
    commits = {commit for commit, _ in states.values()}
    assert len(commits) == 1, {c: [p for p, (k, _) in states.items() if k == c][:3] for c in commits}
    assert all(dirty is False for _, dirty in states.values()), [p for p, (_, d) in states.items() if d is not False]
