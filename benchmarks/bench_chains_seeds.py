"""The paper's decoding claims in the deep regime: every training seed of the chains recipe
(mdlm_study.experiments.seeds.CHAINS_CLAIMS), where the answer has to come out of the reasoning.

Each seed's model (``models/chains``, ``models/chains_seed1`` ...) decodes the chains test split (chains of
2-8 steps; none is in the training split):

- all 1,500 chains (``--n-problems``) once with the history (entropy order, one token per pass, no exit) for the
  regime diagnostics (``mdlm_study.experiments.regime``), by dependency depth on every chain and overall on
  the chains of at least ``--min-steps`` steps (default :data:`~mdlm_study.experiments.regime.DEEP_MIN_STEPS`,
  3: a seed may compose a two-step chain in one pass, so those are reported by depth and are not the regime);
  the regime bounds are checked on those 1,276 chains per seed;
- the first 500 (``--n-claims``) of the chains the bounds are checked on, with every decoding of :data:`~mdlm_study.experiments.seeds.CHAINS_DECODINGS`
  (the default recipe's fixed decodings), per-chain correctness kept. 500 chains x 5 seeds, paired, detect a
  pooled difference of about 2-4 points (each claim's ``detectable`` in ``claims.json``), well inside the
  paper's effects of 3-18 points; eleven decodings of 1,500 would not fit one seed's 45 minutes on two cores.

With ``--answer-only`` the answer-only twin answers the same chains without a reasoning slot. One record
per seed (``<out-dir>/seed<s>.json``, a rerun resumes), then ``<out-dir>/claims.json``: each claim pooled
with the seed as the unit, each seed's regime against the paper's bounds
(``mdlm_study.experiments.regime.PAPER_REGIME``) and whether the seeds land within 5 points of each other.

    OMP_NUM_THREADS=1 python benchmarks/bench_chains_seeds.py --seeds 0 1 --answer-only chains_answer_only
    python benchmarks/bench_chains_seeds.py --analyse-only
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from mdlm_study.core.records import model_identity, problems_sha256, relative, write_record
from mdlm_study.experiments.depth_effects import DEFAULT_SEEDS_DEPTH, effects_by_depth
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.faithfulness import anatomy_span, answer_anatomy
from mdlm_study.experiments.regime import (
    DEEP_MIN_STEPS,
    deep_chains,
    diagnose,
    in_regime,
    outside_regime_reason,
    regime_check,
    seed_spread,
    seeds_within,
)
from mdlm_study.experiments.seeds import (
    CHAINS_CLAIMS,
    CHAINS_DECODINGS,
    CLAIMS,
    claim_results,
    claims_record,
    counts_for_claims,
    model_name,
    open_seed,
    print_claims,
    resolve,
    seed_records,
    seed_state,
    seeds_parser,
    unbits,
)
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.reporting.figures import save_figure
from mdlm_study.reporting.plots import effects_by_depth as effects_by_depth_figure
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.task import get_task

TASK = get_task("chains")
SPLIT_MIN_STEPS, SPLIT_MAX_STEPS = TASK.split_configs["test"].min_steps, TASK.split_configs["test"].max_steps


def depths_of(problems) -> str:
    """Each chain's dependency depth (its number of steps), one digit per chain, in the problems' order."""
    return "".join(str(len(p.ops)) for p in problems)


def measure(seed: int, args, problems, n_claims: int) -> None:
    """One seed: the regime diagnostics of ``problems`` (all of them by depth; overall on the chains of at least
    ``--min-steps`` steps), then every claim's decoding of the first ``n_claims`` of those chains
    (none with ``--regime-only``, or when the seed is outside the paper's regime bounds,
    :func:`~mdlm_study.experiments.regime.in_regime`: the seed then counts for the regime bounds and the
    recipe's spread, not for the claims)."""
    keep, deep = deep_chains(problems, args.min_steps)
    claimed = [] if args.regime_only else deep[:n_claims]
    run = open_seed(seed, "chains", claimed, models_dir=args.models_dir, out_dir=args.out_dir, problems_label=TASK.file("test"),
                    evaluator_options={"template": TASK.template, "batch_size": args.batch_size,
                                       "evaluator": lambda *a, **k: evaluate_task(TASK, *a, **k)},
                    extra={"regime_problems_sha256": problems_sha256(problems), "regime_n_problems": len(problems),
                           "regime_min_steps": args.min_steps},
                    renewable=("problems_sha256", "n_problems"))  # the regime stands when only the claims' chains change
    if "regime" not in run.state:
        started = time.perf_counter()
        regime = diagnose(run.model, run.tokenizer, problems, TASK.template, TASK, groups=[len(p.ops) for p in problems],
                          batch_size=args.batch_size, keep=keep)
        run.state["depths"] = depths_of(deep)
        by_depth = regime.pop("by_group")
        run.state["regime"] = {**regime, "by_depth": by_depth, "seconds": time.perf_counter() - started}
        run.save()
        print(f"{run.identity['model']}: regime {json.dumps({k: v for k, v in regime.items() if not isinstance(v, dict)})}", flush=True)
    if not args.regime_only and in_regime(run.state["regime"]):
        run.decode(claimed, CHAINS_DECODINGS)
        return
    if not args.regime_only:
        print(f"{run.identity['model']}: outside the paper's regime ({outside_regime_reason(run.state['regime'])}); its claims are not decoded",
              flush=True)
    if run.state.pop("decodings", None) is not None:
        run.save()


def answer_only(args, problems) -> dict:
    """The answer-only twin's accuracy on the same chains (greedy, left to right, no reasoning slot), kept in
    ``<out-dir>/answer_only.json`` and reused while its weights and the problems are the same."""
    loaded = load_model(Path(resolve(args.answer_only, args.models_dir)))
    identity = {**model_identity(args.answer_only, weights_sha256(loaded.model)), "problems_sha256": problems_sha256(problems),
                "n_problems": len(problems)}
    path = args.out_dir / "answer_only.json"
    state = seed_state(path, identity)
    if "accuracy" not in state:
        table = evaluate_task(TASK, loaded.model, loaded.tokenizer, problems, replace(TASK.template, reasoning_len=0), sampler="l2r",
                              batch_size=args.batch_size)
        state["accuracy"] = float(table["correct"].mean())
        write_record(path, state)
    print(f"answer-only twin {args.answer_only}: {state['accuracy']:.4f}", flush=True)
    return state


def depth_floor(states) -> int:
    """The depth floor (``--min-steps``) every seed record's regime was measured with; ``ValueError`` when
    the records disagree, since their bounds would then be read on different chains."""
    floors = {s.get("regime_min_steps", SPLIT_MIN_STEPS) for s in states if "regime" in s}
    if len(floors) > 1:
        raise ValueError(f"the seed records were measured with different --min-steps {sorted(floors)}; "
                         "rerun the seeds with one value")
    return floors.pop() if floors else DEEP_MIN_STEPS


BY_DEPTH_KEYS = ("by_depth", "by_group")  # a seed record's diagnostics by depth (older records also keep a copy as by_group)


def depth_summary(regime: dict) -> dict:
    """A seed's exact answers and blank slot at each depth, on every decoded chain (the two-step chains too):
    ``{depth: {"accuracy", "blank_slot_accuracy", "n_problems"}}``."""
    return {depth: {k: d[k] for k in ("accuracy", "blank_slot_accuracy", "n_problems")} for depth, d in regime["by_depth"].items()}


def spread_of(per_seed: dict) -> dict:
    """The seeds' accuracy spread with the test set's share split from the recipe's
    (:func:`~mdlm_study.experiments.regime.seed_spread`); the seeds must be read on as many chains."""
    counts = {d["diagnostics"]["n_problems"] for d in per_seed.values()}
    if len(counts) != 1:
        raise ValueError(f"the seeds' regimes were read on different numbers of chains {sorted(counts)}: measure them alike")
    return seed_spread([d["diagnostics"]["accuracy"] for d in per_seed.values()], counts.pop())


ANATOMY_ROLE = "entropy_k1"  # the regime's own decoding (entropy order, one token per pass), as the accuracy spread


def anatomy_of(states, role: str = ANATOMY_ROLE) -> dict | None:
    """Where the seeds' answers go wrong, on the claims chains: each seed's :func:`answer_anatomy` of ``role``
    (its per-chain answers and written conclusions), and how far apart the seeds' answers and their written
    conclusions land (``answer_range``, ``conclusion_range``: max - min). None when no seed kept conclusions."""
    per_seed = {str(s["seed"]): answer_anatomy(unbits(entry["correct"]), unbits(entry["conclusion"]))
                for s in states if "conclusion" in (entry := (s.get("decodings") or {}).get(role) or {})}
    if not per_seed:
        return None
    (answer_low, answer_high), (conclusion_low, conclusion_high) = (anatomy_span(per_seed.values(), key)
                                                                    for key in ("answer_accuracy", "conclusion_accuracy"))
    return {"role": role, "per_seed": per_seed, "answer_range": answer_high - answer_low, "conclusion_range": conclusion_high - conclusion_low}


def regime_summary(states, twin: dict | None) -> dict:
    """Each seed's regime diagnostics checked against the paper's bounds, the seeds' accuracy spread (with the
    test set's share of it), where the seeds' answers go wrong (:func:`anatomy_of`), and the depth floor they
    were read on (``min_steps``: the chains of ``min_steps``-8 steps)."""
    per_seed = {str(s["seed"]): {"diagnostics": {k: v for k, v in s["regime"].items() if k not in BY_DEPTH_KEYS},
                                 "by_depth": depth_summary(s["regime"]),
                                 "check": regime_check(s["regime"], twin["accuracy"] if twin else None)} for s in states if "regime" in s}
    accuracies = [d["diagnostics"]["accuracy"] for d in per_seed.values()]
    left_out = {seed: outside_regime_reason(r["diagnostics"]) for seed, r in per_seed.items() if not in_regime(r["diagnostics"])}
    return {"min_steps": depth_floor(states), "max_steps": SPLIT_MAX_STEPS, "per_seed": per_seed, "answer_only": twin, "accuracy_range": [min(accuracies), max(accuracies)] if accuracies else None,
            "seeds_within_5_points": seeds_within(accuracies) if len(accuracies) > 1 else None,
            "spread": spread_of(per_seed) if len(accuracies) > 1 else None,
            "outside_regime": left_out, "claims_seeds": [s["seed"] for s in states if counts_for_claims(s)], "anatomy": anatomy_of(states)}


def depth_table(states, default_states) -> pd.DataFrame:
    """Each paper claim's effect by depth: the deep regime's chains (each record's ``depths``) and the default
    regime's seeds study (its held-out problems all have :data:`DEFAULT_SEEDS_DEPTH` operations)."""
    deep = effects_by_depth(states, CHAINS_CLAIMS, {s["seed"]: [int(c) for c in s["depths"]] for s in states}, regime="deep")
    default = effects_by_depth(default_states, [c for c in CLAIMS if not c.own],
                               {s["seed"]: [DEFAULT_SEEDS_DEPTH] * s["n_problems"] for s in default_states}, regime="default")
    return pd.concat([default, deep], ignore_index=True)


def analyse(args) -> None:
    states = seed_records(args.out_dir, args.seeds)
    twin_path = args.out_dir / "answer_only.json"
    twin = json.loads(twin_path.read_text()) if twin_path.exists() else None
    if twin:
        twin.pop("provenance", None)
    results = claim_results(states, CHAINS_CLAIMS)
    regime = regime_summary(states, twin)
    default_states = [s for s in seed_records(args.default_dir, args.seeds) if "decodings" in s]
    by_depth = depth_table(states, default_states)
    write_record(args.out_dir / "claims.json", claims_record(states, results, regime=regime, by_depth=by_depth.to_dict("records")))
    if len(by_depth):
        save_figure(effects_by_depth_figure(by_depth), "claims_by_depth", args.figures_root,
                    {"records": [relative(args.out_dir / "claims.json"), relative(args.default_dir)],
                     "deep_seeds": regime["claims_seeds"], "default_seeds": [s["seed"] for s in default_states]},
                    model={s["model"]: s["weights_sha256"] for s in [*filter(counts_for_claims, states), *default_states]})
    for seed, r in regime["per_seed"].items():
        print(f"seed {seed}: " + ", ".join(f"{k} {c['value']} ({c['bound']}: {c['holds']})" for k, c in r["check"].items()), flush=True)
    if regime["spread"]:
        sd = regime["spread"]
        print(f"spread {sd['range']:.1%} (bound {sd['bound']:.0%}): the seeds differ by sd {sd['between_seed_sd']:.1%} besides the "
              f"test set's {sd['measurement_sd']:.1%}; {sd['n_seeds']} seeds would span {sd['expected_range']:.1%} on average "
              f"(within the bound at a total sd of {sd['largest_sd']:.1%} or less)")
    if regime["anatomy"]:
        anatomy = regime["anatomy"]
        for seed, a in anatomy["per_seed"].items():
            print(f"seed {seed} ({anatomy['role']}, {a['n_problems']} chains): answer {a['answer_accuracy']:.1%}, written conclusion "
                  f"{a['conclusion_accuracy']:.1%}; answer off right reasoning {a['answer_off_right_reasoning']:.1%}, right answer past wrong "
                  f"reasoning {a['answer_past_wrong_reasoning']:.1%}, both wrong {a['both_wrong']:.1%}", flush=True)
        print(f"the answers span {anatomy['answer_range']:.1%}, the written conclusions {anatomy['conclusion_range']:.1%}")
    print(f"accuracy range {regime['accuracy_range']}, within 5 points: {regime['seeds_within_5_points']}; "
          f"the claims pool seeds {regime['claims_seeds']}" + "".join(f"; seed {s} left out: {why}" for s, why in regime["outside_regime"].items()))
    print_claims(results, width=32)


def main(argv=None) -> None:
    parser = seeds_parser(__doc__, recipe="chains", out_dir="benchmarks/results/seeds_chains")
    parser.add_argument("--n-problems", type=int, default=1500, help="test chains per seed for the regime diagnostics (the split's first N)")
    parser.add_argument("--min-steps", type=int, default=DEEP_MIN_STEPS,
                        help="the regime bounds and the claims read the chains of at least this many steps (every chain "
                             "is decoded for the diagnostics by depth)")
    parser.add_argument("--n-claims", type=int, default=500, help="of those chains, the first N decoded for the claims")
    parser.add_argument("--regime-only", action="store_true", help="only the regime diagnostics (no claims' decodings)")
    parser.add_argument("--answer-only", default=None, help="the answer-only twin (models/<name>, or a checkpoint folder)")
    parser.add_argument("--analyse-only", action="store_true", help="only the claims across seeds, from the seed records")
    parser.add_argument("--default-dir", type=Path, default=Path("benchmarks/results/seeds"), help="the default regime's seed records")
    parser.add_argument("--figures-root", type=Path, default=Path("."), help="the depth figure goes to <root>/figures/claims_by_depth.png")
    args = parser.parse_args(argv)
    if not SPLIT_MIN_STEPS <= args.min_steps <= SPLIT_MAX_STEPS:
        raise ValueError(f"--min-steps {args.min_steps}: the chains test split holds {SPLIT_MIN_STEPS}-{SPLIT_MAX_STEPS} steps")
    torch.set_num_threads(args.threads)
    if not args.analyse_only:
        problems = read_split(TASK, args.data_dir, "test")[: args.n_problems]
        if len(problems) < args.n_problems:
            raise ValueError(f"--n-problems {args.n_problems}: the chains test split has {len(problems)}")
        deep = deep_chains(problems, args.min_steps)[1]
        if not 0 < args.n_claims <= len(deep):
            raise ValueError(f"--n-claims {args.n_claims} must lie in 1..{len(deep)} (the chains of at least --min-steps "
                             f"{args.min_steps} steps among --n-problems {args.n_problems})")
        started = time.perf_counter()
        if args.answer_only:
            answer_only(args, deep)
        for seed in args.seeds:
            folder = resolve(model_name(seed, "chains"), args.models_dir)
            if not folder.is_dir():  # the recipe's seeds join as they are trained and released
                print(f"seed {seed}: no model at {relative(folder)}; left out", flush=True)
                continue
            measure(seed, args, problems, args.n_claims)
        print(f"chains seeds {args.seeds}: {time.perf_counter() - started:.0f} s", flush=True)
    analyse(args)


if __name__ == "__main__":
    sys.exit(main())
