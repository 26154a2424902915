"""Where does the study model's answer come from: the reasoning it writes, or computation it does in
the still-masked reasoning slot?

Why this matters: fixed k tokens per step (the paper's Table B) can only cost the answer when the answer
depends on the written trace. On the same held-out problems, by chain length (2 and 3 steps; almost
every 1-step problem of the training distribution is in the training set, so none is held out):

- ``answer_only``: the answer-only model (same size and budget, no reasoning slot), left to right;
- ``blank_slot``: the default model's answer from its **first** forward pass, the whole reasoning
  slot still masked (``exit_gamma=inf``: the exit fires on pass 1 and fills the answer with its
  argmax; NFE 1, nothing written);
- ``entropy`` with k = 1, 2, 4 tokens per step and ``l2r``: the default model writing its reasoning.

``blank_slot`` minus ``answer_only`` is what the masked slot adds as extra positions to compute in
(pause tokens); ``entropy`` k = 1 minus ``blank_slot`` is what the written trace adds, the only part
that parallel decoding can break.

Run (after the study models are trained):
``python benchmarks/bench_answer_source.py --checkpoints checkpoints --out benchmarks/results/default/answer_source.json``
"""

from __future__ import annotations

import argparse
import json
import math
import os

from mdlm_study.engine.templates import ANSWER_ONLY_TEMPLATE, ARITHMETIC_TEMPLATE
from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize
from mdlm_study.models import load_model
from mdlm_study.tasks.arithmetic import Problem
from mdlm_study.tasks.data import held_out_problems, read_problems

DEFAULT_READINGS = [
    {"reading": "blank_slot", "sampler": "entropy", "exit_gamma": math.inf},
    {"reading": "entropy", "sampler": "entropy", "tokens_per_step": 1},
    {"reading": "entropy", "sampler": "entropy", "tokens_per_step": 2},
    {"reading": "entropy", "sampler": "entropy", "tokens_per_step": 4},
    {"reading": "l2r", "sampler": "l2r"},
]


def answer_source_problems(data_dir: str | os.PathLike, n_problems: int) -> dict[int, list[Problem]]:
    """The problem sets of this benchmark by chain length: 3 steps, the study's
    test set (its first ``n_problems``); 2 steps, drawn from the training distribution, none in any split."""
    test = read_problems(os.path.join(data_dir, "arithmetic_test.jsonl"))
    return {2: held_out_problems(data_dir, n_problems, steps=2, seed=5002), 3: test[:n_problems]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--n-problems", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results/default/answer_source.json")
    args = parser.parse_args()
    sets = answer_source_problems(args.data_dir, args.n_problems)
    default, answer_only = (load_model(name, checkpoints_dir=args.checkpoints) for name in ("default", "answer_only"))
    default, tokenizer, answer_only, answer_only_tokenizer = default.model, default.tokenizer, answer_only.model, answer_only.tokenizer
    records = []
    for n_steps, problems in sets.items():
        summary = summarize(evaluate_arithmetic(answer_only, answer_only_tokenizer, problems, ANSWER_ONLY_TEMPLATE, sampler="l2r", batch_size=300))
        records.append({"n_steps": n_steps, "model": "answer_only", "reading": "answer_only", "sampler": "l2r", "tokens_per_step": 1,
                        "accuracy": summary["accuracy"], "trace_accuracy": None, "mean_nfe": summary["mean_nfe"], "n_problems": len(problems)})
        print(records[-1], flush=True)
        for reading in DEFAULT_READINGS:
            config = {k: v for k, v in reading.items() if k != "reading"}
            summary = summarize(evaluate_arithmetic(default, tokenizer, problems, ARITHMETIC_TEMPLATE, batch_size=300, **config))
            records.append({"n_steps": n_steps, "model": "default", "reading": reading["reading"], "sampler": config["sampler"],
                            "tokens_per_step": config.get("tokens_per_step", 1), "accuracy": summary["accuracy"],
                            "trace_accuracy": summary["trace_accuracy"], "mean_nfe": summary["mean_nfe"], "n_problems": len(problems)})
            print(records[-1], flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(records, handle, indent=2)


if __name__ == "__main__":
    main()
