"""The paper's Table E on every training seed of the default recipe (mdlm_study.training.finetune_seeds).

Each seed's base model (``models/base``, ``models/base_seed1`` ...: the default recipe's run of that seed at
step 5,000) samples one posterior trace for each fine-tuning problem, and is fine-tuned on gold, posterior
and both traces with each fine-tuning seed; every fine-tuned model answers the seeds study's held-out
problems (greedy, left to right). The fine-tuning settings are notebook 05's full-study ones
(``notebooks/params/full.yaml`` over the notebook's declared defaults), so seed 0 here is notebook 05's
experiment on more held-out problems. One record per seed (``<out-dir>/seed<s>.json``; a finished seed is
kept), then every comparison pooled over the seeds (``<out-dir>/claims.json``).

    OMP_NUM_THREADS=1 python benchmarks/bench_finetune_seeds.py --seeds 0 1 2 3 4
    python benchmarks/bench_finetune_seeds.py --analyse-only
"""

from __future__ import annotations

import sys
import time

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.seeds import (
    MODEL_KEYS,
    model_name,
    open_seed,
    resolve,
    seed_records,
    seeds_parser,
)
from mdlm_study.runner import NOTEBOOKS, declared_parameters, parameters_for, validate
from mdlm_study.tasks.data import held_out_problems, read_split
from mdlm_study.training.finetune_seeds import (
    arm_means,
    finetune_claims,
    finetune_table,
    measure_finetune_seed,
)
from mdlm_study.training.recipes import ensure_study_data
from mdlm_study.training.train import TrainConfig

NOTEBOOK = NOTEBOOKS / "05_posterior_traces_finetuning.ipynb"
FINETUNE_KEYS = ("n_finetune", "finetune_steps", "finetune_batch_size", "finetune_lr", "seeds", "sampler", "temperature")


def notebook_settings(mode: str = "full") -> dict:
    """Notebook 05's fine-tuning settings for ``mode`` (its params file over its declared defaults)."""
    declared = {name: d.default for name, d in declared_parameters(NOTEBOOK).items()}
    given = validate(NOTEBOOK, parameters_for(NOTEBOOK.name, mode))
    return {key: given.get(key, declared[key]) for key in FINETUNE_KEYS}


def train_config(settings: dict) -> TrainConfig:
    """The fine-tuning runs' config, as notebook 05 builds it."""
    steps = settings["finetune_steps"]
    return TrainConfig(steps=steps, batch_size=settings["finetune_batch_size"], lr=settings["finetune_lr"], warmup=min(20, steps),
                       eval_every=0, save_every=0)


def measure(seed: int, args, train_problems, test_problems, settings: dict) -> None:
    run = open_seed(seed, "base", test_problems, models_dir=args.models_dir, out_dir=args.out_dir,
                    problems_label=f"held_out_{len(test_problems)}", extra={"finetune_settings": settings, "n_train": len(train_problems)})
    if "finetune" in run.state:
        print(f"{run.path}: measured already", flush=True)
        return
    started = time.perf_counter()
    result = measure_finetune_seed(resolve(model_name(seed, "base"), args.models_dir), train_problems, test_problems, ARITHMETIC_TEMPLATE, seed=seed,
                                   config=train_config(settings), finetune_seeds=settings["seeds"], sampler=settings["sampler"],
                                   temperature=settings["temperature"], batch_size=args.batch_size)
    run.state.update(finetune=result, seconds=time.perf_counter() - started)
    run.save()
    print(f"{run.identity['model']}: " + ", ".join(f"{arm} {acc:.3f}" for arm, acc in arm_means(result["arms"]).items()) +
          f"; {time.perf_counter() - started:.0f} s", flush=True)


def analyse(args) -> None:
    states = seed_records(args.out_dir, args.seeds)
    pooled = finetune_claims(states)
    write_record(args.out_dir / "claims.json", {"seeds": [s["seed"] for s in states], "models": [{k: s[k] for k in MODEL_KEYS} for s in states],
                                                "comparisons": pooled})
    print(finetune_table(states).to_string())
    for name, r in pooled.items():
        if name != "arms":
            print(f"{name:<18} pooled {r['estimate']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] I2 "
                  f"{r['i2'] if r['i2'] is not None else float('nan'):.2f}")


def main(argv=None) -> None:
    parser = seeds_parser(__doc__, recipe="default", out_dir="benchmarks/results/seeds_finetune")
    parser.add_argument("--n-problems", type=int, default=1500, help="held-out problems the fine-tuned models answer (the seeds study's first N)")
    parser.add_argument("--settings", choices=("full", "smoke"), default="full", help="notebook 05's fine-tuning settings of this params file")
    parser.add_argument("--analyse-only", action="store_true", help="only the pooled comparisons, from the seed records")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.analyse_only:
        settings = notebook_settings(args.settings)
        ensure_study_data(args.data_dir)
        train_problems = read_split("arithmetic", args.data_dir, "train")[-settings["n_finetune"]:]  # notebook 05's fine-tuning pool
        test_problems = held_out_problems(args.data_dir, args.n_problems)
        for seed in args.seeds:
            measure(seed, args, train_problems, test_problems, settings)
    analyse(args)


if __name__ == "__main__":
    sys.exit(main())
