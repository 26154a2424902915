"""Recipe search for the deep-chain regime: short trainings on 2-8-step chains, each evaluated during
training on held-out problems of every depth with reasoning (greedy, entropy order, one token per
step), with the answer read off the first forward pass (the blank-slot reading: reasoning still
masked) and, for a preset without a reasoning slot, as an answer-only model.

Why: in the study's original regime (1-3 operations on a 28-position canvas) the model computes the
answer before writing any reasoning (blank slot right on ~79% of problems), so the paper's decoding
claims were measured where reasoning is hardly used. This search chooses the model size, data and
steps of a recipe whose answer has to come from the reasoning (docs/recipe_history.md, "The deep
regime"). Run presets side by side with one thread each:

    OMP_NUM_THREADS=1 python benchmarks/regime_search.py deep_shuffled --out benchmarks/results/history/regime_search.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from mdlm_study.core.records import write_json_atomic

DEEP_TASK = {"min_steps": 2, "max_steps": 8, "start_range": (2, 49), "operand_range": (1, 9), "carry_ops": ("add", "mul")}
BASE_MODEL = {"arch": "eurobert", "hidden_size": 128, "num_layers": 4, "num_heads": 4, "intermediate_size": 384, "max_length": 192}
BASE_TRAIN = {"batch_size": 32, "lr": 2e-3, "warmup": 100, "loss_weighting": "flat", "mask_copies": True, "copy_rule": "forward"}
PRESETS = {
    "deep_shuffled": {"task": DEEP_TASK, "model": BASE_MODEL, "train": BASE_TRAIN},
    "deep_ordered": {"task": {**DEEP_TASK, "shuffle_order": False}, "model": BASE_MODEL, "train": BASE_TRAIN},
    "deep_ordered_answer_only": {"task": {**DEEP_TASK, "shuffle_order": False}, "model": BASE_MODEL, "train": BASE_TRAIN,
                                 "reasoning_len": 0},
    "deep_shuffled_drills": {"task": DEEP_TASK, "model": BASE_MODEL, "train": {**BASE_TRAIN, "aux_batch_size": 64}},
    "deep_shuffled_wide_drills": {"task": DEEP_TASK, "model": {**BASE_MODEL, "hidden_size": 192, "intermediate_size": 512},
                                  "train": {**BASE_TRAIN, "aux_batch_size": 64}},
    "deep_ordered_wide": {"task": {**DEEP_TASK, "shuffle_order": False}, "model": {**BASE_MODEL, "hidden_size": 192, "intermediate_size": 512},
                          "train": BASE_TRAIN},
    # half the training chains drawn from 6-8 steps: the late steps of the slot are trained as often as the early ones
    "deep_shuffled_long": {"task": DEEP_TASK, "model": BASE_MODEL, "train": BASE_TRAIN, "long_share": 0.5},
    "deep_ordered_long_answer_only": {"task": {**DEEP_TASK, "shuffle_order": False}, "model": BASE_MODEL, "train": BASE_TRAIN,
                                      "long_share": 0.5, "reasoning_len": 0},
    "deep_ordered_long": {"task": {**DEEP_TASK, "shuffle_order": False}, "model": BASE_MODEL, "train": BASE_TRAIN, "long_share": 0.5},
}
LONG_CHAINS = 6  # the fewest steps of a "long" training chain (``long_share``)
REASONING_LEN = 64  # eight steps of the compact notation ("49+9=58", 7 tokens) and the newlines between them


def run(name: str, preset: dict, *, steps: int, eval_every: int, n_eval: int, seed: int, save=None) -> dict:
    from mdlm_study.engine.templates import Template
    from mdlm_study.experiments.evaluate import evaluate_arithmetic
    from mdlm_study.models.tiny_model import ModelConfig, build_model, count_parameters
    from mdlm_study.models.tiny_tokenizer import build_tokenizer
    from mdlm_study.tasks.arithmetic import ArithmeticConfig, drills, generate_problems, problem_key
    from mdlm_study.training.tokenized import tokenize_examples, tokenize_pairs
    from mdlm_study.training.train import TrainConfig, train

    task = ArithmeticConfig(**preset["task"])
    test = generate_problems(task, n_eval, seed=1000)
    n_train, long_share = preset.get("n_train", 60_000), preset.get("long_share", 0.0)
    held_out = {problem_key(p) for p in test}
    train_set = generate_problems(task, n_train - int(n_train * long_share), seed=1, exclude=held_out)
    if long_share:  # the test set keeps every depth equally often; only the training mix leans long
        long_task = dataclasses.replace(task, min_steps=max(task.min_steps, LONG_CHAINS))
        train_set += generate_problems(long_task, int(n_train * long_share), seed=2, exclude=held_out)
    tokenizer = build_tokenizer([p.question + "\n" + p.gsm8k_answer for p in train_set[:20_000] + test] + ["0 1 2 3 4 5 6 7 8 9"])
    reasoning_len = preset.get("reasoning_len", REASONING_LEN)
    template = Template(reasoning_len=reasoning_len, answer_len=4, delimiter="\n####", answer_prefix=" ")
    data = tokenize_examples(tokenizer, [p.question for p in train_set], [p.reasoning if reasoning_len else "" for p in train_set],
                             [p.answer for p in train_set], template)
    model_config = ModelConfig(**preset["model"])
    train_config = TrainConfig(**{"steps": steps, "eval_every": eval_every, "save_every": 0, "log_every": 100, "seed": seed,
                                  **preset["train"]})
    model = build_model(model_config, tokenizer, seed=seed)
    started, evals = time.perf_counter(), []

    def by_depth(table) -> dict:
        return {int(k): float(v) for k, v in table.groupby("n_ops")["correct"].mean().items()}

    def evaluate(net) -> dict:
        row = {"step": (len(evals) + 1) * eval_every, "minutes": (time.perf_counter() - started) / 60}
        if reasoning_len:
            reasoned = evaluate_arithmetic(net, tokenizer, test, template, sampler="entropy", batch_size=200)
            row.update(accuracy=float(reasoned["correct"].mean()), trace_accuracy=float(reasoned["trace_correct"].mean()),
                       accuracy_by_depth=by_depth(reasoned))
        blank = evaluate_arithmetic(net, tokenizer, test, template, sampler="entropy", exit_gamma=math.inf, batch_size=200)
        row.update(blank_slot_accuracy=float(blank["correct"].mean()), blank_slot_by_depth=by_depth(blank))
        evals.append(row)
        print(name, json.dumps(row), flush=True)
        if save is not None:  # every evaluation reaches the results file: a run stopped early keeps its curve
            save({"task": dataclasses.asdict(task), "model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config),
                  "reasoning_len": reasoning_len, "minutes": row["minutes"], "partial": True, "evals": list(evals)})
        return {"eval_accuracy": row.get("accuracy", row["blank_slot_accuracy"])}

    aux = tokenize_pairs(tokenizer, *zip(*drills(task), strict=True)) if train_config.aux_batch_size else None  # single steps, "47+3=" -> "50"
    history = train(model, data, train_config, mask_id=tokenizer.mask_token_id, eval_fn=evaluate, aux=aux, progress=False)
    eval_steps = [h["step"] for h in history if "eval_accuracy" in h]
    return {"task": dataclasses.asdict(task), "model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config),
            "reasoning_len": reasoning_len, "parameters": count_parameters(model), "threads": torch.get_num_threads(),
            "minutes": (time.perf_counter() - started) / 60, "evals": [{**e, "step": s} for s, e in zip(eval_steps, evals, strict=True)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--n-eval", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/history/regime_search.json")
    args = parser.parse_args()
    out, key = Path(args.out), f"{args.preset}@{args.steps}"

    def save(result: dict) -> None:
        results = json.loads(out.read_text()) if out.exists() else {}
        results[key] = {**result, "command": f"OMP_NUM_THREADS=1 python benchmarks/regime_search.py {args.preset} --steps {args.steps}"}
        write_json_atomic(out, results)

    save(run(args.preset, PRESETS[args.preset], steps=args.steps, eval_every=args.eval_every, n_eval=args.n_eval, seed=args.seed, save=save))


if __name__ == "__main__":
    main()
