"""Accuracy and NFE of the decoding rules on the trained default model (the paper's Table C): a command
line over ``mdlm_study.experiments.selection``, which holds the protocol (the settings, the development split, the
(lambda, gamma) grid, both selection rules and the transfer to another model).

Writes a list of records (``records.write_record``: with provenance, the model's name and weights
SHA-256 and the problems' SHA-256 in every record) with the keys ``sampler, tokens_per_step, med_lambda, exit_gamma, mean_nfe,
accuracy, n_problems`` (plus ``block_size``, trace and step accuracy and the exit rate), all on the
same 3-step test problems, each with ``paired_vs_entropy_k1`` (the exact McNemar test against
one-token entropy decoding on the same problems, ``stats.mcnemar_exact``): entropy decoding with 1,
2 and 4 tokens per step over the whole canvas and inside blocks of 8 (the paper's Table B setting),
one-token entropy decoding with early exit, MED (both readings) with and without exit, MED + exit at
larger lambda and gamma, and MED + exit inside blocks of 8 (every record in blocks is also paired with
one-token entropy decoding in the same blocks, ``paired_vs_block_k1``). Last, the setting
for the study's speed target is chosen without looking at the test problems: MED + exit over a grid of
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
from pathlib import Path

from mdlm_study.core.records import model_identity, problems_sha256, read_records, write_record
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE
from mdlm_study.experiments.evaluate import evaluate_arithmetic, evaluate_sudoku
from mdlm_study.experiments.selection import (
    CONFIGS,
    DEV_HELD_OUT,
    SELECTION_RULES,
    SUDOKU_CONFIGS,
    development_split,
    model_evaluator,
    selected_records,
    sweep_records,
    transfer_configs,
    transferred_records,
)
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.tasks.data import held_out_problems, read_problems, read_puzzles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("arithmetic", "sudoku"), default="arithmetic")
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--model", default=None, help="checkpoint folder under --checkpoints (default: the task's study model; e.g. a budget_curve.py run)")
    parser.add_argument("--model-path", default=None, help="load this model folder instead (mdlm_study.models.load_model; "
                                                           "--model names it in the records)")
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
    chosen = transfer_configs(read_records(args.transfer), args.transfer) if args.transfer else []
    name = args.model or ("sudoku" if sudoku else "default")
    # a folder (a released model, another training run), or the study model of that name in --checkpoints
    loaded = load_model(Path(args.model_path)) if args.model_path else load_model(name, checkpoints_dir=args.checkpoints)
    model, tokenizer = loaded.model, loaded.tokenizer
    identity = {**model_identity(name, weights_sha256(model)), "problems_sha256": problems_sha256(problems)}
    evaluate = model_evaluator(model, tokenizer, template=template, evaluator=evaluator)

    records, references = sweep_records(evaluate, problems, SUDOKU_CONFIGS if sudoku else CONFIGS, identity)
    if dev_problems:
        for block_size in [None] + ([args.select_block_size] if args.select_block_size else []):
            records.extend(selected_records(evaluate, dev_problems, problems, args.select_on, references, block_size, identity))
            print(records[-len(SELECTION_RULES):], flush=True)
    if chosen:
        records.extend(transferred_records(evaluate, problems, chosen, args.transfer, references, identity))
        print(records[-len(chosen):], flush=True)
    write_record(args.out, records)


if __name__ == "__main__":
    main()
