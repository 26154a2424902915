"""Training throughput of the tiny MDLM on this CPU, against the CPU's measured matmul peak.

Measures, for the study's default model size on a canvas of the study's width:
- the CPU's fp32 and bf16 matmul peak (large square matmuls, GFLOP/s);
- training tokens/s with fp32, with bf16 autocast, and with ``torch.compile`` (when it works here);
- the achieved model FLOP/s (6 x parameters x tokens + attention) as a fraction of the peak.

Run: ``python benchmarks/bench_training.py --out benchmarks/results/training.json``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, replace

import torch

from mdlm_study.model import build_model, count_parameters
from mdlm_study.study import RECIPES
from mdlm_study.tokenizer import build_tokenizer
from mdlm_study.train import mdlm_loss


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
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


def _single_thread_worker(args) -> float:
    """One single-threaded training process (for the side-by-side measurement)."""
    batch, width, steps = args
    torch.set_num_threads(1)
    tokenizer = build_tokenizer(["Tom has 12 apples. He buys 3 more.\n12+3=15\n#### 15"])
    model = build_model(RECIPES["default"].model, tokenizer, seed=0)
    return train_throughput(model, batch, width, len(tokenizer), tokenizer.mask_token_id, bf16=True, steps=steps)


def thread_study(tokenizer, batch: int, width: int, steps: int) -> dict:
    """Tokens/s of the default model (bf16) with 1 and 2 threads in one process, and the sum of two
    single-threaded processes side by side (how ``train_all(workers=2)`` trains the study)."""
    import multiprocessing

    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = build_model(RECIPES["default"].model, tokenizer, seed=0)
        out[f"one_process_{threads}_threads"] = train_throughput(model, batch, width, len(tokenizer), tokenizer.mask_token_id, bf16=True, steps=steps)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        out["two_processes_1_thread_each_total"] = sum(pool.map(_single_thread_worker, [(batch, width, steps)] * 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/training.json")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--width", type=int, default=66)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    tokenizer = build_tokenizer(["Tom has 12 apples. He buys 3 more.\n12+3=15\n#### 15"])
    recipe = RECIPES["default"]
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "batch": args.batch, "width": args.width, "model": asdict(recipe.model)}
    results["peak_gflops"] = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    runs = {}
    results["threads_study_tokens_per_s"] = thread_study(tokenizer, args.batch, args.width, args.steps)
    print(results["threads_study_tokens_per_s"], flush=True)
    torch.set_num_threads(os.cpu_count() or 1)
    for arch in ("eurobert", "bert", "modernbert"):
        for bf16 in (False, True):
            model = build_model(replace(recipe.model, arch=arch), tokenizer, seed=0)
            params = count_parameters(model)
            tps = train_throughput(model, args.batch, args.width, len(tokenizer), tokenizer.mask_token_id, bf16=bf16, steps=args.steps)
            flops = 6 * params + 12 * recipe.model.num_layers * recipe.model.hidden_size * args.width  # per token, fwd+bwd
            peak = results["peak_gflops"]["bf16" if bf16 else "fp32"]
            runs[f"{arch}_{'bf16' if bf16 else 'fp32'}"] = {"parameters": params, "tokens_per_s": tps,
                                                              "achieved_gflops": tps * flops / 1e9, "fraction_of_peak": tps * flops / 1e9 / peak}
            print(arch, "bf16" if bf16 else "fp32", runs[f"{arch}_{'bf16' if bf16 else 'fp32'}"], flush=True)
    try:
        model = torch.compile(build_model(recipe.model, tokenizer, seed=0))
        runs["compiled_bf16"] = {"tokens_per_s": train_throughput(model, args.batch, args.width, len(tokenizer), tokenizer.mask_token_id, bf16=True, steps=args.steps)}
    except Exception as err:  # compile needs a C++ toolchain; record why it failed instead of hiding it
        runs["compiled_bf16"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    results["runs"] = runs
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
