"""The study's models: one recipe per model, full and smoke sizes, trained and loaded by name.

Recipes (full sizes measured on this 2-core CPU; see README):
- ``default``: the reasoning model, trained on 1-3-step arithmetic with the reasoning template;
- ``answer_only``: same size and budget, trained with no reasoning slot (the value of reasoning);
- ``sudoku``: 4x4 Sudoku, answer slot = the 16 cells (any-order vs left-to-right);
- the fine-tuning experiment's base model is not a separate run: it is the ``default`` run's weights
  at step ``BASE_STEP`` (below its ceiling; issue 3 §5), kept as ``checkpoints/default/step<N>``.

Checkpoints go to ``checkpoints/<name>`` (git-ignored) with the tokenizer and the training history.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from mdlm_study.data import StudyData, study_data, study_tokenizer, write_study_data
from mdlm_study.evaluate import evaluate_arithmetic, evaluate_sudoku, summarize
from mdlm_study.tasks.arithmetic import drills
from mdlm_study.templates import ANSWER_ONLY_TEMPLATE, ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE, Template
from mdlm_study.tiny_model import ModelConfig, build_model, count_parameters, load_tiny
from mdlm_study.train import TrainConfig, tokenize_examples, tokenize_pairs, train


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # "arithmetic" or "sudoku"
    template: Template
    model: ModelConfig
    train: TrainConfig


# Sized for the 30-minute budget on this 2-core CPU, one run at a time with both threads (README):
# fp32 (bf16 is emulated on AVX2-only CPUs), 0.86M parameters, flat loss, a restated number masked
# whenever its source is and also on its own draw ("forward" copy rule: restating is learned in the
# context left-to-right decoding meets), torch.compile where a C++ compiler is found (1.2x here; the
# recipe search and the budget curve in the README say why each choice won).
_MODEL = ModelConfig(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=384, arch="eurobert")
_TRAIN = TrainConfig(steps=9750, batch_size=32, lr=2e-3, warmup=100, eval_every=500, save_every=500, loss_weighting="flat",
                     mask_copies=True, copy_rule="forward", compile=None)
BASE_STEP = 5000  # the fine-tuning experiment's base model: the default run's weights at this step, about half the
# schedule (below its ceiling, good enough to write posterior traces; README: its accuracy in notebook 05)
RECIPES = {
    "default": Recipe("default", "arithmetic", ARITHMETIC_TEMPLATE, _MODEL, _TRAIN),
    "answer_only": Recipe("answer_only", "arithmetic", ANSWER_ONLY_TEMPLATE, _MODEL, _TRAIN),
    "sudoku": Recipe("sudoku", "sudoku", SUDOKU_TEMPLATE, _MODEL, replace(_TRAIN, steps=2000, loss_weighting="elbo", mask_copies=False, copy_rule="tied")),
}
DATA_SIZES = {"n_train": 40_000, "n_test": 300, "n_posterior": 200, "n_sudoku_train": 40_000, "n_sudoku_test": 300}
SMOKE_DATA_SIZES = {"n_train": 600, "n_test": 24, "n_posterior": 12, "n_sudoku_train": 300, "n_sudoku_test": 24}
SMOKE_MODEL = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, arch=_MODEL.arch)


def recipe(name: str, *, smoke: bool = False) -> Recipe:
    """The named recipe; ``smoke`` shrinks it to a seconds-long run with the same code path."""
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(RECIPES)}")
    r = RECIPES[name]
    if smoke:
        r = replace(r, model=SMOKE_MODEL, train=replace(r.train, steps=30, batch_size=16, warmup=5, eval_every=15, save_every=15, log_every=5,
                                                        compile=False))  # compiling takes longer than a smoke run
    return r


def prepare_data(data_dir: str | Path, *, smoke: bool = False, seed: int = 0) -> StudyData:
    """Generate every problem set, write it with its manifest, return it."""
    data = study_data(**(SMOKE_DATA_SIZES if smoke else DATA_SIZES), seed=seed)
    write_study_data(data, data_dir)
    return data


def training_set(r: Recipe, data: StudyData, tokenizer):
    if r.task == "sudoku":
        items = data.sudoku_train
        return tokenize_examples(tokenizer, [p.question for p in items], [""] * len(items), [p.answer for p in items], r.template)
    items = data.arithmetic_train
    reasonings = [p.reasoning if r.template.reasoning_len else "" for p in items]
    return tokenize_examples(tokenizer, [p.question for p in items], reasonings, [p.answer for p in items], r.template)


def drill_set(r: Recipe, data: StudyData, tokenizer):
    """The auxiliary batch source of an arithmetic recipe with ``train.aux_batch_size > 0``: every
    single step the training task allows, ``"47+3="`` -> ``"50"`` (:func:`tasks.arithmetic.drills`),
    the arithmetic a tiny model otherwise has to pick out of whole traces."""
    if r.task != "arithmetic":
        raise ValueError(f"recipe {r.name!r}: arithmetic drills need the arithmetic task, got task {r.task!r}")
    heads, results = zip(*drills(data.arithmetic_config), strict=True)
    return tokenize_pairs(tokenizer, heads, results)


def train_recipe(r: Recipe, data: StudyData, checkpoints_dir: str | Path, *, seed: int = 0, eval_fn=None, resume: bool = False,
                 progress: bool = True) -> dict:
    """Train one recipe from scratch (or resume it); save the checkpoint, the tokenizer and a
    ``training.json`` with the history, the configs, the parameter count and the wall time."""
    out_dir = Path(checkpoints_dir) / r.name
    tokenizer = study_tokenizer(data)
    model = build_model(r.model, tokenizer, seed=seed)
    config = replace(r.train, seed=seed)
    started = time.perf_counter()
    snapshots = ((BASE_STEP if BASE_STEP < config.steps else config.steps // 2),) if r.name == "default" else ()
    aux = drill_set(r, data, tokenizer) if config.aux_batch_size else None
    history = train(model, training_set(r, data, tokenizer), config, mask_id=tokenizer.mask_token_id, out_dir=out_dir,
                    tokenizer=tokenizer, eval_fn=eval_fn, aux=aux, resume=resume and (out_dir / "trainer_state.pt").exists(),
                    snapshots=snapshots, progress=progress)
    record = {
        "recipe": r.name, "task": r.task, "template": dataclasses.asdict(r.template), "model": dataclasses.asdict(r.model),
        "train": dataclasses.asdict(config), "parameters": count_parameters(model), "train_seconds": time.perf_counter() - started,
        "history": history, "snapshots": [f"step{n}" for n in snapshots],
    }
    (out_dir / "training.json").write_text(json.dumps(record, indent=2))
    return record


def base_model_dir(checkpoints_dir: str | Path) -> Path:
    """The fine-tuning experiment's base model: the default run's snapshot."""
    record = json.loads((Path(checkpoints_dir) / "default" / "training.json").read_text())
    return Path(checkpoints_dir) / "default" / record["snapshots"][0]


def load_study_model(name: str, checkpoints_dir: str | Path, *, device: str = "cpu"):
    """(model, tokenizer, recipe record) of a trained study model (``"base"``: the snapshot)."""
    if name == "base":
        model, tokenizer = load_tiny(base_model_dir(checkpoints_dir), device=device)
        return model, tokenizer, {"recipe": "base", "source": str(base_model_dir(checkpoints_dir))}
    path = Path(checkpoints_dir) / name
    model, tokenizer = load_tiny(path, device=device)
    record = json.loads((path / "training.json").read_text()) if (path / "training.json").exists() else {}
    return model, tokenizer, record


def curve_eval_fn(r: Recipe, data: StudyData, tokenizer, n: int = 100):
    """Accuracy during training (greedy left-to-right on the first ``n`` test problems/puzzles)."""
    def evaluate(model) -> dict:
        if r.task == "sudoku":
            return {"eval_accuracy": float(evaluate_sudoku(model, tokenizer, data.sudoku_test[:n], r.template, sampler="l2r")["correct"].mean())}
        summary = summarize(evaluate_arithmetic(model, tokenizer, data.arithmetic_test[:n], r.template, sampler="l2r"))
        return {"eval_accuracy": summary["accuracy"], "eval_trace_accuracy": summary["trace_accuracy"]}

    return evaluate


def training_curve(record: dict) -> pd.DataFrame:
    """A run's history as a table: ``step``, ``minutes`` (wall time of the run at that step;
    interpolated from the step count for runs recorded before wall times were logged), ``loss``
    and the evaluation columns (NaN where a row has none)."""
    table = pd.DataFrame(record["history"]).groupby("step", as_index=False).first()
    if "wall_seconds" not in table:
        table["wall_seconds"] = table["step"] / record["train"]["steps"] * record["train_seconds"]
    table["minutes"] = table.pop("wall_seconds") / 60
    return table


def _as_recorded(config) -> dict:
    """A config as ``training.json`` holds it after the JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _with_later_defaults(recorded: dict, config) -> dict:
    """A recorded config with the fields added to ``config``'s class since that run filled in with
    their defaults (a new field's default is the behaviour runs had before it existed)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
    return {**json.loads(json.dumps(defaults)), **recorded}


def is_trained(name: str, checkpoints_dir: str | Path, r: Recipe) -> bool:
    """True when ``checkpoints/<name>/training.json`` records a finished run of this exact recipe
    (same model, training and template configs)."""
    path = Path(checkpoints_dir) / name / "training.json"
    if not path.exists():
        return False
    record = json.loads(path.read_text())
    same = all(key in record and _with_later_defaults(record[key], config) == _as_recorded(config)
               for key, config in (("model", r.model), ("train", r.train), ("template", r.template)))
    return same and any(h.get("step") == r.train.steps for h in record.get("history", []))


def _cost(name: str, *, smoke: bool) -> int:
    """Relative training cost of a recipe: tokens processed (steps x batch x canvas, with ~32 prompt tokens)."""
    r = recipe(name, smoke=smoke)
    return r.train.steps * r.train.batch_size * (r.template.reasoning_len + r.template.answer_len + 32)


def _lanes(names, n_lanes: int, *, smoke: bool) -> list[list[str]]:
    """Split recipes over ``n_lanes`` parallel workers: most costly first, each to the least-loaded lane."""
    lanes, loads = [[] for _ in range(n_lanes)], [0] * n_lanes
    for name in sorted(names, key=lambda n: -_cost(n, smoke=smoke)):
        lane = loads.index(min(loads))
        lanes[lane].append(name)
        loads[lane] += _cost(name, smoke=smoke)
    return [lane for lane in lanes if lane]


def _train_lane(names, checkpoints_dir, smoke: bool, progress: bool, threads: int) -> dict:
    """One worker: train its recipes in order with ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    data = study_data(**(SMOKE_DATA_SIZES if smoke else DATA_SIZES), seed=0)  # the sets prepare_data wrote, regenerated
    tokenizer = study_tokenizer(data)
    records = {}
    for name in names:
        r = recipe(name, smoke=smoke)
        records[name] = train_recipe(r, data, checkpoints_dir, eval_fn=curve_eval_fn(r, data, tokenizer), progress=progress)
    return records


def train_all(names, data_dir: str | Path, checkpoints_dir: str | Path, *, smoke: bool = False, force: bool = False,
              progress: bool = True, workers: int = 1, threads: int | None = None) -> dict:
    """Generate the data and train every named recipe, skipping finished runs of the same recipe
    (the main command is idempotent); return the training records by name.

    ``workers = 1`` (the study's choice) trains the recipes one after another in this process with
    ``threads`` intra-op threads (default: every core, whatever ``OMP_NUM_THREADS`` the caller was
    started with), so each run gets the whole CPU: one process with 2 threads trains 1.66x faster
    than with one (``benchmarks/bench_training.py``), which is what fits 9,750 steps of the default
    model into the 30-minute budget (19.1 minutes alone, README). ``workers > 1`` trains them in that many processes side by side
    (``threads`` each, default ``cpus // workers``): 17% more tokens/s in total, but every single run
    is slower. Every run is bit-for-bit repeatable given its seed and thread count (compiled runs too:
    ``train.deterministic_kernels``).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    prepare_data(data_dir, smoke=smoke)
    todo = [n for n in names if force or not is_trained(n, checkpoints_dir, recipe(n, smoke=smoke))]
    lanes = _lanes(todo, min(workers, max(len(todo), 1)), smoke=smoke)
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, len(lanes)))
    if len(lanes) <= 1:
        before = torch.get_num_threads()
        try:
            for lane in lanes:
                _train_lane(lane, checkpoints_dir, smoke, progress, threads)
        finally:
            torch.set_num_threads(before)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(lanes), mp_context=context) as pool:
            futures = [pool.submit(_train_lane, lane, str(checkpoints_dir), smoke, False, threads) for lane in lanes]
            for future in futures:
                future.result()
    return {name: json.loads((Path(checkpoints_dir) / name / "training.json").read_text()) for name in names}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train the study's models (skips finished runs).")
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES))
    parser.add_argument("--data", default="data")
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="training processes side by side (1 = one run at a time, in this process)")
    parser.add_argument("--threads", type=int, default=None, help="threads per training process (default: cpus // workers)")
    args = parser.parse_args()
    records = train_all(args.names, args.data, args.checkpoints, smoke=args.smoke, force=args.force, workers=args.workers, threads=args.threads)
    for name, record in records.items():
        print(name, f"{record['train_seconds']:.0f} s", [h for h in record["history"] if "eval_accuracy" in h][-1:])
