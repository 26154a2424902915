"""Speed of the sampler engine: selection overhead, batching, NFE and time per rule.

- overhead: wall time of ``generate`` minus the time spent inside the model, per step, as a fraction
  of one model forward at batch 256 (target: <= 10%);
- batching: problems per second at batch 256 against one problem at a time (target: >= 20x; the
  one-at-a-time time is measured on 32 problems and scaled, as recorded in the JSON), and the same
  ratio for the model's forward alone (``forward_only_speedup``): the ceiling for any engine, since
  the engine can only add per-step work on top of the forward;
- per rule: mean NFE and wall time per problem on canvases of random prompt tokens, with the model
  as it is (a random one, or the ``--checkpoint``) and "sharpened" (logits x 20), whose low
  entropies let the adaptive rules commit many tokens per step. (NFE and accuracy of every rule on
  the real test problems: notebook 03 and ``benchmarks/bench_decoding.py``.)

- finite check: the time the engine spends checking every decoded position's logits for NaN and +inf
  (``engine._check_finite``, every step), as a fraction of the forward passes.

Run: ``python benchmarks/bench_sampling.py --out benchmarks/results/machine/sampling.json``
(``--checkpoint checkpoints/default`` times the trained default model instead of a random one; ``models/default``
the released one).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from mdlm_study.core.records import write_record
from mdlm_study.engine import generate
from mdlm_study.engine import loop as engine
from mdlm_study.models import load_model
from mdlm_study.models.tiny_model import build_model
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.training.recipes import RECIPES

RULE_PARAMS = {"l2r": {}, "random": {}, "confidence": {}, "margin": {}, "entropy": {}, "med": {"med_lambda": 0.2},
               "med_budget": {"med_lambda": 0.2}, "eb": {"eb_gamma": 0.2}, "fast_threshold": {"tau": 0.9}, "fast_factor": {"factor": 1.0}}


class TimedFiniteCheck:
    """Replaces the engine's finite-logit check with a timed copy while in use."""

    def __init__(self):
        self.seconds, self.calls, self._real = 0.0, 0, engine._check_finite

    def __call__(self, *args):
        start = time.perf_counter()
        self._real(*args)
        self.seconds += time.perf_counter() - start
        self.calls += 1

    def __enter__(self):
        engine._check_finite = self
        return self

    def __exit__(self, *exc):
        engine._check_finite = self._real


class TimedModel:
    """Wraps a model; accumulates the time spent in forward passes."""

    def __init__(self, model, scale: float = 1.0):
        self.model, self.scale, self.seconds, self.calls = model, scale, 0.0, 0

    def __call__(self, input_ids, attention_mask=None):
        start = time.perf_counter()
        with torch.no_grad():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits * self.scale
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return logits


def canvases(tokenizer, batch: int, width: int, n_masked: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, len(tokenizer), (batch, width), generator=g)
    ids[:, width - n_masked :] = tokenizer.mask_token_id
    return ids


def run(model, ids, mask_id, sampler, **kwargs) -> dict:
    timed = TimedModel(model, kwargs.pop("scale", 1.0))
    start = time.perf_counter()
    out = generate(timed, ids, sampler=sampler, mask_id=mask_id, generator=torch.Generator().manual_seed(0), **kwargs)
    total = time.perf_counter() - start
    return {"seconds": total, "model_seconds": timed.seconds, "steps": timed.calls, "mean_nfe": float(out.nfe.float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/machine/sampling.json")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=62)
    parser.add_argument("--masked", type=int, default=28)
    args = parser.parse_args()
    if args.checkpoint:
        loaded = load_model(args.checkpoint)  # a released model's name, a trained checkpoint or a released model's folder
        model, tokenizer = loaded.model, loaded.tokenizer
    else:
        tokenizer = build_tokenizer(["Tom has 12 apples. He buys 3 more. How many apples now?\n12+3=15\n#### 15"])
        model = build_model(RECIPES["default"].model, tokenizer, seed=0).eval()
    mask = tokenizer.mask_token_id
    ids = canvases(tokenizer, args.batch, args.width, args.masked)
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
               "batch": args.batch, "width": args.width, "masked": args.masked, "checkpoint": args.checkpoint}
    run(model, ids[:8], mask, "entropy")  # warm-up
    with TimedFiniteCheck() as check:
        full = run(model, ids, mask, "entropy")
    results["finite_check"] = {"seconds_per_step": check.seconds / full["steps"], "fraction_of_forward": check.seconds / full["model_seconds"]}
    per_step_overhead = (full["seconds"] - full["model_seconds"]) / full["steps"]
    per_forward = full["model_seconds"] / full["steps"]
    results["overhead"] = {"selection_seconds_per_step": per_step_overhead, "forward_seconds": per_forward,
                           "fraction_of_forward": per_step_overhead / per_forward, "target": "<= 0.10"}
    singles = [run(model, ids[i : i + 1], mask, "entropy") for i in range(32)]
    one_at_a_time = sum(r["seconds"] for r in singles) / 32 * args.batch
    forward_one_at_a_time = sum(r["model_seconds"] for r in singles) / 32 * args.batch
    results["batching"] = {"batch_seconds": full["seconds"], "one_at_a_time_seconds_extrapolated_from_32": one_at_a_time,
                           "speedup": one_at_a_time / full["seconds"], "target": ">= 20",
                           # the model's forward alone, batch 256 vs one row at a time: the ceiling of any engine's speed-up
                           "forward_only_speedup": forward_one_at_a_time / full["model_seconds"]}
    rules = {}
    for name, params in RULE_PARAMS.items():
        for label, scale in (("checkpoint" if args.checkpoint else "random_model", 1.0), ("sharpened_x20", 20.0)):
            r = run(model, ids, mask, name, scale=scale, temperature=0.0, **params)
            rules[f"{name}/{label}"] = {"mean_nfe": r["mean_nfe"], "seconds_per_problem": r["seconds"] / args.batch, **params}
    results["rules"] = rules
    write_record(args.out, results)
    print(json.dumps({k: results[k] for k in ("overhead", "batching", "finite_check")}, indent=2))


if __name__ == "__main__":
    main()
