"""Which regime each released model decodes in: the regime diagnostics (mdlm_study.experiments.regime) of entropy
order, one token per pass (the decoding claims' reference), on a task's test problems, overall and by
dependency depth (number of operations).

    OMP_NUM_THREADS=1 python benchmarks/bench_regime.py --models default default_seed1 --task arithmetic \\
        --out benchmarks/results/machine/regime_arithmetic.json

One record per model (weights SHA-256, problems SHA-256, the diagnostics); ``--n-problems`` caps the
test split (default: all of it). ``--min-steps`` reads the overall diagnostics, the regime check and the
answer-only twin on the problems of at least that many steps, while every problem is still decoded and
reported by depth; its default is the deep regime's floor
(:data:`~mdlm_study.experiments.regime.DEEP_MIN_STEPS`, docs/decisions.md, "Two regimes") for chains and
every problem for the other tasks. ``--answer-only`` adds the answer-only twin's accuracy (greedy, left to
right, the task's template without a reasoning slot) and each model's check against the paper's regime
(``mdlm_study.experiments.regime.PAPER_REGIME``), e.g. for the deep regime:

    OMP_NUM_THREADS=1 python benchmarks/bench_regime.py --task chains --models CKPT/seed0/chains \
        --answer-only CKPT/seed0/chains_answer_only --out benchmarks/results/machine/regime_chains.json
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from mdlm_study.core.records import model_identity, problems_sha256, script_command, write_record
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.regime import DEEP_MIN_STEPS, deep_chains, diagnose, regime_check
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.task import get_task


def regime_population(task, problems, min_steps: int | None) -> tuple[int | None, list[bool] | None, list]:
    """(floor, keep mask, kept problems): the problems the regime is read on. ``min_steps`` None takes the task's
    floor, :data:`DEEP_MIN_STEPS` for chains and none (every problem) for the others; a floor that keeps no
    problem, or a task without step labels, is a ``ValueError``."""
    if min_steps is None and task.name != "chains":
        return None, None, list(problems)
    floor = DEEP_MIN_STEPS if min_steps is None else min_steps
    if not task.step_labels:
        raise ValueError(f"--min-steps {floor}: task {task.name!r} has no reasoning steps to count")
    keep, kept = deep_chains(problems, floor)
    if not kept:
        raise ValueError(f"--min-steps {floor}: none of the {len(problems)} problems takes that many steps")
    return floor, keep, kept


def training_summary(record: dict | None) -> dict | None:
    """What a study model's training record (``training.json``) says of its run: recipe, seed, steps and training
    seconds (the recipe's time budget is checked on them), and what a recipe trial may change (the model's
    layers, the batch size, the warm start: ``recipes.trial_recipe``); None for a model without one (a hub model)."""
    if not record:
        return None
    train = record.get("train") or {}
    return {"recipe": record.get("recipe"), "seed": train.get("seed"), "steps": train.get("steps"), "train_seconds": record.get("train_seconds"),
            "layers": (record.get("model") or {}).get("num_layers"), "batch_size": train.get("batch_size"), "init_from": record.get("init_from")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="released model names (models/) or model folders (a finished run's folder carries its training record)")
    parser.add_argument("--task", default="arithmetic")
    parser.add_argument("--n-problems", type=int, default=None)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--answer-only", default=None, help="the answer-only twin (a model trained without a reasoning slot)")
    parser.add_argument("--min-steps", type=int, default=None,
                        help="read the regime on the problems of at least this many steps (default: "
                             f"{DEEP_MIN_STEPS} for chains, every problem for the other tasks)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    task = get_task(args.task)
    problems = read_split(task, args.data_dir, "test")[: args.n_problems]
    min_steps, keep, kept = regime_population(task, problems, args.min_steps)
    records, answer_only = [], None
    if args.answer_only:
        twin = load_model(args.answer_only)
        table = evaluate_task(task, twin.model, twin.tokenizer, kept, replace(task.template, reasoning_len=0), sampler="l2r")
        answer_only = {**model_identity(args.answer_only, weights_sha256(twin.model)), "accuracy": float(table["correct"].mean()),
                       "n_problems": len(kept)}
        print("answer-only", answer_only["accuracy"], flush=True)
    for name in args.models:
        loaded = load_model(name)  # a released model or a finished run's folder, checked against its record
        model, tokenizer = loaded.model, loaded.tokenizer
        started = time.perf_counter()
        depths = [len(p.ops) for p in problems] if task.step_labels else None  # dependency depth: the number of operations
        overall = diagnose(model, tokenizer, problems, task.template, task, groups=depths, keep=keep)
        by_depth = overall.pop("by_group", {})
        records.append({**model_identity(name, weights_sha256(model)), "task": task.name, "problems": task.file("test"),
                        "problems_sha256": problems_sha256(problems), "n_problems": len(problems), "min_steps": min_steps,
                        "decoding": "entropy, one token per pass, no exit",
                        "diagnostics": overall, "by_depth": by_depth, "seconds": time.perf_counter() - started,
                        "answer_only": answer_only, "training": training_summary(loaded.record),
                        "paper_regime": regime_check(overall, answer_only["accuracy"] if answer_only else None)})
        print(name, {k: v for k, v in overall.items() if not isinstance(v, dict)}, flush=True)
    write_record(Path(args.out), records, command=script_command(__file__, argv))


if __name__ == "__main__":
    main()
