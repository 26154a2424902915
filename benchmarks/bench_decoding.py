"""Accuracy and NFE of the decoding rules on the trained default model (the speed target of docs/decisions.md, "Study targets"; the paper's Table C).

Writes a list of records with the keys ``sampler, tokens_per_step, med_lambda, exit_gamma, mean_nfe,
accuracy, n_problems`` (plus ``block_size``, trace and step accuracy and the exit rate), all on the
same 3-step test problems, each with ``paired_vs_entropy_k1`` (the exact McNemar test against
one-token entropy decoding on the same problems, ``stats.mcnemar_exact``): entropy decoding with 1,
2 and 4 tokens per step over the whole canvas and inside blocks of 8 (the paper's Table B setting),
one-token entropy decoding with early exit, MED (both readings) with and without exit, MED + exit at
larger lambda and gamma, and MED + exit inside blocks of 8 (every record in blocks is also paired with
one-token entropy decoding in the same blocks, ``paired_vs_block_k1``). Last, the setting
for the speed target is chosen without looking at the test problems: MED + exit over a grid of
(lambda, gamma) on a development split (by default 1,500 problems of the held-out stream, none in any
split nor in ``--held-out``'s test set: ``development_split``), one setting per rule of
``SELECTION_RULES`` (the fewest mean NFE within 1 point of one-token entropy decoding there,
``analysis.fastest_within``; the most accurate at >= 3.5x fewer NFE, ``analysis.most_accurate_at``),
then each chosen setting on the test problems (records with ``selected_on`` and ``selection_rule``);
the same again with every decoding in blocks of 8 (``--select-block-size``), paired with one-token
entropy decoding in those blocks.

``--task sudoku`` runs the same rules on the Sudoku model (whole grid, any order): the task where fixed
k does cost accuracy, so it is the control for MED's claim that adaptive multi-token decoding is not
free parallelism (early exit does not apply there: the grid is the answer, there is no reasoning to
leave unfinished).

Run (after ``make reproduce`` or notebook 01 trained the models):
``python benchmarks/bench_decoding.py --checkpoints checkpoints --out benchmarks/results/default/decoding.json``
``python benchmarks/bench_decoding.py --task sudoku --checkpoints checkpoints --out benchmarks/results/sudoku/decoding.json``
``python benchmarks/bench_decoding.py --held-out 1500 --out benchmarks/results/default/decoding_held_out_1500.json``
(1,500 fresh 3-step problems, none in any split: differences of a point or two need more than 300)
``python benchmarks/bench_decoding.py --checkpoints /tmp/s9750_seed1 --model default_9750_steps_seed1 --held-out 1500
--select-on '' --transfer benchmarks/results/default/decoding_held_out_1500.json --out benchmarks/results/default_seed1/decoding_held_out_1500.json``
(another seed of the recipe, ``budget_curve.py --seed 1``, decoded at the settings chosen for the default model)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from mdlm_study.analysis import fastest_within, most_accurate_at
from mdlm_study.data import HELD_OUT_DEV_SKIP, held_out_problems, read_problems, read_puzzles
from mdlm_study.evaluate import evaluate_arithmetic, evaluate_sudoku, summarize
from mdlm_study.recipes import load_study_model
from mdlm_study.stats import paired_vs_reference
from mdlm_study.templates import ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE

CONFIGS = [
    {"sampler": "entropy", "tokens_per_step": 1},
    {"sampler": "entropy", "tokens_per_step": 2},
    {"sampler": "entropy", "tokens_per_step": 4},
    {"sampler": "entropy", "tokens_per_step": 1, "exit_gamma": 0.1},
    {"sampler": "med", "med_lambda": 0.2},
    {"sampler": "med", "med_lambda": 0.2, "exit_gamma": 0.1},
    {"sampler": "med_budget", "med_lambda": 0.2},
    {"sampler": "med_budget", "med_lambda": 0.2, "exit_gamma": 0.1},
    # larger thresholds: where does MED + exit reach the 3.5x fewer NFE of the speed target, and at what accuracy?
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
    # MED + exit in the same blocks: the speed-up read in the setting where fixed k = 2 is the control
    {"sampler": "med", "med_lambda": 0.2, "exit_gamma": 0.1, "block_size": 8},
    {"sampler": "med", "med_lambda": 0.5, "exit_gamma": 0.1, "block_size": 8},
]


SELECTION_GRID = [{"sampler": "med", "med_lambda": lam, "exit_gamma": gamma}
                  for lam in (0.2, 0.3, 0.5, 0.7, 1.0) for gamma in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)]
SELECTION_TOLERANCE_POINTS = 1.0  # the speed target: accuracy within 1 point
SELECTION_MIN_SPEEDUP = 3.5  # the speed target: at least 3.5x fewer NFE than one-token entropy decoding
SELECTION_RULES = {  # name -> rule(dev sweep, dev reference accuracy, dev reference mean NFE) -> the chosen row
    "fastest_within_1_point": lambda table, accuracy, nfe: fastest_within(table, accuracy, SELECTION_TOLERANCE_POINTS),
    "most_accurate_at_3.5x": lambda table, accuracy, nfe: most_accurate_at(table, nfe, SELECTION_MIN_SPEEDUP),
}
DEV_HELD_OUT = "held-out"  # --select-on value: problems HELD_OUT_DEV_SKIP.. of the held-out stream (data.held_out_problems)
SUDOKU_CONFIGS = [
    {"sampler": "entropy", "tokens_per_step": 1},
    {"sampler": "entropy", "tokens_per_step": 2},
    {"sampler": "entropy", "tokens_per_step": 4},
    {"sampler": "med", "med_lambda": 0.1},
    {"sampler": "med", "med_lambda": 0.2},
    {"sampler": "med", "med_lambda": 0.5},
    {"sampler": "med", "med_lambda": 1.0},
    {"sampler": "l2r", "tokens_per_step": 1},
]
KEYS = ("accuracy", "trace_accuracy", "step_accuracy", "exit_rate", "n_problems", "mean_nfe")


def record(config: dict, summary: dict) -> dict:
    """One decoding record (keys absent from ``summary``, e.g. traces on Sudoku, are None)."""
    return {"sampler": config["sampler"], "tokens_per_step": config.get("tokens_per_step", 1), "med_lambda": config.get("med_lambda"),
            "exit_gamma": config.get("exit_gamma"), "block_size": config.get("block_size"), **{k: summary.get(k) for k in KEYS}}


def paired_with_reference(reference: pd.DataFrame, table: pd.DataFrame) -> dict:
    """The exact McNemar test of a rule against the reference rule (one-token entropy decoding) on the
    same problems: ``only_reference`` / ``only_this`` count the problems only one of them gets right."""
    return paired_vs_reference(reference["correct"], table["correct"])


def paired_with_references(table: pd.DataFrame, references: dict, block_size: int | None) -> dict:
    """``paired_vs_entropy_k1`` against one-token entropy decoding over the whole canvas and, for a
    decoding in blocks, ``paired_vs_block_k1`` against it in the same blocks, for whichever of those
    ``references`` (tables by block size, ``None``: the whole canvas) holds."""
    paired = {}
    if None in references:
        paired["paired_vs_entropy_k1"] = paired_with_reference(references[None], table)
    if block_size and block_size in references:
        paired["paired_vs_block_k1"] = paired_with_reference(references[block_size], table)
    return paired


def decode_records(evaluate_on, problems, configs: list[dict]) -> tuple[list[dict], dict]:
    """One record per config, each paired with the first config (one-token entropy decoding over the
    whole canvas: ``paired_vs_entropy_k1``) and, inside blocks, with one-token entropy decoding in the
    same blocks as well (``paired_vs_block_k1``: Table B's own comparison); returns the records and
    the reference tables by block size (``None``: the whole canvas)."""
    if configs[0] != {"sampler": "entropy", "tokens_per_step": 1}:
        raise ValueError(f"the first config must be the reference, one-token entropy decoding; got {configs[0]}")
    records, references = [], {}
    for config in configs:
        table = evaluate_on(problems, **config)
        references.setdefault(None, table)
        block = config.get("block_size")
        if block is not None:
            if config["sampler"] == "entropy" and config.get("tokens_per_step", 1) == 1 and config.get("exit_gamma") is None:
                references[block] = table
            if block not in references:
                raise ValueError(f"blocks of {block}: the one-token entropy config must come before {config}")
        rec = {**record(config, summarize(table)), **paired_with_references(table, references, block)}
        records.append(rec)
        print(rec, flush=True)
    return records, references


def selected_records(evaluate_on, dev_problems, test_problems, dev_name: str, references: dict | None = None,
                     block_size: int | None = None) -> list[dict]:
    """MED + exit over :data:`SELECTION_GRID` on ``dev_problems``, one (lambda, gamma) chosen by each of
    :data:`SELECTION_RULES` against one-token entropy decoding there, then each chosen setting on
    ``test_problems``: one record per rule (``selection_rule``), the test problems never looked at in
    the choice (a rule no setting satisfies on dev gives a record with ``no_selection``, its reason,
    and no test numbers). With ``block_size`` every decoding, the dev reference included, runs in blocks of that
    size. ``references`` (the test problems' one-token entropy tables by block size, as
    :func:`decode_records` returns them) pairs each test record with them when given;
    ``evaluate_on(problems, **config) -> table`` decodes and grades either split."""
    block = {"block_size": block_size} if block_size else {}
    dev_reference = summarize(evaluate_on(dev_problems, sampler="entropy", tokens_per_step=1, **block))
    grid = [{**config, **block} for config in SELECTION_GRID]
    table = pd.DataFrame([{**config, **summarize(evaluate_on(dev_problems, **config))} for config in grid])
    dev_grid = table[["med_lambda", "exit_gamma", "accuracy", "mean_nfe"]].to_dict("records")
    chosen, unchosen = [], {}
    for rule_name, rule in SELECTION_RULES.items():
        dev = {"selection_rule": rule_name, "selected_on": dev_name, "dev_n_problems": len(dev_problems),
               "dev_entropy_k1_accuracy": dev_reference["accuracy"], "dev_entropy_k1_mean_nfe": dev_reference["mean_nfe"], "dev_grid": dev_grid}
        try:
            best = rule(table, dev_reference["accuracy"], dev_reference["mean_nfe"])
        except ValueError as err:  # no setting qualifies on dev: say so, decode nothing on test
            unchosen[rule_name] = {**record({"sampler": "med", **block}, {}), **dev, "no_selection": str(err)}
            continue
        config = {"sampler": "med", "med_lambda": float(best["med_lambda"]), "exit_gamma": float(best["exit_gamma"]), **block}
        chosen.append((config, {**dev, "dev_accuracy": float(best["accuracy"]), "dev_mean_nfe": float(best["mean_nfe"])}))
    decoded = {rec["selection_rule"]: rec for rec in decode_chosen(evaluate_on, test_problems, chosen, references or {})}
    return [decoded.get(rule_name) or unchosen[rule_name] for rule_name in SELECTION_RULES]


def decode_chosen(evaluate_on, problems, chosen: list[tuple[dict, dict]], references: dict) -> list[dict]:
    """One record per ``(config, extra keys)`` of ``chosen``: the config decoded on ``problems`` (a
    config chosen twice is decoded once), paired by :func:`paired_with_references`, with its extra keys."""
    records, decoded = [], {}
    for config, extra in chosen:
        key = tuple(sorted(config.items()))
        if key not in decoded:
            decoded[key] = evaluate_on(problems, **config)
        table = decoded[key]
        records.append({**record(config, summarize(table)), **paired_with_references(table, references, config.get("block_size")), **extra})
    return records


def transfer_configs(source_records: list[dict], source_name: str) -> list[tuple[str, dict]]:
    """(selection rule, config) of every setting another run of this benchmark chose (its records with
    a ``selection_rule`` and a setting), e.g. the default model's, to decode unchanged on another model:
    does the choice transfer? ``ValueError`` when ``source_name`` is not a list of records or holds no such record."""
    if not isinstance(source_records, list) or not all(isinstance(rec, dict) for rec in source_records):
        raise ValueError(f"{source_name} is not a bench_decoding.py output (a JSON list of records); got {type(source_records).__name__}")
    chosen = [(rec["selection_rule"], {k: rec[k] for k in ("sampler", "med_lambda", "exit_gamma")}
               | ({"block_size": rec["block_size"]} if rec.get("block_size") else {}))
              for rec in source_records if rec.get("selection_rule") and "no_selection" not in rec]
    if not chosen:
        raise ValueError(f"{source_name} holds no chosen MED + exit setting (no record with a selection_rule); "
                         "pass a bench_decoding.py output that ran a selection")
    return chosen


def transferred_records(evaluate_on, problems, chosen: list[tuple[str, dict]], source_name: str, references: dict) -> list[dict]:
    """Each setting of :func:`transfer_configs` decoded on ``problems`` (:func:`decode_chosen`), paired
    with one-token entropy decoding over the whole canvas and, in blocks, in the same blocks
    (``references`` as :func:`decode_records` returns them)."""
    return decode_chosen(evaluate_on, problems, [(config, {"selection_rule": rule_name, "transferred_from": source_name})
                                                 for rule_name, config in chosen], references)


def development_split(select_on: str, data_dir: str, n_held_out_test: int, n_dev: int) -> list:
    """The problems MED + exit's (lambda, gamma) are chosen on: ``select_on`` is a problems file, or
    :data:`DEV_HELD_OUT` for ``n_dev`` problems of the held-out stream from ``HELD_OUT_DEV_SKIP`` on
    (disjoint from every split and from a ``--held-out`` test set of up to ``HELD_OUT_DEV_SKIP`` problems)."""
    if select_on != DEV_HELD_OUT:
        return read_problems(select_on)
    if n_held_out_test > HELD_OUT_DEV_SKIP:
        raise ValueError(f"--held-out {n_held_out_test} would overlap the held-out development split, which starts at "
                         f"problem {HELD_OUT_DEV_SKIP} of the stream; use --held-out <= {HELD_OUT_DEV_SKIP} or --select-on FILE")
    return held_out_problems(data_dir, n_dev, skip=HELD_OUT_DEV_SKIP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", choices=("arithmetic", "sudoku"), default="arithmetic")
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--model", default=None, help="checkpoint folder under --checkpoints (default: the task's study model; e.g. a budget_curve.py run)")
    parser.add_argument("--data", default=None, help="test set (default: data/arithmetic_test.jsonl or data/sudoku_test.jsonl)")
    parser.add_argument("--n-problems", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=0, metavar="N",
                        help="decode N fresh 3-step problems disjoint from every split under data/ (data.held_out_problems) instead of --data")
    parser.add_argument("--select-on", default=DEV_HELD_OUT,
                        help=f"development split for choosing MED + exit's (lambda, gamma): a problems file, or '{DEV_HELD_OUT}' "
                             "(--dev-problems problems of the held-out stream, disjoint from every split and from --held-out); '' skips it")
    parser.add_argument("--dev-problems", type=int, default=1500, help=f"size of the '{DEV_HELD_OUT}' development split")
    parser.add_argument("--select-block-size", type=int, default=8,
                        help="also choose (lambda, gamma) with every decoding in blocks of this size, Table B's setting (0 skips it)")
    parser.add_argument("--transfer", default=None, metavar="FILE",
                        help="also decode the MED + exit settings FILE's selections chose (a bench_decoding.py output, e.g. the default model's) "
                             "on this model and problems")
    parser.add_argument("--out", default="benchmarks/results/default/decoding.json")
    args = parser.parse_args()
    sudoku = args.task == "sudoku"
    if args.held_out and sudoku:
        raise ValueError("--held-out draws arithmetic problems; use --data for Sudoku")
    if args.select_block_size < 0:
        raise ValueError(f"--select-block-size must be >= 0 (0 skips it), got {args.select_block_size}")
    evaluator, template, reader = (evaluate_sudoku, SUDOKU_TEMPLATE, read_puzzles) if sudoku else (evaluate_arithmetic, ARITHMETIC_TEMPLATE, read_problems)
    problems = held_out_problems("data", args.held_out) if args.held_out else reader(args.data or f"data/{args.task}_test.jsonl")[: args.n_problems]
    dev_problems = development_split(args.select_on, "data", args.held_out, args.dev_problems) if args.select_on and not sudoku else []
    chosen = transfer_configs(json.loads(Path(args.transfer).read_text()), args.transfer) if args.transfer else []
    model, tokenizer, _ = load_study_model(args.model or ("sudoku" if sudoku else "default"), args.checkpoints)

    def evaluate_on(problems, **config):
        return evaluator(model, tokenizer, problems, template, batch_size=300, **config)

    records, references = decode_records(evaluate_on, problems, SUDOKU_CONFIGS if sudoku else CONFIGS)
    if dev_problems:
        for block_size in [None] + ([args.select_block_size] if args.select_block_size else []):
            records.extend(selected_records(evaluate_on, dev_problems, problems, args.select_on, references, block_size))
            print(records[-len(SELECTION_RULES):], flush=True)
    if chosen:
        records.extend(transferred_records(evaluate_on, problems, chosen, args.transfer, references))
        print(records[-len(chosen):], flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(records, handle, indent=2)


if __name__ == "__main__":
    main()
