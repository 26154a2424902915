"""Sharding, gathering in the original order, and a real 2-process ``accelerate launch`` on CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stand_ins import save_tiny

from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.config import config_from_arguments
from mdlm_study.integrations.distributed import (
    batch_ranges,
    build_parser,
    main,
    run_sharded,
    shard,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[1]


def test_batches_and_shards_cover_every_index_once():
    batches = batch_ranges(7, 3)
    assert [list(b) for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(b) for b in shard(batches, 1, 2)] == [[3, 4, 5]]
    assert sorted(i for r in range(2) for b in shard(batches, r, 2) for i in b) == list(range(7))


def fake_work(rows):
    return [{"value": i * i, "batch": rows.start} for i in rows]


def test_two_simulated_ranks_gather_into_the_single_process_rows():
    single = run_sharded(11, fake_work, batch_size=2)
    rank1 = []
    assert run_sharded(11, fake_work, batch_size=2, rank=1, world_size=2, gather=lambda local: rank1.extend(local) or local) is None
    both = run_sharded(11, fake_work, batch_size=2, rank=0, world_size=2, gather=lambda local: rank1 + local)
    assert both == single and [r["index"] for r in single] == list(range(11))


def test_missing_or_short_results_raise():
    with pytest.raises(ValueError, match="missing or duplicated"):
        run_sharded(4, fake_work, batch_size=2, rank=0, world_size=2, gather=lambda local: local)
    with pytest.raises(ValueError, match="1 results for 2 problems"):
        run_sharded(2, lambda rows: [{}], batch_size=2)
    with pytest.raises(ValueError, match="batch_size=0"):
        batch_ranges(3, 0)
    with pytest.raises(ValueError, match="rank must be"):
        shard([], 2, 2)


def _config(*flags: str) -> DecodeConfig:
    return config_from_arguments(build_parser().parse_args(["--checkpoint", "c", "--n-problems", "1", "--out", "o", *flags]))


def test_decoding_flags_are_generated_from_the_config_and_its_rules():
    assert _config() == DecodeConfig("entropy")
    assert _config("--sampler", "med", "--med-lambda", "0.2", "--exit-gamma", "0.1", "--block-size", "32", "--answer-last", "false",
                   "--seed", "3", "--suppress-token-ids", "5,2") == DecodeConfig(
        "med", med_lambda=0.2, exit_gamma=0.1, block_size=32, answer_last=False, seed=3, suppress_token_ids=[2, 5])
    assert _config("--sampler", "fast_threshold", "--tau", "0.9").tau == 0.9
    with pytest.raises(ValueError, match=r"unknown rule parameter\(s\) \['med_lambda'\] for sampler 'entropy'"):
        _config("--med-lambda", "0.2")
    with pytest.raises(ValueError, match="--answer-last must be true or false, got 'maybe'"):
        _config("--answer-last", "maybe")
    with pytest.raises(ValueError, match="--suppress-token-ids must be comma-separated token ids"):
        _config("--suppress-token-ids", "5,x")


def test_jsonl(tmp_path):
    path = write_jsonl([{"index": 0, "b": 1}], tmp_path / "x" / "out.jsonl")
    assert json.loads(path.read_text()) == {"b": 1, "index": 0}


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_equals_one_process(tmp_path, tokenizer):
    ckpt = save_tiny(tmp_path / "tiny", tokenizer)
    args = ["--checkpoint", str(ckpt), "--task", "arithmetic", "--n-problems", "7", "--batch-size", "2", "--sampler", "l2r",
            "--reasoning-len", "12", "--cpu"]
    single = main(args + ["--out", str(tmp_path / "single.jsonl")])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "mdlm_study.integrations.distributed"]
    done = subprocess.run(launch + args + ["--out", str(tmp_path / "two.jsonl")], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert rows == json.loads(json.dumps(single)) and [r["index"] for r in rows] == list(range(7))
    assert "from 2 process(es)" in done.stdout
