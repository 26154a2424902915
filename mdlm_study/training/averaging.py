"""Tail averaging: one model made of the uniform mean of a run's last kept weights.

A run's weights at its last step may carry the noise of its last updates: in the deep regime's 12,000-step trial the
kept weights 500 steps apart answered 84.3% and 88.1% of the same 261 development chains
(docs/recipe_history.md, "Early stopping on a 12,000-step schedule"). Averaging the weights of the last few kept
steps of one run (latest weight averaging: Kaddour, 2022, "Stop Wasting My Time! Saving Days of ImageNet and BERT
Training with Latest Weight Averaging"; stochastic weight averaging: Izmailov et al., 2018, for the same mean
taken over a run's late iterates) would remove part of that noise at no training cost: the weights are kept anyway
(``python -m mdlm_study.training.recipes chains --keep-every N``). Measured on two deep-regime runs, it changed nothing:
the means answered within 3 of 1,276 test chains of the weights they average (docs/recipe_history.md, "Averaging the
last kept weights"), so the recipe keeps its last step; the tool stays for runs and schedules where it might matter.

    python -m mdlm_study.training.averaging CKPT/seed0/chains --last 5 --out CKPT/seed0/chains_tail5 \
        --record benchmarks/results/machine/tail5_seed0.json

writes the mean of the run's last five kept weights (:func:`mdlm_study.training.early_stopping.candidates`: the
``step<N>`` snapshots and the run's final weights) as a snapshot folder that every command loading a model takes;
its completion marker names the steps and weights' SHA-256 it was made of, and ``--record`` writes the same as a
record with provenance (the averaged weights' SHA-256 first, as every record names its model).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from mdlm_study.core.records import write_record
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import save_snapshot, verify_checkpoint
from mdlm_study.training.early_stopping import candidates


def average_state_dicts(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of ``states`` (state dicts of one architecture), key by key, summed in float64 and cast
    back to each tensor's dtype. Integer and boolean tensors (counters, masks) are not averaged: they must be
    equal in every state. ``ValueError`` names the first key that is missing, extra, of another shape or dtype,
    or an unequal integer tensor; an empty sequence is a ``ValueError`` too."""
    if not states:
        raise ValueError("need at least one state dict to average, got none")
    first = states[0]
    for index, state in enumerate(states[1:], start=1):
        if set(state) != set(first):
            diff = sorted(set(state) ^ set(first))
            raise ValueError(f"state {index} has other keys than state 0: {diff[:5]}")
    averaged = {}
    for key, reference in first.items():
        tensors = [state[key] for state in states]
        for index, tensor in enumerate(tensors):
            if tensor.shape != reference.shape or tensor.dtype != reference.dtype:
                raise ValueError(f"{key!r}: state {index} holds {tuple(tensor.shape)} {tensor.dtype}, state 0 "
                                 f"{tuple(reference.shape)} {reference.dtype}")
        if reference.is_floating_point():
            total = torch.zeros(reference.shape, dtype=torch.float64)
            for tensor in tensors:
                total += tensor.detach().to(torch.float64)
            averaged[key] = (total / len(tensors)).to(reference.dtype)
        else:
            unequal = [index for index, tensor in enumerate(tensors) if not torch.equal(tensor, reference)]
            if unequal:
                raise ValueError(f"{key!r}: a {reference.dtype} tensor cannot be averaged and differs between "
                                 f"state 0 and state {unequal[0]}")
            averaged[key] = reference.clone()
    return averaged


def tail_average(run_dir: str | Path, last: int, out: str | Path) -> dict:
    """Write the mean of the last ``last`` kept weights of the finished run ``run_dir`` (:func:`candidates`) into the
    snapshot folder ``out``; return what its completion marker records of the sources (their steps, folders and
    weights' SHA-256) and the mean's own SHA-256. ``last`` larger than the kept weights is a ``ValueError``."""
    kept = candidates(run_dir, last=last)  # checks ``last`` and that every averaged folder is there
    if last > len(kept):
        raise ValueError(f"last={last}: {run_dir} keeps only {len(kept)} weights (steps {[step for step, _ in kept]})")
    sources, states = [], []
    for step, folder in kept:
        loaded = load_model(Path(folder))
        sources.append({"step": step, "folder": str(folder), "weights_sha256": loaded.weights_sha256()})
        states.append(loaded.model.state_dict())
    loaded.model.load_state_dict(average_state_dicts(states))
    about = {"averaged_from": sources}
    save_snapshot(loaded.model, Path(out), sources[-1]["step"], loaded.tokenizer, about=about)
    return {**about, "weights_sha256": verify_checkpoint(out)["weights_sha256"]}  # the SHA-256 the snapshot's marker records


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Average a finished run's last kept weights into one model folder.")
    parser.add_argument("run", help="a finished run folder trained with --keep-every (e.g. CKPT/seed0/chains)")
    parser.add_argument("--last", type=int, required=True, help="how many of the last kept weights to average (the final weights included)")
    parser.add_argument("--out", required=True, help="the folder to write the averaged model into")
    parser.add_argument("--record", default=None, help="also write what was averaged as a record with provenance (JSON)")
    args = parser.parse_args(argv)
    made = tail_average(args.run, args.last, args.out)
    if args.record:
        body = {"weights_sha256": made["weights_sha256"], "run": str(args.run), "out": str(args.out), "last": args.last,
                "averaged_from": made["averaged_from"]}
        write_record(Path(args.record), body, command=["python", "-m", "mdlm_study.training.averaging", *(sys.argv[1:] if argv is None else argv)])
    steps = [source["step"] for source in made["averaged_from"]]
    print(f"[average] steps {steps} -> {args.out} (weights {made['weights_sha256'][:12]})", flush=True)
    return made


if __name__ == "__main__":
    main()
