"""The default model's targets (docs/decisions.md, "Study targets"): exact-answer accuracy on held-out 3-step problems with
greedy left-to-right decoding, the answer-only baseline, training time and throughput.

Writes ``exact_answer_accuracy``, ``answer_only_accuracy``, ``train_seconds`` (and the trace and
step accuracies, the teacher-forced accuracy by token class and by step, the Sudoku solve rates by
decoding order and by cells per step, tokens/s, each model's ``weights_sha256``) to the output JSON.

Run (after the models are trained): ``python benchmarks/bench_model.py --checkpoints checkpoints``
"""

from __future__ import annotations

import argparse
import json
import os

from mdlm_study.engine.templates import ANSWER_ONLY_TEMPLATE, ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE
from mdlm_study.experiments.evaluate import (
    evaluate_arithmetic,
    evaluate_sudoku,
    summarize,
    teacher_forced_accuracy,
)
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.tasks.data import read_problems, read_puzzles


def mean_tokens_per_s(history) -> float:
    rates = [h["tokens_per_s"] for h in history if "tokens_per_s" in h]
    return sum(rates) / max(1, len(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="benchmarks/results/default/model.json")
    args = parser.parse_args()
    problems = read_problems(os.path.join(args.data_dir, "arithmetic_test.jsonl"))
    results = {"n_problems": len(problems), "decoding": "l2r, greedy, reasoning template", "weights_sha256": {}}
    loaded = load_model("default", checkpoints_dir=args.checkpoints)
    model, tok, record = loaded.model, loaded.tokenizer, loaded.record
    results["weights_sha256"]["default"] = weights_sha256(model)  # compare a rerun's models with these bit for bit
    summary = summarize(evaluate_arithmetic(model, tok, problems, ARITHMETIC_TEMPLATE, sampler="l2r"))
    results.update(exact_answer_accuracy=summary["accuracy"], trace_accuracy=summary["trace_accuracy"], step_accuracy=summary["step_accuracy"],
                   restatement_rate=summary["restatement_rate"],
                   train_seconds=record["train_seconds"], parameters=record["parameters"], train_tokens_per_s=mean_tokens_per_s(record["history"]),
                   teacher_forced=teacher_forced_accuracy(model, tok, problems, ARITHMETIC_TEMPLATE))  # what limits it: the arithmetic, by step
    loaded = load_model("answer_only", checkpoints_dir=args.checkpoints)
    model, tok, record = loaded.model, loaded.tokenizer, loaded.record
    results["weights_sha256"]["answer_only"] = weights_sha256(model)
    results["answer_only_accuracy"] = summarize(evaluate_arithmetic(model, tok, problems, ANSWER_ONLY_TEMPLATE, sampler="l2r"))["accuracy"]
    results["answer_only_train_seconds"] = record["train_seconds"]
    puzzles = read_puzzles(os.path.join(args.data_dir, "sudoku_test.jsonl"))
    loaded = load_model("sudoku", checkpoints_dir=args.checkpoints)
    model, tok, record = loaded.model, loaded.tokenizer, loaded.record
    results["weights_sha256"]["sudoku"] = weights_sha256(model)
    results["sudoku_solve_rate"] = {s: float(evaluate_sudoku(model, tok, puzzles, SUDOKU_TEMPLATE, sampler=s)["correct"].mean())
                                    for s in ("l2r", "entropy", "confidence", "margin")}
    # the paper's fixed-k effect where positions are jointly uncertain: entropy order, k cells per step
    results["sudoku_entropy_solve_rate_by_k"] = {1: results["sudoku_solve_rate"]["entropy"], **{
        k: float(evaluate_sudoku(model, tok, puzzles, SUDOKU_TEMPLATE, sampler="entropy", tokens_per_step=k)["correct"].mean()) for k in (2, 4)}}
    results["sudoku_train_seconds"] = record["train_seconds"]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
