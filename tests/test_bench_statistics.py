"""The statistics benchmark times the engine's own function, compares another checkout's on the same logits, and its
command writes a record with provenance."""

import json
import shutil
from pathlib import Path

import pytest
from benchmark_helpers import benchmark_module, run_script

ROOT = Path(__file__).resolve().parents[1]


def test_the_timed_function_is_the_engines_in_the_engines_chunks(monkeypatch):
    bench = benchmark_module("bench_statistics")
    calls = []
    real = bench.engine._position_statistics
    monkeypatch.setattr(bench.engine, "_position_statistics", lambda z, t, k: calls.append((z.shape, t, k is None)) or real(z, t, k))
    monkeypatch.setattr(bench.engine, "CHUNK_ELEMENTS", 3 * 1000)
    assert bench.time_statistics(1000, 7, 1.0, repeats=2)["seconds"] > 0
    assert [shape for shape, _, _ in calls] == [(3, 1000), (3, 1000), (1, 1000)] * 2
    assert all(t == 1.0 and not greedy for _, t, greedy in calls)


def _checkout(tmp_path: Path, edit=None) -> Path:
    """A folder laid out like a checkout, holding this checkout's engine loop and noise (``edit`` changes the loop)."""
    engine = tmp_path / "mdlm_study" / "engine"
    engine.mkdir(parents=True)
    shutil.copy(ROOT / "mdlm_study" / "engine" / "noise.py", engine / "noise.py")
    loop = (ROOT / "mdlm_study" / "engine" / "loop.py").read_text()
    (engine / "loop.py").write_text(edit(loop) if edit else loop)
    return tmp_path


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_against_another_checkout_says_whether_the_statistics_are_the_same(tmp_path, temperature):
    bench = benchmark_module("bench_statistics")
    same = bench.time_statistics(500, 5, temperature, repeats=1, against=bench.engine_of(_checkout(tmp_path / "same")))
    assert same["identical"] is True and same["against_seconds"] > 0
    shifted = _checkout(tmp_path / "shifted", lambda text: text.replace('"entropy": entropy,', '"entropy": entropy + 1e-3,', 1))
    assert bench.time_statistics(500, 5, temperature, repeats=1, against=bench.engine_of(shifted))["identical"] is False
    with pytest.raises(ValueError, match="--against must be a checkout of this repository; .*engine/noise.py is missing"):
        bench.engine_of(tmp_path / "nothing")


def test_the_command_writes_a_record_and_refuses_a_zero_count(tmp_path):
    out = tmp_path / "statistics.json"
    assert run_script("bench_statistics", "--positions", "2", "--repeats", "1", "--against", str(ROOT), "--out", str(out)).returncode == 0
    record = json.loads(out.read_text())
    assert [(r["vocab"], r["temperature"]) for r in record["rows"]] == [(v, t) for v in ("study", "llada", "dream") for t in (0.0, 1.0)]
    assert all(r["ms_per_1000_positions"] > 0 and r["identical"] for r in record["rows"]) and "commit" in record["provenance"]
    assert len(record["config"]["against_commit"]) == 40
    bad = run_script("bench_statistics", "--repeats", "0", "--out", str(out))
    assert bad.returncode == 2 and "--repeats must be >= 1, got 0" in bad.stderr
