"""The trace claims on every training seed of the default recipe (mdlm_study.experiments.trace_seeds).

Each seed's model (``models/default``, ``models/default_seed1`` ...) decodes the seeds study's held-out
problems freely, samples posterior traces for each (Table D on the failures, filtering on all), and scores
a gold and a corrupted trace of each step by step, and decodes them once more in entropy order over the
whole canvas for the order analysis. One record per seed (``<out-dir>/seed<s>.json``; a
finished seed is kept), then every measure pooled over the seeds (``<out-dir>/claims.json``).

    OMP_NUM_THREADS=1 python benchmarks/bench_trace_seeds.py --seeds 0 1 2 3 4
    python benchmarks/bench_trace_seeds.py --analyse-only
"""

from __future__ import annotations

import sys
import time

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.seeds import MODEL_KEYS, open_seed, seed_records, seeds_parser
from mdlm_study.experiments.trace_seeds import measure_leftmost, measure_trace_seed, trace_claims, trace_table
from mdlm_study.tasks.data import held_out_problems


def measure(seed: int, args, problems) -> None:
    run = open_seed(seed, "default", problems, models_dir=args.models_dir, out_dir=args.out_dir, problems_label=f"held_out_{len(problems)}",
                    extra={"n_samples": args.n_samples})
    name, started = run.identity["model"], time.perf_counter()
    if "traces" in run.state:
        if "leftmost" in run.state["traces"]:
            print(f"{run.path}: measured already", flush=True)
            return
        # a record from before the order analysis joined the trace measures: add it, keep the rest
        run.state["traces"]["leftmost"] = measure_leftmost(run.model, run.tokenizer, problems, ARITHMETIC_TEMPLATE, batch_size=args.batch_size)
        run.state["leftmost_seconds"] = time.perf_counter() - started
        run.save()
        print(f"{name}: leftmost {run.state['traces']['leftmost']['estimate']:.3f}; {time.perf_counter() - started:.0f} s", flush=True)
        return
    traces = measure_trace_seed(run.model, run.tokenizer, problems, ARITHMETIC_TEMPLATE, seed=seed, n_samples=args.n_samples,
                                n_scored=len(problems), batch_size=args.batch_size)
    run.state.update(traces=traces, seconds=time.perf_counter() - started)
    run.save()
    print(f"{name}: Table D {traces['table_d']['estimate']:.3f} ({traces['table_d']['units']} failed problems), filtering gain "
          f"{traces['filtering_gain']['estimate']:+.3f}, AUROC {traces['auroc']['estimate']:.3f}, localisation "
          f"{traces['localisation']['estimate']:.3f}; {time.perf_counter() - started:.0f} s", flush=True)


def analyse(args) -> None:
    states = seed_records(args.out_dir, args.seeds)
    pooled = trace_claims(states)
    write_record(args.out_dir / "claims.json", {"seeds": [s["seed"] for s in states], "models": [{k: s[k] for k in MODEL_KEYS} for s in states],
                                                "measures": pooled})
    print(trace_table(states).to_string())
    for measure, r in pooled.items():
        print(f"{measure:<16} pooled {r['estimate']:.4f} [{r['low']:.4f}, {r['high']:.4f}] I2 {r['i2'] if r['i2'] is not None else float('nan'):.2f}")


def main() -> None:
    parser = seeds_parser(__doc__, out_dir="benchmarks/results/seeds_traces")
    parser.add_argument("--n-problems", type=int, default=1500, help="held-out problems (the seeds study's first N)")
    parser.add_argument("--n-samples", type=int, default=4, help="posterior traces per problem (notebook 05's default)")
    parser.add_argument("--analyse-only", action="store_true", help="only the pooled measures, from the seed records")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.analyse_only:
        problems = held_out_problems(args.data_dir, args.n_problems)
        for seed in args.seeds:
            measure(seed, args, problems)
    analyse(args)


if __name__ == "__main__":
    sys.exit(main())
