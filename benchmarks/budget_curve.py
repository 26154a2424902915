"""What a longer budget buys the default model (the study target's clause: "if the target proves out of reach, show the
accuracy-versus-training-minutes curve and what limits it").

Trains the study's ``default`` recipe (or ``--recipe answer_only``) unchanged except for its length
(``--steps``; the cosine schedule stretches with it) and, optionally, its batch size
(``--batch-size``) on the study's data, evaluates every ``--eval-every`` steps on all 300 held-out
3-step problems, greedy left to right (exact answer, step and trace accuracy), and at the end
decodes the same problems with entropy order at 1, 2 and 4 tokens per step (does the fixed-k loss
of the paper appear once the model is better?) and reads the answer off the blank slot (how much of
it the model computes without writing reasoning). ``--set KEY=VALUE`` changes a ``TrainConfig``
field as well (a recipe variant at the study's length: ``--steps 6500 --set suffix_mask_prob=0.5``),
``--model-set KEY=VALUE`` a ``ModelConfig`` field (a shallower model: ``--model-set num_layers=3``).
Writes one JSON record to ``--out``. The evaluations and overrides live beside it, in ``benchmarks/budget.py``.

    OMP_NUM_THREADS=1 python benchmarks/budget_curve.py --steps 9000 --eval-every 1500 \\
        --checkpoints /tmp/budget --out benchmarks/results/history/budget_curve.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from budget import blank_slot, curve_point, fixed_k, model_overrides, train_overrides

from mdlm_study.models import load_model
from mdlm_study.tasks.data import study_data, study_tokenizer
from mdlm_study.training.recipes import recipe, train_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="default", choices=["default", "answer_only"], help="the study recipe to stretch")
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--eval-every", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=None, help="examples per step (default: the recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrainConfig field to change as well, e.g. --set suffix_mask_prob=0.5 (repeatable)")
    parser.add_argument("--model-set", dest="model_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a ModelConfig field to change, e.g. --model-set num_layers=3 (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initial weights, the batches and the masks (study.train_recipe)")
    parser.add_argument("--checkpoints", default="/tmp/budget_curve")
    parser.add_argument("--out", default="benchmarks/results/history/budget_curve.json")
    args = parser.parse_args()
    base = recipe(args.recipe)
    batch_size = args.batch_size or base.train.batch_size
    if min(args.steps, args.eval_every, batch_size) < 1:
        raise ValueError(f"--steps, --eval-every and --batch-size must be >= 1, got {args.steps}, {args.eval_every}, {batch_size}")
    overrides = train_overrides(args.overrides)
    shape = model_overrides(args.model_overrides)
    name = f"{args.recipe}_{args.steps}_steps" + (f"_batch{batch_size}" if batch_size != base.train.batch_size else "")
    r = replace(base, name=name + "".join(f"_{k}{v}" for k, v in {**overrides, **shape}.items()) + (f"_seed{args.seed}" if args.seed else ""),
                model=replace(base.model, **shape), train=replace(base.train, **overrides, steps=args.steps, batch_size=batch_size, eval_every=args.eval_every, save_every=args.eval_every))
    data = study_data(tasks=("arithmetic", "sudoku"), seed=0)
    tokenizer = study_tokenizer(data)
    started, curve = time.perf_counter(), []

    def evaluate(model) -> dict:
        point = curve_point(model, tokenizer, data.arithmetic_test, r.template, started)
        curve.append(point)
        print(point, flush=True)
        return {"eval_accuracy": point["accuracy"]}

    record = train_recipe(r, data, args.checkpoints, seed=args.seed, eval_fn=evaluate, progress=False)
    model = load_model(r.name, checkpoints_dir=args.checkpoints).model
    steps = [h["step"] for h in record["history"] if "eval_accuracy" in h]
    result = {"recipe": args.recipe, "checkpoint": r.name, "train": record["train"], "parameters": record["parameters"], "threads": torch.get_num_threads(),
              "train_seconds": record["train_seconds"], "n_problems": len(data.arithmetic_test),
              "curve": [{"step": s, **p} for s, p in zip(steps, curve, strict=True)],
              "overrides": overrides, "model_overrides": shape, "seed": args.seed, "fixed_k": fixed_k(model, tokenizer, data.arithmetic_test, r.template),
              "blank_slot": blank_slot(model, tokenizer, data.arithmetic_test, r.template)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["fixed_k"]), flush=True)


if __name__ == "__main__":
    main()
