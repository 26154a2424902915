"""The training benchmark's FLOP count (benchmarks/bench_training.py): matmul weights only."""

import importlib.util
from pathlib import Path

import torch

_SPEC = importlib.util.spec_from_file_location("bench_training", Path(__file__).parents[1] / "benchmarks" / "bench_training.py")
bench_training = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_training)


def test_flops_count_linear_weights_not_embeddings_plus_attention():
    model = torch.nn.Sequential(torch.nn.Embedding(100, 4), torch.nn.Linear(4, 8), torch.nn.Linear(8, 3, bias=False))
    # linear weights 4*8 + 8*3 = 56 -> 6 * 56; attention 12 * layers(2) * hidden(4) * width(10)
    assert bench_training.matmul_flops_per_token(model, 2, 4, 10) == 6 * 56 + 12 * 2 * 4 * 10


def test_matmul_peak_is_a_positive_rate():
    assert bench_training.matmul_peak(torch.float32, n=64, repeats=2) > 0
