"""Time of the per-position statistics of one decoding step, by vocabulary size.

At every forward pass the engine computes, at each masked position, the entropy, the top-2 margin and gap,
the token it would take and its log-probability (``engine.loop._position_statistics``; with a temperature the
token is a Gumbel-max draw from the counter-based noise, ``engine.noise.hash_uniform``). Their cost grows with the
vocabulary: negligible for the study's tiny tokenizer, comparable to the model's forward for a tiny checkpoint with
LLaDA's 126,464 or Dream's 152,064 rows (the real-architecture notebooks of the test suite).

This times that function alone, on random logits with the mask id banned, per 1,000 masked positions, greedy and
sampled, in chunks of ``CHUNK_ELEMENTS`` logits as the engine does, best of ``--repeats``. ``PYTHONPATH`` pointing
at another checkout times that checkout's engine with the same script (the record names the package's commit).

Run: ``python benchmarks/bench_statistics.py --out benchmarks/results/machine/statistics.json``
"""

from __future__ import annotations

import argparse
import time

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine import loop as engine

VOCABS = {"study": 64, "llada": 126_464, "dream": 152_064}


def time_statistics(vocab: int, positions: int, temperature: float, repeats: int, seed: int = 0) -> float:
    """Best-of-``repeats`` seconds for the statistics of ``positions`` masked positions over ``vocab`` ids."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(positions, vocab, generator=g) * 3
    z[:, 0] = -torch.inf  # the mask id, banned
    keys = None if temperature == 0 else (torch.randint(2**62, (positions,), generator=g), torch.zeros(positions, dtype=torch.long),
                                          torch.arange(positions))
    chunk = max(1, engine.CHUNK_ELEMENTS // vocab)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, positions, chunk):
            part = slice(i, i + chunk)
            engine._position_statistics(z[part].clone(), temperature, None if keys is None else tuple(k[part] for k in keys))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/machine/statistics.json")
    parser.add_argument("--positions", type=int, default=256, help="masked positions timed per setting")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for name in ("positions", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    rows = []
    for family, vocab in VOCABS.items():
        for temperature in (0.0, 1.0):
            seconds = time_statistics(vocab, args.positions, temperature, args.repeats)
            rows.append({"vocab": family, "vocab_size": vocab, "temperature": temperature,
                         "ms_per_1000_positions": round(seconds / args.positions * 1e6, 2)})
            print(rows[-1], flush=True)
    config = {"positions": args.positions, "repeats": args.repeats, "threads": args.threads, "chunk_elements": engine.CHUNK_ELEMENTS}
    print("wrote", write_record(args.out, {"config": config, "rows": rows}))


if __name__ == "__main__":
    main()
