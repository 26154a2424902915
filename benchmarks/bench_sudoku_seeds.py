"""The Sudoku claims on every training seed of the Sudoku recipe (mdlm_study.experiments.seeds.SUDOKU_CLAIMS).

Each seed's model (``models/sudoku``, ``models/sudoku_seed1`` ...) decodes the same held-out puzzles (fresh
ones, none in the Sudoku training or test split) with every decoding of
:data:`~mdlm_study.experiments.seeds.SUDOKU_DECODINGS`: left to right, and entropy order over the whole answer
with 1, 2 and 4 tokens per step. One record per seed (``<out-dir>/seed<s>.json``, per-puzzle correctness
kept, a rerun resumes), then the claims across seeds (``<out-dir>/claims.json``): the any-order claim and the
paper's Sudoku exception, each pooled with the seed as the unit.

    OMP_NUM_THREADS=1 python benchmarks/bench_sudoku_seeds.py --seeds 0 1 2 3 4
    python benchmarks/bench_sudoku_seeds.py --analyse-only
"""

from __future__ import annotations

import sys
import time

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine.templates import SUDOKU_TEMPLATE
from mdlm_study.experiments.evaluate import evaluate_sudoku
from mdlm_study.experiments.seeds import (
    SUDOKU_CLAIMS,
    SUDOKU_DECODINGS,
    claim_results,
    claims_record,
    open_seed,
    print_claims,
    seed_records,
    seeds_parser,
)
from mdlm_study.tasks.data import held_out_puzzles


def measure(seed: int, args, puzzles) -> None:
    run = open_seed(seed, "sudoku", puzzles, models_dir=args.models_dir, out_dir=args.out_dir, problems_label=f"held_out_{len(puzzles)}",
                    evaluator_options={"template": SUDOKU_TEMPLATE, "batch_size": args.batch_size, "evaluator": evaluate_sudoku})
    run.decode(puzzles, SUDOKU_DECODINGS)


def analyse(args) -> None:
    states = seed_records(args.out_dir, args.seeds)
    results = claim_results(states, SUDOKU_CLAIMS)
    write_record(args.out_dir / "claims.json", claims_record(states, results))
    print_claims(results)


def main() -> None:
    parser = seeds_parser(__doc__, recipe="sudoku", out_dir="benchmarks/results/seeds_sudoku")
    parser.add_argument("--n-problems", type=int, default=1500, help="held-out puzzles per seed")
    parser.add_argument("--analyse-only", action="store_true", help="only the claims across seeds, from the seed records")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.analyse_only:
        puzzles = held_out_puzzles(args.data_dir, args.n_problems)
        started = time.perf_counter()
        for seed in args.seeds:
            measure(seed, args, puzzles)
        print(f"Sudoku seeds {args.seeds}: {time.perf_counter() - started:.0f} s", flush=True)
    analyse(args)


if __name__ == "__main__":
    sys.exit(main())
