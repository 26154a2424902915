"""The study's models: one recipe per model, full and smoke sizes, trained and loaded by name.

Recipes (full sizes measured on this 2-core CPU; see README):
- ``default``: the reasoning model, trained on 1-3-step arithmetic with the reasoning template;
- ``answer_only``: same size and budget, trained with no reasoning slot (the value of reasoning);
- ``sudoku``: 4x4 Sudoku, answer slot = the 16 cells (any-order vs left-to-right);
- the fine-tuning experiment's base model is not a separate run: it is the ``default`` run's weights
  at step ``BASE_STEP`` (below its ceiling; docs/decisions.md, "Study targets"), kept as ``checkpoints/default/step<N>``.

Checkpoints go to ``checkpoints/<name>`` (git-ignored) with the tokenizer and the training history;
each is complete or absent (``mdlm_study.models.checkpoints.publish_directory``). A run killed part way resumes
from its last checkpoint the next time it is asked for, with bit-identical final weights; its
``training.json`` is written (atomically) only once it finished, with the final weights' SHA-256.
A finished run loads by name: ``mdlm_study.models.load_model(name, checkpoints_dir="checkpoints")``.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.records import machine, write_json_atomic
from mdlm_study.engine.templates import ANSWER_ONLY_TEMPLATE, ARITHMETIC_TEMPLATE, SUDOKU_TEMPLATE, Template
from mdlm_study.experiments.evaluate import evaluate_task, summarize
from mdlm_study.models import load_model, released
from mdlm_study.models.checkpoints import (
    RECORD,
    discard_directory,
    read_record,
    recover_directory,
    verify_checkpoint,
    weights_sha256,
)
from mdlm_study.models.tiny_model import ModelConfig, build_model, count_parameters
from mdlm_study.tasks.arithmetic import drills
from mdlm_study.tasks.builtin import CHAINS_TEMPLATE
from mdlm_study.tasks.data import STUDY_TASKS, StudyData, study_data, study_tokenizer, write_study_data
from mdlm_study.tasks.task import get_task
from mdlm_study.training.tokenized import TokenizedSet, tokenize_examples, tokenize_pairs
from mdlm_study.training.train import TrainConfig, resolved_kernels, train


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # a registered task's name (mdlm_study.tasks): "arithmetic", "chains", "sudoku"
    template: Template
    model: ModelConfig
    train: TrainConfig
    init_from: str | None = None  # a released model (models/<name>) whose weights start the run: a warm start (init_weights)
    keep_every: int | None = None  # also keep the weights every this many steps (snapshot_steps), e.g. for training.early_stopping


# Sized for the 30-minute budget on this 2-core CPU, one run at a time with both threads (README):
# fp32 on every CPU (bf16=False: left to choose, a run takes bf16 autocast where the CPU has native bf16
# kernels, and the default retrained so on an AVX-512 BF16 CPU answered 66.7% against the fp32 release's
# 83.7%; docs/decisions.md, "Numerics across CPUs"), 0.86M parameters, flat loss, a restated number masked
# whenever its source is and also on its own draw ("forward" copy rule: restating is learned in the
# context left-to-right decoding meets), torch.compile where a C++ compiler is found (1.2x here; the
# recipe search and the budget curve in the README say why each choice won).
_MODEL = ModelConfig(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=384, arch="eurobert")
_TRAIN = TrainConfig(steps=9750, batch_size=32, lr=2e-3, warmup=100, eval_every=500, save_every=500, loss_weighting="flat",
                     mask_copies=True, copy_rule="forward", compile=None, bf16=False)
BASE_STEP = 5000  # the fine-tuning experiment's base model: the default run's weights at this step, about half the
# schedule (below its ceiling, good enough to write posterior traces; README: its accuracy in notebook 05)
# The deep regime (tasks.builtin.CHAINS: 2-8-operation chains in the question's order, 64 reasoning
# positions, a training mix leaning to long chains), sized by the search in benchmarks/regime_search.py
# (docs/recipe_history.md, "The deep regime"): preset deep_ordered_long reached 87.5% exact answers with
# reasoning at step 4,000 (blank slot 15%, 200 held-out chains) in 31 minutes on one thread of this CPU, so
# two seeds train side by side. That preset did not hold: its own seeds 0 and 1 reached 4% and 18% (the
# search's run made a transition they did not); a warm start from the default model reaches 96% but keeps a
# 38% blank slot (docs/recipe_history.md, "The recipe's own seeds"). A warm start from the released base
# model (the default run at step 5,000) is accurate on both seeds tried but keeps the blank slot above the
# 25% bound (docs/recipe_history.md, "A warm start from the base snapshot"). Now: a warm start from the
# released steps model (every single step, no composition), for the answer-only twin too (same start, so the
# two differ only by the reasoning slot): blank slot 9% but 40% exact at step 4,000, and on its first seed 72%
# exact with a 12% blank slot at step 6,000 (docs/recipe_history.md, "A warm start from single steps"). At 6,000
# steps its five seeds spread over 64.7 points (seed 4 had not learnt to compose); at 9,000 they land within 3.5
# points, 88.9-92.4% exact on the 1,500 test chains (docs/recipe_history.md, "Seeds 2 and 3 at 9,000 steps"), so
# 9,000 steps: the recipe of record (models/chains and its seeds, models/chains_answer_only; every chains seed starts
# from the same released steps model, so the seed varies the chains training). fp32, as every recipe (_TRAIN).
CHAINS_STEPS = 9000
_CHAINS_MODEL = replace(_MODEL, max_length=192)
_CHAINS_TRAIN = replace(_TRAIN, steps=CHAINS_STEPS, eval_every=1000, save_every=500)
STEPS_STEPS = 3000  # the single-steps warm start (tasks.builtin.STEPS): every step of a chain, each once, about 75 passes over them
_STEPS_TRAIN = replace(_TRAIN, steps=STEPS_STEPS, eval_every=500, save_every=500)
RECIPES = {
    "default": Recipe("default", "arithmetic", ARITHMETIC_TEMPLATE, _MODEL, _TRAIN),
    "answer_only": Recipe("answer_only", "arithmetic", ANSWER_ONLY_TEMPLATE, _MODEL, _TRAIN),
    "sudoku": Recipe("sudoku", "sudoku", SUDOKU_TEMPLATE, _MODEL, replace(_TRAIN, steps=2000, loss_weighting="elbo", mask_copies=False, copy_rule="tied")),
    "steps": Recipe("steps", "steps", ARITHMETIC_TEMPLATE, _MODEL, _STEPS_TRAIN),
    "chains": Recipe("chains", "chains", CHAINS_TEMPLATE, _CHAINS_MODEL, _CHAINS_TRAIN, init_from="steps"),
    "chains_answer_only": Recipe("chains_answer_only", "chains", replace(CHAINS_TEMPLATE, reasoning_len=0), _CHAINS_MODEL, _CHAINS_TRAIN,
                                 init_from="steps"),
}
SMOKE_MODEL = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, arch=_MODEL.arch)


def snapshot_steps(name: str, steps: int, keep_every: int | None = None) -> tuple[int, ...]:
    """The steps at which a run also keeps its weights (``<run>/step<N>``, each a model folder): a reasoning
    recipe's base model for fine-tuning (``default``: :data:`BASE_STEP`; ``chains``: half its schedule), and with
    ``keep_every`` every multiple of it before the last step (the candidates of ``training.early_stopping``; the last
    step's weights are the run's own). Snapshots never change the weights, so they are not part of the run's
    identity: a run resumed with another ``keep_every`` keeps the new cadence from there on."""
    if name == "default":
        base = {BASE_STEP if BASE_STEP < steps else steps // 2}
    else:
        base = {steps // 2} if name == "chains" else set()
    if keep_every is not None:
        base |= set(range(int_at_least("keep_every", keep_every), steps, keep_every))
    return tuple(sorted(base))


def recipe(name: str, *, smoke: bool = False) -> Recipe:
    """The named recipe; ``smoke`` shrinks it to a seconds-long run with the same code path."""
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(RECIPES)}")
    r = RECIPES[name]
    if smoke:
        # no warm start in a smoke run: the released weights are full size (init_weights is tested on its own)
        r = replace(r, model=replace(SMOKE_MODEL, max_length=r.model.max_length), init_from=None, train=replace(r.train, steps=30, batch_size=16, warmup=5, eval_every=15, save_every=15, log_every=5,
                                                        compile=False))  # compiling takes longer than a smoke run
    return r


def prepare_data(data_dir: str | Path, *, smoke: bool = False, seed: int = 0) -> StudyData:
    """Generate every problem set, write it with its manifest, return it."""
    data = study_data(seed=seed, smoke=smoke)
    write_study_data(data, data_dir)
    return data


def ensure_study_data(data_dir: str | Path) -> None:
    """The full-size problem sets in ``data_dir`` (the ones the released models were trained and
    measured on), generated only when one is missing (about half a minute); each is checked against
    the manifest when read."""
    manifest = Path(data_dir) / "manifest.json"
    files = [get_task(task).file(role) for task in STUDY_TASKS for role in get_task(task).splits]
    if not (manifest.is_file() and all((Path(data_dir) / name).is_file() for name in files)):
        print(f"[data] generating the study's problem sets in {data_dir}", flush=True)
        prepare_data(data_dir)


def training_set(r: Recipe, data: StudyData, tokenizer):
    """The recipe's task's training split on the recipe's template (no reasoning without a reasoning slot)."""
    task = get_task(r.task)
    items = data.split(task, "train")
    reasonings = [task.reasoning(p) if r.template.reasoning_len else "" for p in items]
    return tokenize_examples(tokenizer, [task.question(p) for p in items], reasonings, [task.answer(p) for p in items], r.template)


def drill_set(r: Recipe, data: StudyData, tokenizer):
    """The auxiliary batch source of an arithmetic recipe with ``train.aux_batch_size > 0``: every
    single step the training task allows, ``"47+3="`` -> ``"50"`` (:func:`tasks.arithmetic.drills`),
    the arithmetic a tiny model otherwise has to pick out of whole traces."""
    task = get_task(r.task)
    if not task.step_labels:
        raise ValueError(f"recipe {r.name!r}: arithmetic drills need an arithmetic task, got task {r.task!r}")
    heads, results = zip(*drills(task.split_configs["train"]), strict=True)
    return tokenize_pairs(tokenizer, heads, results)


def _data_sha256(*sets: TokenizedSet | None) -> str:
    """SHA-256 of what a run trains on (token ids, masks, copy groups of each batch source)."""
    digest = hashlib.sha256()
    for tokenized in (s for s in sets if s is not None):
        for tensor in (tokenized.input_ids, tokenized.attention_mask, tokenized.response_mask, tokenized.groups):
            if tensor is not None:
                digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_identity(r: Recipe, config: TrainConfig, data_sha256: str, init_sha256: str | None = None) -> dict:
    """What makes two trainings the same run: the recipe (name, task, template, model), the training
    config with its seed, the data, and for a warm start the starting weights' SHA-256. Every checkpoint
    records it; only a checkpoint of the same run is resumed (anything else would mix two trainings)."""
    run = {"recipe": r.name, "task": r.task, "template": dataclasses.asdict(r.template), "model": dataclasses.asdict(r.model),
           "train": dataclasses.asdict(config), "data_sha256": data_sha256}
    if r.init_from is not None:
        run["init_from"] = {"model": r.init_from, "weights_sha256": init_sha256}
    return json.loads(json.dumps(run))


def init_weights(r: Recipe, model, tokenizer) -> str | None:
    """A warm start: load the released model ``r.init_from`` into the freshly built ``model`` and return
    its weights' SHA-256 (None for a cold start). The source must be a study model with the same
    tokenizer (vocabulary and special tokens) and the same parameter names and shapes; anything else is a
    ``ValueError`` naming the mismatch, never a partial load."""
    if r.init_from is None:
        return None
    source = load_model(r.init_from)
    if source.tokenizer.get_vocab() != tokenizer.get_vocab() or source.tokenizer.mask_token_id != tokenizer.mask_token_id:
        raise ValueError(f"recipe {r.name!r}: init_from={r.init_from!r} has another tokenizer than the recipe's task")
    state, own = source.model.state_dict(), model.state_dict()
    mismatched = sorted(k for k in own.keys() | state.keys() if k not in state or k not in own or state[k].shape != own[k].shape)
    if mismatched:
        raise ValueError(f"recipe {r.name!r}: init_from={r.init_from!r} does not fit the recipe's model; mismatched parameters {mismatched[:5]}")
    model.load_state_dict(state, strict=True)
    return source.weights_sha256()


@contextmanager
def _exclusive(out_dir: Path):
    """An exclusive lock on a run directory while it trains (``.<name>.lock`` beside it; released when
    the process ends, however): a second process asked to train the same recipe into the same place
    gets a ``ValueError`` instead of racing this one's checkpoints."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with out_dir.with_name(f".{out_dir.name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{out_dir}: another process is training into it") from None
        yield


def discard_run(out_dir: str | Path) -> None:
    """Delete a run directory, its completion record (``training.json``) first, so that no remnant of
    it can pass for finished or be resumed (``force``, or a directory holding another run)."""
    discard_directory(out_dir, first=(RECORD,))


def _resumable(out_dir: Path, run: dict, *, force: bool) -> dict | None:
    """The completion marker of the checkpoint to resume, or None to start over. Writes a kill
    interrupted are finished or undone first (``train.recover_directory``); a complete checkpoint of
    this very run is resumed unless ``force``; anything else in ``out_dir`` is discarded."""
    recover_directory(out_dir)
    if not force and out_dir.is_dir():
        try:
            marker = verify_checkpoint(out_dir)
        except ValueError:
            marker = None
        if marker is not None and marker.get("kind") == "checkpoint" and marker.get("run") == run:
            return marker
    discard_run(out_dir)
    return None


def train_recipe(r: Recipe, data: StudyData, checkpoints_dir: str | Path, *, seed: int = 0, eval_fn=None, force: bool = False,
                 progress: bool = True, report: bool = True, until: int | None = None) -> dict:
    """Train one recipe into ``checkpoints_dir/<name>``; return its record (``training.json``: the
    history, the configs, the parameter count, the wall time of every session, the snapshots and the
    final weights' SHA-256).

    A finished run of the same recipe and seed is returned as recorded (:func:`is_trained`); an
    unfinished one resumes from its last complete checkpoint (the same final weights, bit for bit, as
    an uninterrupted run); anything else in the directory is discarded and training starts over.
    ``force`` starts over in any case, deleting the old completion record first, so an interrupted
    forced retrain can never pass for finished. ``report`` prints progress lines (``[train <name>] step
    ...``) to stdout; ``progress`` shows a tqdm bar in an interactive terminal.

    ``until`` stops the run after that step (:func:`check_until`), the recipe's schedule unchanged: a
    checkpoint and the snapshots up to it are kept, no ``training.json`` is written (the run is not
    finished, and a later call without ``until`` resumes it to the same final weights). The seeds' base
    snapshots for the fine-tuning experiment come so, without training the rest. Returns then
    ``{"recipe", "finished": False, "stopped_at", "snapshots", "train_seconds"}``."""
    out_dir = Path(checkpoints_dir) / r.name
    config = replace(r.train, seed=seed)
    check_until(until, config.steps)
    with _exclusive(out_dir):
        if not force and is_trained(r.name, checkpoints_dir, replace(r, train=config)):
            return read_record(out_dir)
        tokenizer = study_tokenizer(data)
        model = build_model(r.model, tokenizer, seed=seed)
        init_sha256 = init_weights(r, model, tokenizer)
        started = time.perf_counter()
        snapshots = snapshot_steps(r.name, config.steps, r.keep_every)
        aux = drill_set(r, data, tokenizer) if config.aux_batch_size else None
        examples = training_set(r, data, tokenizer)
        run = run_identity(r, config, _data_sha256(examples, aux), init_sha256)
        marker = _resumable(out_dir, run, force=force)
        history = train(model, examples, config, mask_id=tokenizer.mask_token_id, out_dir=out_dir, tokenizer=tokenizer, eval_fn=eval_fn,
                        aux=aux, resume=marker is not None, snapshots=snapshots, progress=progress, report=r.name if report else None,
                        run=run, stop_after=until)
        prior = float(marker.get("wall_seconds", 0.0)) if marker is not None else 0.0
        if until is not None and until < config.steps:
            return {"recipe": r.name, "finished": False, "stopped_at": until, "snapshots": [f"step{n}" for n in snapshots if n <= until],
                    "train_seconds": prior + time.perf_counter() - started}
        record = {
            "recipe": r.name, "task": r.task, "template": dataclasses.asdict(r.template), "model": dataclasses.asdict(r.model),
            "train": dataclasses.asdict(config), "parameters": count_parameters(model), "train_seconds": prior + time.perf_counter() - started,
            # the snapshots kept: a run resumed with a new keep_every has none from before it
            "history": history, "snapshots": [f"step{n}" for n in snapshots if (out_dir / f"step{n}").is_dir()], "weights_sha256": weights_sha256(model),
            "init_from": run.get("init_from"),
            # the machine of the session that finished the run (a resumed run's earlier sessions may have run elsewhere)
            "machine": {**machine(), **resolved_kernels(config), "resumed": marker is not None},
        }
        write_json_atomic(out_dir / RECORD, record)
    return record


def check_until(until: int | None, steps: int) -> None:
    """``until`` (the step a run stops after) is None or a step of the run, 1..``steps`` (``ValueError`` naming it)."""
    if until is None:
        return
    if not isinstance(until, int) or isinstance(until, bool) or not 1 <= until <= steps:
        raise ValueError(f"until must be a step of the run, an integer in 1..{steps}, got {until!r}")


def curve_eval_fn(r: Recipe, data: StudyData, tokenizer, n: int = 100):
    """Accuracy during training (greedy left-to-right on the first ``n`` test problems of the recipe's task)."""
    task = get_task(r.task)

    def evaluate(model) -> dict:
        table = evaluate_task(task, model, tokenizer, data.split(task, "test")[:n], r.template, sampler="l2r")
        if not task.step_labels:
            return {"eval_accuracy": float(table["correct"].mean())}
        summary = summarize(table)
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
    """True when ``checkpoints/<name>`` holds a finished run of this exact recipe: its
    ``training.json`` records one (same model, training and template configs, the last step reached),
    the directory is a complete checkpoint of that last step (completion marker, every file's SHA-256),
    and the weights on disk hash to the ``weights_sha256`` both records hold."""
    out_dir = Path(checkpoints_dir) / name
    try:
        record = read_record(out_dir)
    except ValueError:
        return False
    same = all(key in record and isinstance(record[key], dict) and _with_later_defaults(record[key], config) == _as_recorded(config)
               for key, config in (("model", r.model), ("train", r.train), ("template", r.template)))
    if not (same and any(isinstance(h, dict) and h.get("step") == r.train.steps for h in record.get("history", []))):
        return False
    if (record.get("init_from") or {}).get("model") != r.init_from:
        return False
    try:
        marker = verify_checkpoint(out_dir)
        load_model(name, checkpoints_dir=checkpoints_dir)  # strict: the marker's and the record's weights SHA-256
    except ValueError:
        return False
    return marker.get("step") == r.train.steps and record.get("weights_sha256") == marker.get("weights_sha256")


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


def with_steps(r: Recipe, steps: int | None) -> Recipe:
    """``r`` trained for ``steps`` steps instead of its own (a recipe trial: the cosine schedule spans the new
    length and the run's record keeps it); ``r`` itself when ``steps`` is None."""
    return trial_recipe(r, steps=steps)


def trial_recipe(r: Recipe, *, steps: int | None = None, layers: int | None = None, init_from: str | Path | None = None,
                 batch_size: int | None = None, keep_every: int | None = None, aux_batch_size: int | None = None) -> Recipe:
    """``r`` with a recipe trial's changes; ``r`` itself without any. Each change left None keeps the recipe's own:

    - ``steps``: the schedule's length (the cosine schedule spans the new one);
    - ``layers``: the model's depth (the one-pass composition lever: a shallower model composes fewer chain steps
      without writing them);
    - ``batch_size``: examples per step (the gradient-noise lever, with the steps scaled down as much);
    - ``aux_batch_size``: that many arithmetic drills beside every batch (:func:`drill_set`: every single step the
      task allows, ``"47+3="`` -> ``"50"``; the arithmetic-slip lever: a wrong result under right operands is most
      of the chains seeds' wrong answers, docs/recipe_history.md); 0 takes a recipe's drills away;
    - ``init_from``: the warm start, a released model's name or a finished run's folder as
      :func:`mdlm_study.models.loader.load_model` reads it (:func:`init_weights` checks that it fits);
    - ``keep_every``: keep the weights every that many steps as well (:func:`snapshot_steps`; the weights do not
      change, so neither does the run's identity).

    The run's identity and record keep the model and training configs and the start's SHA-256, so a trial never
    resumes into or passes for the recipe's own run; it trains into a checkpoints folder of its own."""
    for name, value in (("steps", steps), ("layers", layers), ("batch_size", batch_size), ("keep_every", keep_every)):
        if value is not None:
            int_at_least(name, value)
    if aux_batch_size is not None:
        int_at_least("aux_batch_size", aux_batch_size, 0)
    if init_from is not None and not str(init_from).strip():
        raise ValueError(f"init_from must name a model or a run folder, got {init_from!r}")
    if all(value is None for value in (steps, layers, batch_size, init_from, keep_every, aux_batch_size)):
        return r
    changes = (("steps", steps), ("batch_size", batch_size), ("aux_batch_size", aux_batch_size))
    train = replace(r.train, **{key: value for key, value in changes if value is not None})
    model = r.model if layers is None else replace(r.model, num_layers=layers)
    return replace(r, model=model, train=train, init_from=r.init_from if init_from is None else str(init_from),
                   keep_every=r.keep_every if keep_every is None else keep_every)


def _train_lane(names, checkpoints_dir, smoke: bool, progress: bool, threads: int, force: bool = False, report: bool = True,
                seed: int = 0, trial: dict | None = None, until: int | None = None) -> dict:
    """One worker: train (or resume) its recipes in order with ``threads`` intra-op threads; ``trial`` holds
    :func:`trial_recipe`'s changes."""
    torch.set_num_threads(threads)
    tasks = sorted({"arithmetic", "sudoku"} | {recipe(name, smoke=smoke).task for name in names})  # the tokenizer's texts + what the lane trains on
    data = study_data(smoke=smoke, tasks=tasks, seed=0)  # the sets prepare_data wrote, regenerated (each split from its own seed)
    tokenizer = study_tokenizer(data)
    records = {}
    for name in names:
        r = trial_recipe(recipe(name, smoke=smoke), **(trial or {}))
        records[name] = train_recipe(r, data, checkpoints_dir, seed=seed, eval_fn=curve_eval_fn(r, data, tokenizer), force=force,
                                     progress=progress, report=report, until=until)
    return records


def train_all(names, data_dir: str | Path, checkpoints_dir: str | Path, *, smoke: bool = False, force: bool = False,
              progress: bool = True, workers: int = 1, threads: int | None = None, report: bool = True, seed: int = 0,
              steps: int | None = None, until: int | None = None, layers: int | None = None, init_from: str | Path | None = None,
              batch_size: int | None = None, keep_every: int | None = None, aux_batch_size: int | None = None) -> dict:
    """Generate the data and train every named recipe, skipping finished runs of the same recipe
    (the main command is idempotent) and resuming unfinished ones from their last checkpoint
    (:func:`train_recipe`; ``force`` retrains from scratch); return the training records by name.

    Progress: ``report`` (on by default) prints plain lines such as ``[train default] step 1500/9750
    loss 0.412 acc 0.44 14.7k tok/s 16m left`` to stdout at least every minute, which stream through
    papermill; ``progress`` adds a tqdm bar, only in an interactive terminal.

    ``workers = 1`` trains the recipes one after another in this process with ``threads`` intra-op threads
    (default: every core, whatever ``OMP_NUM_THREADS`` the caller was started with), so each run gets the whole
    CPU and finishes soonest: one process with 2 threads trains 1.66x faster than with one
    (``benchmarks/bench_training.py``), which is what fits 9,750 steps of the default model into the
    30-minute budget (19.1 minutes alone, README). ``workers > 1`` trains them in that many processes side by
    side (``threads`` each, default ``cpus // workers``): every single run slower; whether more steps per minute in total is not settled on a 2-core AMD EPYC
    Zen 3 (1.23x in ``benchmarks/bench_lanes.py``'s record, about 1.05x in an interrupted ``make reproduce``;
    docs/benchmarks.md). A run's weights
    depend on its seed, not on its thread count or layout (compiled runs too: ``kernels.deterministic_kernels``; the
    default trained with one thread beside another run came out bit-identical to its two-thread release).
    ``seed`` is the training seed (initialisation, batches, masks; the data stay seed 0's): the seeds study trains ``default`` with seeds 1-4 into folders of their
    own, ``CKPT/seed<N>`` (``make seeds-retrain``). ``steps`` trains every named recipe for that many steps
    instead of its own (:func:`with_steps`; a recipe trial, into a checkpoints folder of its own). ``until``
    stops every run after that step, unfinished (:func:`train_recipe`; its record is the partial one).
    ``layers``, ``init_from``, ``batch_size`` and ``aux_batch_size`` are the other trial changes (:func:`trial_recipe`):
    a model of that many layers, a warm start from that model or finished run folder, that many examples per step,
    that many arithmetic drills beside each batch;
    ``keep_every`` keeps the weights every that many steps too (the candidates of ``training.early_stopping``).
    """
    int_at_least("workers", workers)
    if threads is not None:
        int_at_least("threads", threads)
    int_at_least("seed", seed, 0)
    trial = {"steps": steps, "layers": layers, "init_from": init_from, "batch_size": batch_size, "keep_every": keep_every,
             "aux_batch_size": aux_batch_size}
    recipes = {n: trial_recipe(recipe(n, smoke=smoke), **trial) for n in names}  # unknown names and bad changes fail before any work
    recipes = {n: replace(r, train=replace(r.train, seed=seed)) for n, r in recipes.items()}  # what train_recipe records
    for r in recipes.values():
        check_until(until, r.train.steps)
    if released.is_release_dir(checkpoints_dir):  # the released models: nothing to train, their records as written
        ensure_study_data(data_dir)
        print(f"[train] {', '.join(names)}: released models in {checkpoints_dir}, not trained", flush=True)
        return {name: released.released_record(name, checkpoints_dir) for name in names}
    prepare_data(data_dir, smoke=smoke)
    todo = [n for n in names if force or not is_trained(n, checkpoints_dir, recipes[n])]
    lanes = _lanes(todo, min(workers, max(len(todo), 1)), smoke=smoke)
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, len(lanes)))
    trained = {}
    if len(lanes) <= 1:
        before = torch.get_num_threads()
        try:
            for lane in lanes:
                trained.update(_train_lane(lane, checkpoints_dir, smoke, progress, threads, force, report, seed, trial, until))
        finally:
            torch.set_num_threads(before)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(lanes), mp_context=context) as pool:
            futures = [pool.submit(_train_lane, lane, str(checkpoints_dir), smoke, False, threads, force, report, seed, trial, until)
                       for lane in lanes]
            for future in futures:
                trained.update(future.result())
    return {name: trained[name] if trained.get(name, {}).get("finished") is False else read_record(Path(checkpoints_dir) / name)
            for name in names}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train the study's models (skips finished runs).")
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES))
    parser.add_argument("--data", default="data")
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="training processes side by side (1 = one run at a time, in this process)")
    parser.add_argument("--threads", type=int, default=None, help="threads per training process (default: cpus // workers)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the seeds study: 1-4, each into its own --checkpoints folder)")
    parser.add_argument("--steps", type=int, default=None, help="train for this many steps instead of the recipe's (a recipe trial)")
    parser.add_argument("--until", type=int, default=None, help="stop after this step, unfinished, the schedule unchanged (e.g. a "
                                                                  "seed's base snapshot: --until 5000); rerun without it to finish")
    parser.add_argument("--layers", type=int, default=None, help="a model of this many layers instead of the recipe's (a recipe trial)")
    parser.add_argument("--init-from", default=None, help="warm-start from this released model or finished run folder instead of the "
                                                          "recipe's start (a recipe trial)")
    parser.add_argument("--batch-size", type=int, default=None, help="this many examples per step instead of the recipe's (a recipe trial)")
    parser.add_argument("--aux-batch-size", type=int, default=None, help="this many arithmetic drills beside every batch (a recipe trial)")
    parser.add_argument("--keep-every", type=int, default=None, help="also keep the weights every this many steps (<run>/step<N>: the "
                                                                     "candidates of python -m mdlm_study.training.early_stopping)")
    args = parser.parse_args()
    records = train_all(args.names, args.data, args.checkpoints, smoke=args.smoke, force=args.force, workers=args.workers, threads=args.threads,
                        seed=args.seed, steps=args.steps, until=args.until, layers=args.layers, init_from=args.init_from,
                        batch_size=args.batch_size, keep_every=args.keep_every, aux_batch_size=args.aux_batch_size)
    for name, record in records.items():
        if record.get("finished") is False:
            print(name, f"{record['train_seconds']:.0f} s", f"stopped after step {record['stopped_at']}, snapshots {record['snapshots']}")
        else:
            print(name, f"{record['train_seconds']:.0f} s", [h for h in record["history"] if "eval_accuracy" in h][-1:])
