"""How fast the default model learns the arithmetic alone (what limits the default model).

The study's reasoning model fails on the units digit of a step's result (README, teacher-forced
accuracy 0.26 at 1,500 steps). This probe takes the trace away: the default model (same size,
optimiser and schedule as ``mdlm_study.training.recipes.RECIPES["default"]``) is trained on single steps only,
``"47+3="`` -> ``"50"`` (every step the study's task allows, ``tasks.arithmetic.drills``; 300 facts
held out), for 1,500 steps of 32 and evaluated every 250 steps by greedy left-to-right decoding of
the held-out facts' results. A run takes ~2 minutes on one thread, so it is a cheap way to compare
optimiser settings for learning arithmetic before spending 17 minutes on a recipe-search run.

    OMP_NUM_THREADS=1 python benchmarks/drill_probe.py '{"train": {"lr": 1e-3}}' --out benchmarks/results/history/drill_probe.json

The argument overrides fields of the default recipe's ``model`` and ``train`` configs ("{}" = the
recipe as it is); each run is stored under its argument.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import torch

HELD_OUT = 300


def greedy_l2r_accuracy(model, tokenizer, pairs) -> float:
    """Exact-match accuracy of the held-out results, decoded greedily left to right by the engine."""
    from mdlm_study.engine import generate

    ids, attn, response, _ = pairs.batch(torch.arange(len(pairs)), trim=False)
    out = generate(model, ids.masked_fill(response, tokenizer.mask_token_id), sampler="l2r", mask_id=tokenizer.mask_token_id,
                   attention_mask=attn)
    return float((out.sequences == pairs.input_ids).all(1).float().mean())


def run(overrides: dict) -> dict:
    from mdlm_study.models.tiny_model import build_model
    from mdlm_study.tasks.arithmetic import drills
    from mdlm_study.tasks.data import DEFAULT_CONFIG, study_data, study_tokenizer
    from mdlm_study.training.recipes import recipe
    from mdlm_study.training.tokenized import tokenize_pairs
    from mdlm_study.training.train import train

    tokenizer = study_tokenizer(study_data(sizes={"arithmetic": {"train": 2000}}, tasks=("arithmetic", "sudoku")))
    facts = drills(DEFAULT_CONFIG)
    random.Random(0).shuffle(facts)
    test, train_facts = facts[:HELD_OUT], facts[HELD_OUT:]
    test_set = tokenize_pairs(tokenizer, *zip(*test, strict=True))
    default = recipe("default")
    model = build_model(replace(default.model, **overrides.get("model", {})), tokenizer, seed=0)
    config = replace(default.train, steps=1500, eval_every=250, save_every=0, log_every=250, compile=False, **overrides.get("train", {}))
    started, curve = time.perf_counter(), []

    def evaluate(net) -> dict:
        curve.append(greedy_l2r_accuracy(net, tokenizer, test_set))
        return {"held_out_accuracy": curve[-1]}

    train(model, tokenize_pairs(tokenizer, *zip(*train_facts, strict=True)), config, mask_id=tokenizer.mask_token_id,
          eval_fn=evaluate, progress=False)
    return {"overrides": overrides, "n_train_facts": len(train_facts), "n_held_out": len(test), "threads": torch.get_num_threads(),
            "seconds": time.perf_counter() - started, "steps": list(range(250, 1501, 250)), "held_out_accuracy": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="?", default="{}", help='JSON, e.g. \'{"train": {"lr": 1e-3}}\'')
    parser.add_argument("--out", default="benchmarks/results/history/drill_probe.json")
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    unknown = set(overrides) - {"model", "train"}
    if unknown:
        raise ValueError(f"overrides may set 'model' and 'train' only, got {sorted(unknown)}")
    result = run(overrides)
    print(json.dumps(result), flush=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[json.dumps(overrides, sort_keys=True)] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
