"""The chains errors benchmark sorts each wrongly answered chain by its first wrong result, counts every chain's
arithmetic slips, and its command writes a record per model."""

import json

from benchmark_helpers import benchmark_module

from mdlm_study.tasks.arithmetic import Problem

CHAIN = Problem("q", 6, (("add", 1), ("mul", 2)), ("6+1=7", "2*7=14"), "14")


def test_wrong_answers_are_sorted_by_their_first_wrong_result_and_slips_counted_over_every_chain():
    bench = benchmark_module("bench_chains_errors")
    rows = [{"reasoning": "6+1=7\n2*7=14", "correct": True},
            {"reasoning": "6+1=8\n2*8=16", "correct": False},  # a slip, the answer follows it
            {"reasoning": "6+1=7\n2*7=15", "correct": True},  # a slip the answer slot did not follow
            {"reasoning": "6+2=8\n2*8=16", "correct": False},
            {"reasoning": "6+1=7\n2*7=14", "correct": False}]
    kinds = bench.error_kinds([CHAIN] * 5, rows)
    assert kinds["wrong_answers"] == {"arithmetic slip": 1, "follows a miscopied step": 1, bench.RIGHT_RESULTS: 1}
    assert (kinds["answers_right"], kinds["arithmetic_slips"], kinds["steps"]) == (2, 2, 10)
    assert kinds["slips_per_step"] == 0.2


def test_the_command_decodes_the_deep_test_chains_and_writes_a_record(tmp_path):
    bench = benchmark_module("bench_chains_errors")
    out = tmp_path / "errors.json"
    [record] = bench.main(["--models", "chains", "--n-problems", "3", "--out", str(out)])
    assert record["n_problems"] == 3 and record["min_steps"] == 3 and len(record["weights_sha256"]) == 64
    assert record["answers_right"] + sum(record["wrong_answers"].values()) == 3
    written = json.loads(out.read_text())
    assert written["records"][0]["problems_sha256"] == record["problems_sha256"]
    assert written["provenance"]["command"].startswith("benchmarks/bench_chains_errors.py --models chains")
