"""Compiled training on every core: run-to-run bit identity and its cost in tokens/s.

Trains the default recipe's model (``torch.compile``, both threads) for ``--steps`` steps on the
study's training problems, twice in each of three set-ups, and records each run's tokens/s (the last
logging interval, after the compile) and a SHA-256 of its final weights:

- ``study``: what ``train`` does: input embeddings looked up as ``one_hot @ weight``
  (``kernels.matmul_embedding_gradient``) under deterministic algorithms (``kernels.deterministic_kernels``);
- ``deterministic_kernels_only``: the stock embedding lookup under deterministic algorithms (the
  embedding gradient then takes ``aten.index_put_``'s deterministic kernel);
- ``plain``: neither. Inductor compiles the embedding gradient into ``atomic_add`` across threads, in
  the order the threads finish, so the two runs' hashes differ.

Run (after notebook 01 wrote the data and the tokenizer):
``python benchmarks/bench_determinism.py --out benchmarks/results/machine/determinism.json``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from dataclasses import replace

import torch
from transformers import AutoTokenizer

import mdlm_study.training.train as training
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.tiny_model import build_model
from mdlm_study.tasks.data import read_problems
from mdlm_study.training.recipes import recipe

SETUPS = {  # name: (deterministic kernels, one-hot embedding lookup)
    "study": (True, True),
    "deterministic_kernels_only": (True, False),
    "plain": (False, False),
}


def one_run(data, tokenizer, steps: int, setup: str) -> dict:
    deterministic, one_hot = SETUPS[setup]
    r = recipe("default")
    config = replace(r.train, steps=steps, eval_every=0, save_every=0, log_every=max(1, steps // 4), compile=True)
    model = build_model(r.model, tokenizer, seed=0)
    originals = training.deterministic_kernels, training.matmul_embedding_gradient
    if not deterministic:
        training.deterministic_kernels = lambda enabled: contextlib.nullcontext()
    if not one_hot:
        training.matmul_embedding_gradient = lambda model, enabled: contextlib.nullcontext()
    try:
        history = training.train(model, data, config, mask_id=tokenizer.mask_token_id, progress=False)
    finally:
        training.deterministic_kernels, training.matmul_embedding_gradient = originals
    rates = [h["tokens_per_s"] for h in history if "tokens_per_s" in h]
    return {"setup": setup, "tokens_per_s_last_interval": rates[-1], "weights_sha256": weights_sha256(model)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/arithmetic_train.jsonl")
    parser.add_argument("--tokenizer", default="checkpoints/default")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default="benchmarks/results/machine/determinism.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    problems = read_problems(args.data)[:5000]
    data = training.tokenize_examples(tokenizer, [p.question for p in problems], [p.reasoning for p in problems],
                                      [p.answer for p in problems], recipe("default").template)
    runs = [one_run(data, tokenizer, args.steps, setup) for setup in SETUPS for _ in range(2)]
    for run in runs:
        print(run, flush=True)
    hashes = {setup: [run["weights_sha256"] for run in runs if run["setup"] == setup] for setup in SETUPS}
    results = {"threads": args.threads, "steps": args.steps, "torch": torch.__version__, "runs": runs,
               "identical_run_to_run": {setup: len(set(h)) == 1 for setup, h in hashes.items()}}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}))


if __name__ == "__main__":
    main()
