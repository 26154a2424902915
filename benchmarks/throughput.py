"""Training throughput of the tiny MDLM against the CPU's matmul peak: the measurements
``benchmarks/bench_training.py`` reports (FLOPs per token, best-of matmul peak, tokens/s)."""

from __future__ import annotations

import time

import torch

from mdlm_study.training.objective import mdlm_loss


def matmul_flops_per_token(model, num_layers: int, hidden_size: int, width: int) -> int:
    """Training FLOPs per token: 6 x every ``nn.Linear`` weight (forward 2, backward 4; the input
    embedding is a lookup, not a matmul) + attention's QK^T and AV (12 x layers x hidden x width)."""
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 6 * linear + 12 * num_layers * hidden_size * width


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 6) -> float:
    """GFLOP/s of the fastest of ``repeats`` large square matmuls (best-of, so a busy moment on a
    shared machine does not lower the peak)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def train_throughput(model, batch, width, vocab, mask_id, *, bf16: bool, steps: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(5, vocab, (batch, width), generator=torch.Generator().manual_seed(0))
    attn = torch.ones_like(ids)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        loss, _ = mdlm_loss(model, ids, attn, maskable, mask_id=mask_id, eps=1e-3, generator=torch.Generator().manual_seed(step), bf16=bf16)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return batch * width / sorted(times[2:])[len(times[2:]) // 2]
