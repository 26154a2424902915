"""The lanes benchmark times a recipe's own training in windows and says whether its weights depend on the thread
count; bad settings are refused before any work."""

import pytest
from benchmark_helpers import benchmark_module


@pytest.fixture(scope="module")
def smoke_set(tmp_path_factory):
    bench = benchmark_module("bench_lanes")
    return bench, bench.prepare(["default"], tmp_path_factory.mktemp("lanes"), smoke=True)["default"]


def test_a_run_is_timed_window_by_window_and_its_weights_do_not_depend_on_the_thread_count(smoke_set):
    bench, path = smoke_set
    one = bench.measure("default", str(path), 1, 8, 4, smoke=True)
    two = bench.measure("default", str(path), 2, 8, 4, smoke=True)
    assert len(one["seconds_per_step"]) == len(two["seconds_per_step"]) == 2
    assert all(seconds > 0 for seconds in one["seconds_per_step"] + two["seconds_per_step"])
    assert one["weights_sha256"] == two["weights_sha256"]
    # the hash tells runs apart: four steps fewer is another model
    assert bench.measure("default", str(path), 1, 4, 4, smoke=True)["weights_sha256"] != one["weights_sha256"]
    assert bench._steady(one, 1) == one["seconds_per_step"][1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": ("chains",)}, r"two recipes, one per lane, got \['chains'\]"),
    ({"warmup": 30, "window": 20}, "warmup must be a multiple of window, got warmup=30, window=20"),
    ({"windows": 0}, "windows"),
])
def test_bad_settings_are_refused_before_any_work(kwargs, message):
    bench = benchmark_module("bench_lanes")
    with pytest.raises(ValueError, match=message):
        bench.run(**kwargs)
