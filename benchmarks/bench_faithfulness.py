"""Why fixed k tokens per step does or does not cost a model its answers: the two links between the
answer and the written reasoning (``mdlm_study.experiments.faithfulness``), on the study's 3-step test problems.

- ``counterfactual``: gold or edited traces written into the reasoning slot, the answer slot filled
  left to right; how often the answer is the true one and how often it is the written conclusion;
- ``decoded``: the model decoding freely (entropy order with k = 1, 2, 4 tokens per step, and left to
  right): answer accuracy, the trace's conclusion accuracy, how often the answer repeats the
  conclusion, the fraction of equations right for their own operands, fully correct traces; for k = 2
  and 4 the exact McNemar test against k = 1, of the answers and of the conclusions.

Run (after the study models are trained; further models as CHECKPOINTS:FOLDER, e.g. budget_curve runs):
``python benchmarks/bench_faithfulness.py --model checkpoints:default --out benchmarks/results/default/faithfulness.json``
``python benchmarks/bench_faithfulness.py --held-out 1500 --out benchmarks/results/default/faithfulness_held_out_1500.json``
(1,500 fresh 3-step problems, none in any split: ``data.held_out_problems``)
"""

from __future__ import annotations

import argparse
import json
import os

from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.faithfulness import faithfulness_records
from mdlm_study.models import load_model
from mdlm_study.tasks.data import held_out_problems, read_problems


def model_spec(text: str) -> tuple[str, str]:
    """``"checkpoints:default"`` → (checkpoints folder, model folder)."""
    folder, sep, name = text.rpartition(":")
    if not sep or not folder or not name:
        raise argparse.ArgumentTypeError(f"--model wants CHECKPOINTS:FOLDER, got {text!r}")
    return folder, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=model_spec, action="append", help="CHECKPOINTS:FOLDER (repeatable; default checkpoints:default)")
    parser.add_argument("--data", default="data/arithmetic_test.jsonl")
    parser.add_argument("--n-problems", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=0, metavar="N",
                        help="decode N fresh 3-step problems disjoint from every split under data/ (data.held_out_problems) instead of --data")
    parser.add_argument("--out", default="benchmarks/results/default/faithfulness.json")
    args = parser.parse_args()
    problems = held_out_problems("data", args.held_out) if args.held_out else read_problems(args.data)[: args.n_problems]
    records = []
    for folder, name in args.model or [("checkpoints", "default")]:
        loaded = load_model(name, checkpoints_dir=folder)
        model, tokenizer = loaded.model, loaded.tokenizer
        records += faithfulness_records(model, tokenizer, problems, f"{folder}/{name}", ARITHMETIC_TEMPLATE)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(records, handle, indent=2)


if __name__ == "__main__":
    main()
