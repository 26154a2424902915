"""Where the deep regime's seeds lose their answers: the first wrong result of each wrongly answered chain, by kind.

The chains seeds span more points of exact answers than the recipe allows (docs/recipe_history.md). A lever against
that spread has to act on what the low seeds get wrong, so this reads it off their reasoning: each model decodes the
first ``--n-problems`` test chains of at least ``--min-steps`` steps with the claims' reference decoding (entropy
order, one token per pass), and every chain whose answer is wrong is sorted by the first step whose result is not the
chain's value after it (``tasks.arithmetic.first_wrong_result``: an arithmetic slip under the right operands, a
result that follows a miscopied step, ...), or, when every written result is right, by the answer slot contradicting
them. ``slips_per_step`` is the arithmetic slips of all chains over the steps the chains take.

Run: ``python benchmarks/bench_chains_errors.py --models chains chains_seed1 chains_seed2 chains_seed3 chains_seed4
--n-problems 150 --out benchmarks/results/seeds_chains/errors.json`` (about 2 minutes a model on one free core).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.records import model_identity, problems_sha256, script_command, write_record
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.regime import DEEP_MIN_STEPS, deep_chains
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.tasks.arithmetic import first_wrong_result
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.task import get_task

RIGHT_RESULTS = "answer slot contradicts right results"


def error_kinds(problems, rows) -> dict:
    """Counts of the wrongly answered chains by their first wrong result's kind, and the arithmetic slips of every
    chain (right or wrong answer) over the steps the chains take."""
    wrong, slips = Counter(), 0
    for problem, row in zip(problems, rows, strict=True):
        _, kind = first_wrong_result(problem, row["reasoning"])
        slips += kind == "arithmetic slip"
        if not row["correct"]:
            wrong[RIGHT_RESULTS if kind == "none" else kind] += 1
    n_steps = sum(len(p.ops) for p in problems)
    return {"n_problems": len(problems), "answers_right": sum(bool(row["correct"]) for row in rows), "wrong_answers": dict(wrong),
            "arithmetic_slips": slips, "steps": n_steps, "slips_per_step": slips / n_steps}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="released model names (models/) or finished run folders")
    parser.add_argument("--n-problems", type=int, default=150)
    parser.add_argument("--min-steps", type=int, default=DEEP_MIN_STEPS)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    int_at_least("n_problems", args.n_problems)
    task = get_task("chains")
    _, kept = deep_chains(read_split(task, args.data_dir, "test"), args.min_steps)
    problems = kept[: args.n_problems]
    records = []
    for name in args.models:
        loaded = load_model(name)
        started = time.perf_counter()
        table = evaluate_task(task, loaded.model, loaded.tokenizer, problems, task.template, sampler="entropy")
        records.append({**model_identity(name, weights_sha256(loaded.model)), "problems": task.file("test"), "min_steps": args.min_steps,
                        "problems_sha256": problems_sha256(problems), "decoding": "entropy, one token per pass, no exit",
                        **error_kinds(problems, table.to_dict("records")), "seconds": time.perf_counter() - started})
        print(name, {k: v for k, v in records[-1].items() if k in ("answers_right", "wrong_answers", "slips_per_step")}, flush=True)
    write_record(Path(args.out), records, command=script_command(__file__, argv))
    return records


if __name__ == "__main__":
    main()
