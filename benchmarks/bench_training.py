"""Training throughput of the tiny MDLM on this CPU, against the CPU's measured matmul peak.

Measures, for the study's default model size on a canvas of the study's width:
- the CPU's fp32 and bf16 matmul peak (large square matmuls, GFLOP/s) on 1 thread and on all cores;
- training tokens/s on one thread (the per-core efficiency; the study itself trains one model at a
  time with every core, ``train_all(workers=1)``) with fp32 and with bf16 autocast, for each backbone, and with ``torch.compile`` (when it works here);
- the achieved matmul FLOP/s (6 x the weights of every ``nn.Linear`` per token, forward + backward,
  plus attention) as a fraction of the one-thread peak of the dtype used;
- 1 vs 2 threads in one process against two single-threaded processes side by side, with the dtype
  the study trains in (``native_bf16``: bf16 only where the CPU has native bf16 kernels).

Run: ``python benchmarks/bench_training.py --out benchmarks/results/machine/training.json``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, replace

import torch
from throughput import matmul_flops_per_token, matmul_peak, train_throughput

from mdlm_study.models.tiny_model import build_model, count_parameters
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.training.kernels import native_bf16
from mdlm_study.training.recipes import RECIPES


def _single_thread_worker(args) -> float:
    """One single-threaded training process (for the side-by-side measurement)."""
    batch, width, steps = args
    torch.set_num_threads(1)
    tokenizer = build_tokenizer(["Tom has 12 apples. He buys 3 more.\n12+3=15\n#### 15"])
    model = build_model(RECIPES["default"].model, tokenizer, seed=0)
    return train_throughput(model, batch, width, len(tokenizer), tokenizer.mask_token_id, bf16=native_bf16(), steps=steps)


def thread_study(tokenizer, batch: int, width: int, steps: int) -> dict:
    """Tokens/s of the default model (in the dtype the study trains in) with 1 and 2 threads in one
    process, and the sum of two single-threaded processes side by side (``train_all(workers=2)``
    trains the study)."""
    import multiprocessing

    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = build_model(RECIPES["default"].model, tokenizer, seed=0)
        out[f"one_process_{threads}_threads"] = train_throughput(model, batch, width, len(tokenizer), tokenizer.mask_token_id, bf16=native_bf16(),
                                                                 steps=steps)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        out["two_processes_1_thread_each_total"] = sum(pool.map(_single_thread_worker, [(batch, width, steps)] * 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/machine/training.json")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--width", type=int, default=62)  # the study's arithmetic canvas
    parser.add_argument("--batch", type=int, default=32)  # the study's batch
    args = parser.parse_args()
    tokenizer = build_tokenizer(["Tom has 12 apples. He buys 3 more.\n12+3=15\n#### 15"])
    recipe = RECIPES["default"]
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "batch": args.batch, "width": args.width, "model": asdict(recipe.model)}
    results["native_bf16"] = native_bf16()
    # without native bf16 kernels a 2048^3 bf16 matmul runs at ~1 GFLOP/s (minutes per repeat): measure on 512^2
    sizes = {"fp32": 2048, "bf16": 2048 if native_bf16() else 512}
    results["peak_matmul_size"] = sizes
    results["peak_gflops"] = {}
    for threads in (1, os.cpu_count() or 1):
        torch.set_num_threads(threads)
        results["peak_gflops"][f"{threads}_threads"] = {"fp32": matmul_peak(torch.float32, sizes["fp32"]),
                                                        "bf16": matmul_peak(torch.bfloat16, sizes["bf16"])}
    print(results["peak_gflops"], flush=True)
    results["threads_study_tokens_per_s"] = thread_study(tokenizer, args.batch, args.width, args.steps)
    print(results["threads_study_tokens_per_s"], flush=True)
    torch.set_num_threads(1)
    runs = {}
    for arch in ("eurobert", "bert", "modernbert"):
        for bf16 in (False, True):
            model = build_model(replace(recipe.model, arch=arch), tokenizer, seed=0)
            tps = train_throughput(model, args.batch, args.width, len(tokenizer), tokenizer.mask_token_id, bf16=bf16, steps=args.steps)
            flops = matmul_flops_per_token(model, recipe.model.num_layers, recipe.model.hidden_size, args.width)
            peak = results["peak_gflops"]["1_threads"]["bf16" if bf16 else "fp32"]
            key = f"{arch}_{'bf16' if bf16 else 'fp32'}_1_thread"
            runs[key] = {"parameters": count_parameters(model), "tokens_per_s": tps, "achieved_gflops": tps * flops / 1e9,
                         "fraction_of_peak": tps * flops / 1e9 / peak}
            print(key, runs[key], flush=True)
    try:
        model = torch.compile(build_model(recipe.model, tokenizer, seed=0))
        runs["eurobert_compiled_1_thread"] = {"bf16": native_bf16(), "tokens_per_s": train_throughput(
            model, args.batch, args.width, len(tokenizer), tokenizer.mask_token_id, bf16=native_bf16(), steps=args.steps)}
    except Exception as err:  # compile needs a C++ toolchain; record why it failed instead of hiding it
        runs["eurobert_compiled_1_thread"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    results["runs"] = runs
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
