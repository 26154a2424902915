"""One accuracy-versus-NFE frontier: every decoder on every model folder (the training seeds) and
prompt template, on the same problems, one record per (model, template, setting).

Decoders (:func:`decoders`): the paper's (left to right, entropy with k = 1, 2, 4, MED, MED + exit),
the earlier peers (EB-Sampler, Fast-dLLM threshold and factor, Prophet's exit), the newest
training-free ones (WINO, KLASS, PC-Sampler, LocalLeap, each over a small grid of its own parameters)
and MED's early exit combined with each of them. Every record holds accuracy, mean NFE, tokens per
forward and AUP (``mdlm_study.core.frontier``), the seconds it took (``seconds_per_problem``), the
model's name and weights SHA-256, the template's name and the problems' SHA-256. PC-Sampler's
background frequencies come from the posterior split (a corpus disjoint from the test problems).
The frontier per seed and pooled, and how often each decoder is on it: ``frontier.frontier_share``.

Run (one regime, five seeds, two templates; docs/benchmarks.md gives the measured cost per rule):
``python benchmarks/bench_frontier.py --models models/default models/default_seed1 models/default_seed2
models/default_seed3 models/default_seed4 --templates default wide_answer --n-problems 300 --out benchmarks/results/frontier/arithmetic.json``
Which templates a model can take (``--probe-templates``; the second template's choice):
``OMP_NUM_THREADS=1 python benchmarks/bench_frontier.py --models models/default --n-problems 100 --probe-templates --out benchmarks/results/machine/frontier_templates.json``
Cost only (one model, one template, the time per setting and problem):
``OMP_NUM_THREADS=1 python benchmarks/bench_frontier.py --models models/default --templates default --n-problems 50 --out /tmp/frontier_cost.json``
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from mdlm_study.core.records import (
    model_identity,
    problems_sha256,
    result_record,
    script_command,
    write_record,
)
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.recent_rules import background_frequencies
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.tasks.data import read_problems

# The second template widens the answer slot from 4 to 6 positions (two more to fill, and two more
# entropies in the exit's sum). A reasoning slot of another length is not usable with the study's models,
# trained at 24 positions: ``--probe-templates`` measures every candidate (docs/benchmarks.md, "Frontier templates").
TEMPLATES = {"default": ARITHMETIC_TEMPLATE, "wide_answer": replace(ARITHMETIC_TEMPLATE, answer_len=6)}
CANDIDATES = {**TEMPLATES, **{f"reasoning_slot_{n}": replace(ARITHMETIC_TEMPLATE, reasoning_len=n) for n in (20, 26, 28, 32)}}
EXIT = {"exit_gamma": 0.1}  # the paper's exit, combined with every rule


def decoders() -> list[tuple[str, DecodeConfig]]:
    """(decoder family, setting): every decoder of the frontier and its parameter grid."""
    paper = [("l2r", DecodeConfig("l2r"))] + [(f"entropy_k{k}", DecodeConfig("entropy", tokens_per_step=k)) for k in (1, 2, 4)]
    paper += [("med", DecodeConfig("med", med_lambda=lam)) for lam in (0.2, 0.5, 1.0)]
    paper += [("med_exit", DecodeConfig("med", med_lambda=lam, exit_gamma=g)) for lam, g in ((0.2, 0.1), (0.5, 0.1), (1.0, 1.0))]
    peers = [("eb", DecodeConfig("eb", eb_gamma=g)) for g in (0.1, 0.5, 1.0)]
    peers += [("fast_threshold", DecodeConfig("fast_threshold", tau=t)) for t in (0.7, 0.9)]
    peers += [("fast_factor", DecodeConfig("fast_factor", factor=f)) for f in (1.0, 2.0)]
    peers += [("prophet", DecodeConfig("entropy", exit_rule="prophet"))]
    recent = [("wino", DecodeConfig("wino", wino_tau=t, wino_tau_back=0.9)) for t in (0.5, 0.7)]
    recent += [("klass", DecodeConfig("klass", klass_conf=c, klass_kl=0.015, klass_history=2)) for c in (0.6, 0.9)]
    recent += [("pc_sampler", DecodeConfig("pc_sampler", pc_lambda=lam, pc_alpha=10.0)) for lam in (0.0, 0.25)]
    recent += [("local_leap", DecodeConfig("local_leap", leap_tau=0.9, leap_relaxed_tau=r, leap_radius=4)) for r in (0.6, 0.75)]
    combined = [(f"{family}+exit", config.replace(**EXIT)) for family, config in recent[::2]]
    return paper + peers + recent + combined


def prior_corpus(tokenizer, path: str = "data/arithmetic_posterior.jsonl"):
    """PC-Sampler's background frequencies over a reference corpus (the posterior split's texts)."""
    texts = [f"{p.question} {p.reasoning} {p.answer}" for p in read_problems(path)]
    return background_frequencies([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], len(tokenizer))


def run_setting(model, tokenizer, problems, template, config, prior, identity, family) -> dict:
    """Decode and grade ``problems`` with ``config``; the record with the time it took."""
    start = time.perf_counter()
    table = evaluate_arithmetic(model, tokenizer, problems, template, config, batch_size=len(problems),
                                token_prior=prior if config.rule.needs_prior else None)
    seconds = time.perf_counter() - start
    return result_record(config, {**summarize(table), "seconds_per_problem": seconds / len(problems)},
                         {**identity, "decoder": family, "label": config.label()})


def probe_templates(folder: str, problems, out: str) -> None:
    """Which candidate templates the model can take at all: left to right and entropy order, one token
    per pass, on each of :data:`CANDIDATES` (one record each)."""
    loaded = load_model(Path(folder))
    identity = {**model_identity(Path(folder).name, weights_sha256(loaded.model)), "problems_sha256": problems_sha256(problems)}
    records = []
    for name, template in CANDIDATES.items():
        for family, config in (("l2r", DecodeConfig("l2r")), ("entropy_k1", DecodeConfig("entropy"))):
            records.append(run_setting(loaded.model, loaded.tokenizer, problems, template, config, None, {**identity, "template": name}, family))
            print(f"{name} {family}: acc {records[-1]['accuracy']:.3f}", flush=True)
    write_record(out, records, command=script_command(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="model folders (e.g. models/default models/default_seed1 ...)")
    parser.add_argument("--templates", nargs="+", default=["default", "wide_answer"], choices=sorted(TEMPLATES))
    parser.add_argument("--data", default="data/arithmetic_test.jsonl", help="problems file (the study's 300-problem test set)")
    parser.add_argument("--n-problems", type=int, default=300, help="the first N problems of --data")
    parser.add_argument("--only", nargs="*", default=None, help="decoder families to run (default: all)")
    parser.add_argument("--probe-templates", action="store_true", help="only measure which candidate templates the first model can take")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.n_problems < 1:
        raise ValueError(f"--n-problems must be >= 1, got {args.n_problems}")
    settings = [(f, c) for f, c in decoders() if args.only is None or f in args.only]
    problems = read_problems(args.data)[: args.n_problems]
    if args.probe_templates:
        return probe_templates(args.models[0], problems, args.out)
    records = []
    for folder in args.models:
        loaded = load_model(Path(folder))
        model, tokenizer = loaded.model, loaded.tokenizer
        prior = prior_corpus(tokenizer)
        for name in args.templates:
            identity = {**model_identity(Path(folder).name, weights_sha256(model)), "template": name,
                        "problems_sha256": problems_sha256(problems)}
            for family, config in settings:
                records.append(run_setting(model, tokenizer, problems, TEMPLATES[name], config, prior, identity, family))
                r = records[-1]
                print(f"{folder} {name} {r['label']}: acc {r['accuracy']:.3f} NFE {r['mean_nfe']:.2f} TPF {r['tokens_per_forward']:.2f} "
                      f"{r['seconds_per_problem'] * 1000:.1f} ms/problem", flush=True)
            # after every (model, template): a run stopped early keeps what it decoded
            write_record(args.out, records, command=script_command(__file__))


if __name__ == "__main__":
    main()
