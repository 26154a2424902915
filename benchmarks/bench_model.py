"""The default model's targets (docs/decisions.md, "Study targets"): exact-answer accuracy on held-out 3-step problems with
greedy left-to-right decoding, the answer-only baseline, training time and throughput.

Writes ``exact_answer_accuracy``, ``answer_only_accuracy``, ``train_seconds`` (and the trace and
step accuracies, the teacher-forced accuracy by token class and by step, the Sudoku solve rates by
decoding order and by cells per step, tokens/s, each model's ``weights_sha256``, the test files' SHA-256 and the
machine each model was trained on, where its training record names it) to the output record, with its provenance.

Run (after the models are trained): ``python benchmarks/bench_model.py --checkpoints checkpoints``
"""

from __future__ import annotations

import argparse
import json
import os

from mdlm_study.core.records import problems_sha256, script_command, write_record
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


def default_targets(loaded, problems) -> dict:
    """The default model: exact answers, traces and steps left to right, its training, and the teacher-forced
    accuracy by token class (what limits it: the arithmetic, by step)."""
    model, tok, record = loaded.model, loaded.tokenizer, loaded.record
    summary = summarize(evaluate_arithmetic(model, tok, problems, ARITHMETIC_TEMPLATE, sampler="l2r"))
    return {"exact_answer_accuracy": summary["accuracy"], "trace_accuracy": summary["trace_accuracy"], "step_accuracy": summary["step_accuracy"],
            "restatement_rate": summary["restatement_rate"], "train_seconds": record["train_seconds"], "parameters": record["parameters"],
            "train_tokens_per_s": mean_tokens_per_s(record["history"]),
            "teacher_forced": teacher_forced_accuracy(model, tok, problems, ARITHMETIC_TEMPLATE)}


def answer_only_targets(loaded, problems) -> dict:
    """The answer-only twin: exact answers left to right without a reasoning slot, and its training time."""
    table = evaluate_arithmetic(loaded.model, loaded.tokenizer, problems, ANSWER_ONLY_TEMPLATE, sampler="l2r")
    return {"answer_only_accuracy": summarize(table)["accuracy"], "answer_only_train_seconds": loaded.record["train_seconds"]}


def sudoku_targets(loaded, puzzles) -> dict:
    """The Sudoku model: solve rates by decoding order, and the paper's fixed-k effect where positions are jointly
    uncertain (entropy order, k cells per step)."""
    def solve_rate(**decoding) -> float:
        return float(evaluate_sudoku(loaded.model, loaded.tokenizer, puzzles, SUDOKU_TEMPLATE, **decoding)["correct"].mean())

    rates = {s: solve_rate(sampler=s) for s in ("l2r", "entropy", "confidence", "margin")}
    by_k = {1: rates["entropy"], **{k: solve_rate(sampler="entropy", tokens_per_step=k) for k in (2, 4)}}
    return {"sudoku_solve_rate": rates, "sudoku_entropy_solve_rate_by_k": by_k, "sudoku_train_seconds": loaded.record["train_seconds"]}


TARGETS = {"default": (default_targets, "arithmetic"), "answer_only": (answer_only_targets, "arithmetic"), "sudoku": (sudoku_targets, "sudoku")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--models", nargs="+", choices=list(TARGETS), default=list(TARGETS),
                        help="the models to measure (default: all three; e.g. a retrained default alone)")
    parser.add_argument("--out", default="benchmarks/results/default/model.json")
    args = parser.parse_args(argv)
    tests = {"arithmetic": read_problems(os.path.join(args.data_dir, "arithmetic_test.jsonl")),
             "sudoku": read_puzzles(os.path.join(args.data_dir, "sudoku_test.jsonl"))}
    results = {"n_problems": len(tests["arithmetic"]), "decoding": "l2r, greedy, reasoning template", "weights_sha256": {},
               "data_sha256": {f"{task}_test": problems_sha256(items) for task, items in tests.items()}, "trained_on": {}}
    for name in args.models:
        measure, task = TARGETS[name]
        loaded = load_model(name, checkpoints_dir=args.checkpoints)
        results["weights_sha256"][name] = weights_sha256(loaded.model)  # compare a rerun's models with these bit for bit
        results["trained_on"][name] = loaded.record.get("machine")  # None for a run recorded before training records named it
        results.update(measure(loaded, tests[task]))
    write_record(args.out, results, command=script_command(__file__, argv))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
