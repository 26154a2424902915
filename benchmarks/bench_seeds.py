"""Every decoding claim on every training seed of the default recipe (mdlm_study.experiments.seeds).

For each seed: the same held-out problems decoded with every rule a claim compares, MED + exit at the
(lambda, gamma) chosen on seed 0's development split (read from ``--transfer``, a decoding benchmark
record of seed 0 that ran the selection) and at the setting chosen on the seed's own development
split, the blank-slot accuracy, the corrupted-conclusion following rate, and the seed's answer-only
twin (``answer_only``, ``answer_only_seed<s>``) on the same problems for the reasoning check. Writes one
record per seed (``<out-dir>/seed<s>.json``, per-problem correctness kept; a rerun resumes and skips
what is there), then the verdict across seeds (``<out-dir>/claims.json``) and the forest plot
(``figures/seeds_forest.png`` with its sidecar).

    OMP_NUM_THREADS=1 python benchmarks/bench_seeds.py --models-dir /path/to/runs --seeds 0 1 2 3 4
    python benchmarks/bench_seeds.py --analyse-only      # verdicts and figure from the seed records
    python benchmarks/bench_seeds.py --seeds 3 4 --decode-only   # one of several processes; analyse once after

Without ``--models-dir`` the released models are loaded (``models/default``, ``models/default_seed1``...).
Seeds run one decoding at a time across all of them (:func:`run_seeds`), so an interrupted run has
the first claims on every seed; rerunning resumes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from mdlm_study.core.records import problems_sha256, read_records, relative, write_record
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.faithfulness import counterfactual_answers, follow_rates
from mdlm_study.experiments.seeds import (
    CLAIMS,
    CORRUPTED,
    MODEL_CHECKS,
    TEST_DECODINGS,
    TRANSFERRED,
    SeedRun,
    check_hypotheses,
    claim_results,
    claims_record,
    losing_seeds,
    measure_answer_only,
    measure_conclusions,
    mechanism_correlations,
    mechanism_table,
    open_seed,
    print_claims,
    seed_records,
    seeds_parser,
    select_own,
    transferred_roles,
)
from mdlm_study.experiments.selection import (
    DEV_HELD_OUT,
    development_split,
    transfer_configs,
)
from mdlm_study.reporting.figures import save_figure
from mdlm_study.reporting.plots import seeds_forest
from mdlm_study.tasks.data import held_out_problems

# the order of the test decodings: the reference, seed 0's transferred settings, the mechanism, then the rest
FIRST = ("entropy_k1",)
SECOND = ("blank_slot", "entropy_k1_blocks8", "entropy_k2_blocks8", "med", "entropy_exit", "med_exit")
LAST = ("entropy_k2", "entropy_k4", "entropy_k4_blocks8", "l2r")
assert sorted(FIRST + SECOND + LAST) == sorted(TEST_DECODINGS), "every test decoding has its place in the order"


def open_run(seed: int, args, problems) -> SeedRun:
    """The seed's model, evaluator and record so far (resumed when of the same model and problems)."""
    run = open_seed(seed, "default", problems, models_dir=args.models_dir, out_dir=args.out_dir, problems_label=f"held_out_{len(problems)}",
                    evaluator_options={"batch_size": args.batch_size})
    run.state["transfer_source"] = relative(args.transfer)
    return run


def follow_corrupted(run: SeedRun, problems, batch_size: int) -> None:
    mechanism = run.state.setdefault("mechanism", {})
    if CORRUPTED in mechanism:
        return
    started = time.perf_counter()
    table = counterfactual_answers(run.model, run.tokenizer, problems, ARITHMETIC_TEMPLATE, edit=CORRUPTED, batch_size=batch_size)
    mechanism[CORRUPTED] = {**follow_rates(table), "seconds": time.perf_counter() - started}
    print(f"{run.state['model']}: follows a corrupted conclusion {mechanism[CORRUPTED]['answer_is_conclusion']:.4f}", flush=True)
    run.save()


def run_seeds(args, problems, dev_problems, transferred) -> None:
    """Every seed one decoding at a time (all seeds have the first claims before any has the last):
    the reference, seed 0's transferred settings, the corrupted-conclusion test, the blocks, MED and
    exit decodings, the own selection on the development split and its settings, then the rest, and
    last the written conclusions of k = 1, 2 and 4 where a record lacks them."""
    runs = [open_run(seed, args, problems) for seed in args.seeds]
    dev_sha = problems_sha256(dev_problems)
    for role, config in [(r, TEST_DECODINGS[r]) for r in FIRST] + list(transferred.items()):
        for run in runs:
            run.decode(problems, {role: config})
    for run in runs:
        follow_corrupted(run, problems, args.batch_size)
    for role in SECOND:
        for run in runs:
            run.decode(problems, {role: TEST_DECODINGS[role]})
    for run in runs:
        run.decode(problems, select_own(run.evaluate, dev_problems, run.state, dev_sha256=dev_sha, save=run.save))
    for role in LAST:
        for run in runs:
            run.decode(problems, {role: TEST_DECODINGS[role]})
    for run in runs:  # records written before the written conclusions were kept: decode k = 1, 2, 4 again for them
        measure_conclusions(run.evaluate, problems, run.state, save=run.save)
    for run in runs:  # the reasoning check: the seed's answer-only twin on the same problems
        measure_answer_only(run, problems, models_dir=args.models_dir, batch_size=args.batch_size)


def analyse(args) -> None:
    states = seed_records(args.out_dir, args.seeds)
    results = claim_results(states, CLAIMS)
    checks = claim_results(states, MODEL_CHECKS)
    table = mechanism_table(states)
    correlations = mechanism_correlations(table)
    hypotheses = check_hypotheses(table)
    control = losing_seeds(results)  # seeds where fixed k = 2 in blocks of 8 loses >= 5 points
    on_control = claim_results([s for s in states if s["seed"] in control], [c for c in CLAIMS if c.this.startswith(TRANSFERRED)]) if control else []
    write_record(args.out_dir / "claims.json", claims_record(states, results, **{
        "mechanism": table.to_dict("records"), "correlations": correlations, "hypotheses": hypotheses,
        "model_checks": checks, "fixed_k2_blocks8_loses_5_points": {"seeds": control, "claims": on_control},
        "own_selection": {s["model"]: s.get("selection", {}).get("chosen") for s in states}}))
    fig = seeds_forest(results)
    save_figure(fig, "seeds_forest", args.figures_root, {"seeds": [s["seed"] for s in states], "record": relative(args.out_dir / "claims.json")})
    print_claims(results + checks, width=40)
    print(table.to_string())
    print(f"seeds where fixed k = 2 (blocks of 8) loses >= 5 points: {control}")
    for r in on_control:
        if "pooled" in r:
            print(f"  {r['claim']}: pooled {100 * r['pooled']['difference']:+.2f} [{100 * r['pooled']['low']:+.2f}, "
                  f"{100 * r['pooled']['high']:+.2f}], speed-up {r['pooled']['speedup']:.2f}x, {r['pooled']['verdict']}")
    for c in correlations:
        print(f"{c['mechanism']:<30} ~ {c['effect']:<35} rho {c['rho']:+.2f} p {c['p_value']:.3f}")
    for h in hypotheses:
        print(f"hypothesis {h['mechanism']} ~ {h['effect']} ({'+' if h['predicted'] > 0 else '-'}): {h['reading']}"
              + (f" (Holm-adjusted p {h['p_holm']:.3f})" if "p_holm" in h else ""))


def main() -> None:
    parser = seeds_parser(__doc__)
    parser.add_argument("--n-problems", type=int, default=1500, help="held-out test problems (the stream's first N)")
    parser.add_argument("--dev-problems", type=int, default=1500, help="development split size (the held-out stream from 1500 on)")
    parser.add_argument("--transfer", type=Path, default=Path("benchmarks/results/default/decoding_held_out_1500.json"),
                        help="seed 0's decoding record whose selections are transferred to every seed")
    parser.add_argument("--analyse-only", action="store_true", help="only the verdicts and the figure, from the seed records")
    parser.add_argument("--decode-only", action="store_true", help="only the decodings (for seeds split over processes; analyse after)")
    parser.add_argument("--figures-root", type=Path, default=Path("."), help="the figure goes to <root>/figures/seeds_forest.png")
    args = parser.parse_args()
    if args.analyse_only and args.decode_only:
        parser.error("--analyse-only and --decode-only exclude each other")
    torch.set_num_threads(args.threads)
    if not args.analyse_only:
        problems = held_out_problems(args.data_dir, args.n_problems)
        dev_problems = development_split(DEV_HELD_OUT, args.data_dir, args.n_problems, args.dev_problems)
        transferred = transferred_roles(transfer_configs(read_records(args.transfer), str(args.transfer)))
        started = time.perf_counter()
        run_seeds(args, problems, dev_problems, transferred)
        print(f"seeds {args.seeds}: {time.perf_counter() - started:.0f} s", flush=True)
    if not args.decode_only:
        analyse(args)


if __name__ == "__main__":
    sys.exit(main())
