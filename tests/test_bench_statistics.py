"""The statistics benchmark times the engine's own function, and its command writes a record with provenance."""

import json

from benchmark_helpers import benchmark_module, run_script


def test_the_timed_function_is_the_engines_and_a_time_is_positive(monkeypatch):
    bench = benchmark_module("bench_statistics")
    calls = []
    real = bench.engine._position_statistics
    monkeypatch.setattr(bench.engine, "_position_statistics", lambda z, t, k: calls.append((z.shape, t, k is None)) or real(z, t, k))
    monkeypatch.setattr(bench.engine, "CHUNK_ELEMENTS", 3 * 1000)
    assert bench.time_statistics(1000, 7, 1.0, repeats=2) > 0
    assert [shape for shape, _, _ in calls] == [(3, 1000), (3, 1000), (1, 1000)] * 2  # chunks as the engine makes them
    assert all(t == 1.0 and not greedy for _, t, greedy in calls)


def test_the_command_writes_a_record_and_refuses_a_zero_count(tmp_path):
    out = tmp_path / "statistics.json"
    assert run_script("bench_statistics", "--positions", "2", "--repeats", "1", "--out", str(out)).returncode == 0
    record = json.loads(out.read_text())
    assert [(r["vocab"], r["temperature"]) for r in record["rows"]] == [(v, t) for v in ("study", "llada", "dream") for t in (0.0, 1.0)]
    assert all(r["ms_per_1000_positions"] > 0 for r in record["rows"]) and "commit" in record["provenance"]
    bad = run_script("bench_statistics", "--repeats", "0", "--out", str(out))
    assert bad.returncode == 2 and "--repeats must be >= 1, got 0" in bad.stderr
