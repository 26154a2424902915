"""The training benchmark's measurements (benchmarks/throughput.py): the FLOP count counts matmul weights only."""

import torch
from benchmark_helpers import benchmark_module

throughput = benchmark_module("throughput")


def test_flops_count_linear_weights_not_embeddings_plus_attention():
    model = torch.nn.Sequential(torch.nn.Embedding(100, 4), torch.nn.Linear(4, 8), torch.nn.Linear(8, 3, bias=False))
    # linear weights 4*8 + 8*3 = 56 -> 6 * 56; attention 12 * layers(2) * hidden(4) * width(10)
    assert throughput.matmul_flops_per_token(model, 2, 4, 10) == 6 * 56 + 12 * 2 * 4 * 10


def test_matmul_peak_is_a_positive_rate():
    assert throughput.matmul_peak(torch.float32, n=64, repeats=2) > 0
