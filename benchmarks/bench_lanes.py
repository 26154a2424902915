"""Training lanes on this CPU: one process with every thread, or one-thread processes side by side.

``make reproduce`` trains its models one after another, each with every thread. Two lanes (the deep regime's seed 0
in one, the default regime's models in the other, each process with one thread) would let the notebooks start while
the seed still trains, if two one-thread processes did more steps per minute than one process with both threads.
This measures that, for the study's own recipes as they train (``training.train.train``: the
recipe's config and warm start, compiled where a C++ compiler is found, deterministic kernels):

- seconds per step of each recipe alone with every thread (the layout before), and of the recipes side by side,
  one thread each (the lanes), in windows of ``--window`` steps after ``--warmup`` steps (the compile);
- each lane's share of a whole-CPU run's speed (``lane_share``: seconds per step alone with every thread over
  seconds per step in its lane) and their sum, the lanes' throughput against one run after another (above 1: the
  lanes do more work per minute);
- whether each recipe's weights after the run are the same bit for bit at one thread and at every thread (a run's
  weights are its recipe's, whatever the layout).

Run: ``python benchmarks/bench_lanes.py --out benchmarks/results/machine/lanes.json`` (about 6 minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.records import write_record
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.tiny_model import build_model
from mdlm_study.tasks.data import study_data, study_tokenizer
from mdlm_study.training import recipes
from mdlm_study.training.train import resolved_kernels, train

LANES = ("chains", "default")  # make reproduce's lane A and the first run of its lane B


def prepare(names, directory: Path, *, smoke: bool = False) -> dict[str, Path]:
    """Each recipe's tokenized training set and the study tokenizer, saved once for the workers to load (as
    ``training.recipes._train_lane`` builds them)."""
    tasks = sorted({"arithmetic", "sudoku"} | {recipes.recipe(name).task for name in names})
    data = study_data(seed=0, tasks=tasks, smoke=smoke)
    tokenizer = study_tokenizer(data)
    paths = {}
    for name in names:
        paths[name] = directory / f"{name}.pt"
        torch.save((recipes.training_set(recipes.recipe(name, smoke=smoke), data, tokenizer), tokenizer), paths[name])
    return paths


def measure(name: str, path: str, threads: int, steps: int, window: int, smoke: bool = False) -> dict:
    """Train recipe ``name`` for ``steps`` steps of its own schedule with ``threads`` threads; the seconds per
    step of every ``window`` steps and the final weights' SHA-256 (``smoke``: the recipe's seconds-long version)."""
    torch.set_num_threads(threads)
    examples, tokenizer = torch.load(path, weights_only=False)
    r = recipes.recipe(name, smoke=smoke)
    model = build_model(r.model, tokenizer, seed=0)
    recipes.init_weights(r, model, tokenizer)
    config = replace(r.train, eval_every=0, save_every=0, log_every=window)
    history = train(model, examples, config, mask_id=tokenizer.mask_token_id, stop_after=steps, progress=False)
    walls = [0.0] + [h["wall_seconds"] for h in history if "loss" in h]
    return {"recipe": name, "threads": threads, "steps": steps, "seconds_per_step": [(b - a) / window for a, b in itertools.pairwise(walls)],
            "weights_sha256": weights_sha256(model), "kernels": resolved_kernels(config)}


def _steady(result: dict, warmup_windows: int) -> float:
    """The median seconds per step after the warm-up windows (the compile)."""
    return statistics.median(result["seconds_per_step"][warmup_windows:])


def run(names=LANES, *, warmup: int = 20, window: int = 20, windows: int = 4) -> dict:
    for label, value in (("warmup", warmup), ("window", window), ("windows", windows)):
        int_at_least(label, value)
    if warmup % window:
        raise ValueError(f"warmup must be a multiple of window, got warmup={warmup}, window={window}")
    if len(names) != 2:
        raise ValueError(f"two recipes, one per lane, got {list(names)}")
    cpus = os.cpu_count() or 1
    steps, skip = warmup + window * windows, warmup // window
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare(names, Path(tmp))
        alone = {}
        for name in names:  # one run after another, every thread
            with context.Pool(1) as pool:
                alone[name] = pool.apply(measure, (name, str(paths[name]), cpus, steps, window))
        with context.Pool(2) as pool:  # the lanes: side by side, one thread each
            pending = {name: pool.apply_async(measure, (name, str(paths[name]), 1, steps, window)) for name in names}
            lanes = {name: job.get() for name, job in pending.items()}
    rows = []
    for name in names:
        whole, lane = _steady(alone[name], skip), _steady(lanes[name], skip)
        rows.append({"recipe": name, "seconds_per_step_alone": whole, "alone_threads": cpus, "seconds_per_step_in_lane": lane,
                     "lane_share": whole / lane, "same_weights": alone[name]["weights_sha256"] == lanes[name]["weights_sha256"],
                     "weights_sha256": {f"{cpus}_threads": alone[name]["weights_sha256"], "1_thread": lanes[name]["weights_sha256"]},
                     "windows": {"alone": alone[name]["seconds_per_step"], "lane": lanes[name]["seconds_per_step"]},
                     "kernels": alone[name]["kernels"]})
    return {"steps": steps, "warmup": warmup, "window": window, "rows": rows,
            "lanes_throughput_vs_one_after_another": sum(row["lane_share"] for row in rows)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs=2, default=list(LANES), choices=sorted(recipes.RECIPES))
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/machine/lanes.json")
    args = parser.parse_args(argv)
    result = run(args.recipes, warmup=args.warmup, window=args.window, windows=args.windows)
    write_record(args.out, result, command=["python", "benchmarks/bench_lanes.py", *(argv if argv is not None else sys.argv[1:])])
    for row in result["rows"]:
        print(f"{row['recipe']}: {row['seconds_per_step_alone']:.3f} s/step alone ({row['alone_threads']} threads), "
              f"{row['seconds_per_step_in_lane']:.3f} in a lane (share {row['lane_share']:.2f}), same weights: {row['same_weights']}")
    print(f"lanes against one run after another: {result['lanes_throughput_vs_one_after_another']:.2f}x")
    return result


if __name__ == "__main__":
    main()
