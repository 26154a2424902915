"""Accuracy and NFE of the decoding rules on the trained default model (issue 3 targets, PAPER.md Table C).

Writes a list of records with the keys ``sampler, tokens_per_step, med_lambda, exit_gamma, mean_nfe,
accuracy, n_problems`` (plus ``block_size``, trace and step accuracy and the exit rate), all on the
same 3-step test problems: entropy decoding with 1, 2 and 4 tokens per step over the whole canvas and
inside blocks of 8 (the paper's Table B setting), one-token entropy decoding with early exit, MED
(both readings) with and without exit, and MED + exit at larger lambda and gamma.

Run (after ``make reproduce`` or notebook 01 trained the model):
``python benchmarks/bench_decoding.py --checkpoints checkpoints --out benchmarks/results/decoding.json``
"""

from __future__ import annotations

import argparse
import json
import os

from mdlm_study.data import read_problems
from mdlm_study.evaluate import evaluate_arithmetic, summarize
from mdlm_study.study import ARITHMETIC_TEMPLATE, load_study_model

CONFIGS = [
    {"sampler": "entropy", "tokens_per_step": 1},
    {"sampler": "entropy", "tokens_per_step": 2},
    {"sampler": "entropy", "tokens_per_step": 4},
    {"sampler": "entropy", "tokens_per_step": 1, "exit_gamma": 0.1},
    {"sampler": "med", "med_lambda": 0.2},
    {"sampler": "med", "med_lambda": 0.2, "exit_gamma": 0.1},
    {"sampler": "med_budget", "med_lambda": 0.2},
    {"sampler": "med_budget", "med_lambda": 0.2, "exit_gamma": 0.1},
    # larger thresholds: where does MED + exit reach the 3.5x fewer NFE of issue 3's target, and at what accuracy?
    {"sampler": "med", "med_lambda": 0.5, "exit_gamma": 0.1},
    {"sampler": "med", "med_lambda": 0.5, "exit_gamma": 1.0},
    {"sampler": "med", "med_lambda": 1.0, "exit_gamma": 0.1},
    {"sampler": "med", "med_lambda": 1.0, "exit_gamma": 1.0},
    {"sampler": "med", "med_lambda": 1.5, "exit_gamma": 1.0},
    {"sampler": "med", "med_lambda": 2.0, "exit_gamma": 1.0},
    {"sampler": "l2r", "tokens_per_step": 1},
    # the paper's Table B setting: fixed k inside blocks (semi-autoregressive any-order entropy decoding)
    {"sampler": "entropy", "tokens_per_step": 1, "block_size": 8},
    {"sampler": "entropy", "tokens_per_step": 2, "block_size": 8},
    {"sampler": "entropy", "tokens_per_step": 4, "block_size": 8},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--model", default="default", help="checkpoint folder under --checkpoints (e.g. a budget_curve.py run)")
    parser.add_argument("--data", default="data/arithmetic_test.jsonl")
    parser.add_argument("--n-problems", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results/decoding.json")
    args = parser.parse_args()
    model, tokenizer, _ = load_study_model(args.model, args.checkpoints)
    problems = read_problems(args.data)[: args.n_problems]
    records = []
    for config in CONFIGS:
        table = evaluate_arithmetic(model, tokenizer, problems, ARITHMETIC_TEMPLATE, batch_size=300, **config)
        summary = summarize(table)
        record = {"sampler": config["sampler"], "tokens_per_step": config.get("tokens_per_step", 1), "med_lambda": config.get("med_lambda"),
                  "exit_gamma": config.get("exit_gamma"), "block_size": config.get("block_size"), "mean_nfe": summary["mean_nfe"],
                  "accuracy": summary["accuracy"], "trace_accuracy": summary["trace_accuracy"], "step_accuracy": summary["step_accuracy"],
                  "exit_rate": summary["exit_rate"], "n_problems": summary["n_problems"]}
        records.append(record)
        print(record, flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(records, handle, indent=2)


if __name__ == "__main__":
    main()
