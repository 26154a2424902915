"""Time of the per-position statistics of one decoding step, by vocabulary size.

At every forward pass the engine computes, at each masked position, the entropy, the top-2 margin and gap,
the token it would take and its log-probability (``engine.loop._position_statistics``; with a temperature the
token is a Gumbel-max draw from the counter-based noise, ``engine.noise.hash_uniform``). Their cost grows with the
vocabulary: negligible for the study's tiny tokenizer, comparable to the model's forward for a tiny checkpoint with
LLaDA's 126,464 or Dream's 152,064 rows (the real-architecture notebooks of the test suite).

This times that function alone, on random logits with the mask id banned, per 1,000 masked positions, greedy and
sampled, in chunks of ``CHUNK_ELEMENTS`` logits as the engine does, best of ``--repeats``. With ``--against
<checkout>`` it also times that checkout's function (its ``engine/loop.py`` and ``engine/noise.py``) on the same
logits, the two alternating in one process (timings on a shared machine drift between processes by up to 2x; the
ratio within a process does not), and records whether the two return the same statistics bit for bit.

Run: ``python benchmarks/bench_statistics.py --against <older checkout> --out benchmarks/results/machine/statistics.json``
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine import loop as engine

VOCABS = {"study": 64, "llada": 126_464, "dream": 152_064}


def engine_of(checkout: str | Path):
    """Another checkout's ``engine.loop`` (with its own ``engine.noise``'s hash and Gumbel noise), loaded from its files."""
    def load(name: str):
        path = Path(checkout) / "mdlm_study" / "engine" / f"{name}.py"
        if not path.is_file():
            raise ValueError(f"--against must be a checkout of this repository; {path} is missing")
        spec = importlib.util.spec_from_file_location(f"against_{name}", path)
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    noise, loop = load("noise"), load("loop")
    loop.hash_uniform, loop.gumbel = noise.hash_uniform, noise.gumbel
    return loop


def _commit(checkout: str | Path) -> str | None:
    """The commit a checkout is at (None if it is not a git work tree)."""
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _inputs(vocab: int, positions: int, temperature: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(positions, vocab, generator=g) * 3
    z[:, 0] = -torch.inf  # the mask id, banned
    keys = None if temperature == 0 else (torch.randint(2**62, (positions,), generator=g), torch.zeros(positions, dtype=torch.long),
                                          torch.arange(positions))
    return z, keys


def _run(statistics, z, temperature, keys) -> tuple[float, list[dict]]:
    chunk = max(1, engine.CHUNK_ELEMENTS // z.shape[1])
    start, out = time.perf_counter(), []
    for i in range(0, z.shape[0], chunk):
        part = slice(i, i + chunk)
        out.append(statistics(z[part].clone(), temperature, None if keys is None else tuple(k[part] for k in keys)))
    return time.perf_counter() - start, out


def time_statistics(vocab: int, positions: int, temperature: float, repeats: int, seed: int = 0, against=None) -> dict:
    """Best-of-``repeats`` seconds for the statistics of ``positions`` masked positions over ``vocab`` ids (``seconds``),
    and with ``against`` (another ``engine.loop``) its seconds on the same logits, alternating, and whether the two agree."""
    z, keys = _inputs(vocab, positions, temperature, seed)
    best = {"seconds": float("inf")} | ({} if against is None else {"against_seconds": float("inf")})
    for _ in range(repeats):
        seconds, ours = _run(engine._position_statistics, z, temperature, keys)
        best["seconds"] = min(best["seconds"], seconds)
        if against is not None:
            seconds, theirs = _run(against._position_statistics, z, temperature, keys)
            best["against_seconds"] = min(best["against_seconds"], seconds)
            best["identical"] = all(torch.equal(a[name].nan_to_num(), b[name].nan_to_num()) for a, b in zip(ours, theirs, strict=True)
                                    for name in a)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/machine/statistics.json")
    parser.add_argument("--positions", type=int, default=256, help="masked positions timed per setting")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", default=None, help="another checkout of this repository whose statistics to time alongside")
    args = parser.parse_args()
    for name in ("positions", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    against = None if args.against is None else engine_of(args.against)
    torch.set_num_threads(args.threads)
    rows = []
    for family, vocab in VOCABS.items():
        for temperature in (0.0, 1.0):
            timed = time_statistics(vocab, args.positions, temperature, args.repeats, against=against)
            row = {"vocab": family, "vocab_size": vocab, "temperature": temperature,
                   "ms_per_1000_positions": round(timed["seconds"] / args.positions * 1e6, 2)}
            if against is not None:
                row |= {"against_ms_per_1000_positions": round(timed["against_seconds"] / args.positions * 1e6, 2),
                        "speedup": round(timed["against_seconds"] / timed["seconds"], 2), "identical": timed["identical"]}
            rows.append(row)
            print(row, flush=True)
    config = {"positions": args.positions, "repeats": args.repeats, "threads": args.threads, "chunk_elements": engine.CHUNK_ELEMENTS,
              "against": args.against, "against_commit": None if args.against is None else _commit(args.against)}
    print("wrote", write_record(args.out, {"config": config, "rows": rows}))


if __name__ == "__main__":
    main()
