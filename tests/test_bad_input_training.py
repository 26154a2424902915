"""Bad training input: corrupt or incomplete checkpoints, foreign runs, wrong recipe names and bad
config values are each refused with a ValueError naming the directory, file, tensor or setting,
instead of a run that silently resumes from mixed state or loads a randomly initialised tensor."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from bad_input import Case, check
from safetensors.torch import load_file, save_file

from mdlm_study.engine.templates import Template
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import MARKER, _file_record
from mdlm_study.models.tiny_model import ModelConfig, build_model, load_tiny
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.training.recipes import _exclusive, recipe, train_all
from mdlm_study.training.tokenized import tokenize_examples
from mdlm_study.training.train import TrainConfig, train

SMALL = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
CONFIG = TrainConfig(steps=4, batch_size=4, warmup=1, eval_every=0, save_every=2, log_every=2, bf16=False, compile=False)


@cache
def _setup():
    """(tokenizer, tokenized data) of a few problems, and a directory holding a finished 4-step run
    (``run``: its final checkpoint, with the snapshot ``run/step2``)."""
    root = Path(tempfile.mkdtemp(prefix="bad_input_training_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    problems = generate_problems(ArithmeticConfig(), 16, seed=0)
    tokenizer = build_tokenizer([p.question + "\n" + p.gsm8k_answer for p in problems])
    data = tokenize_examples(tokenizer, [p.question for p in problems], [p.reasoning for p in problems], [p.answer for p in problems],
                             Template())
    train(build_model(SMALL, tokenizer, seed=0), data, CONFIG, mask_id=tokenizer.mask_token_id, out_dir=root / "run", tokenizer=tokenizer,
          snapshots=(2,), progress=False)
    return root, tokenizer, data


def _copy(change=None) -> Path:
    """A fresh copy of the finished run, passed through ``change(directory)`` (which breaks it)."""
    root = _setup()[0]
    directory = Path(tempfile.mkdtemp(dir=root)) / "run"
    shutil.copytree(root / "run", directory)
    if change is not None:
        change(directory)
    return directory


def _resume(directory: Path, config: TrainConfig = CONFIG, **kwargs):
    _, tokenizer, data = _setup()
    return train(build_model(SMALL, tokenizer, seed=0), data, config, mask_id=tokenizer.mask_token_id, out_dir=directory, resume=True,
                 progress=False, **kwargs)


def _reseal(directory: Path) -> None:
    """Rewrite the marker's file list to match the files as they are now: a forged but self-consistent
    marker, so the weights' own checks are what must catch the change."""
    marker = json.loads((directory / MARKER).read_text())
    marker["files"] = {name: _file_record(directory / name) for name in marker["files"]}
    (directory / MARKER).write_text(json.dumps(marker))


def _edit_weights(directory: Path, edit, *, reseal: bool = True) -> None:
    tensors = load_file(directory / "model.safetensors")
    edit(tensors)
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    if reseal:
        _reseal(directory)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))


def _external(edit) -> Path:
    """A plain Hugging Face folder (no marker) with its weights passed through ``edit``."""
    directory = _copy(lambda d: (d / MARKER).unlink())
    _edit_weights(directory, edit, reseal=False)
    return directory


def _study_dir(record: dict | None) -> Path:
    """A checkpoints directory whose ``default`` is the finished run, with ``record`` as its
    ``training.json`` (None: none, as after a kill before the run finished)."""
    run = _copy()
    study = run.parent / "checkpoints"
    study.mkdir()
    run.rename(study / "default")
    if record is not None:
        (study / "default" / "training.json").write_text(json.dumps(record))
    return study


def _locked_twice():
    directory = Path(tempfile.mkdtemp(dir=_setup()[0])) / "default"
    with _exclusive(directory), _exclusive(directory):
        return "trained twice at once"


CASES = [
    Case("training", "unknown recipe", lambda: recipe("huge"), match=r"unknown model 'huge'; expected one of"),
    Case("training", "train_all with an unknown recipe", lambda: train_all(["default", "huge"], _setup()[0] / "d", _setup()[0] / "c"),
         match=r"unknown model 'huge'"),
    Case("training", "zero steps", lambda: TrainConfig(steps=0), match=r"steps must be an int >= 1, got 0"),
    Case("training", "negative learning rate", lambda: TrainConfig(lr=-1.0), match=r"lr must be > 0, got -1"),
    Case("training", "eps outside (0, 1)", lambda: TrainConfig(eps=1.5), match=r"eps must be in \(0, 1\), got 1\.5"),
    Case("training", "unknown copy rule", lambda: TrainConfig(copy_rule="both"), match=r"copy_rule must be one of .* got 'both'"),
    Case("training", "log_every zero", lambda: TrainConfig(log_every=0), match=r"log_every must be an int >= 1, got 0"),
    Case("training", "negative warm-up", lambda: TrainConfig(warmup=-1), match=r"warmup must be an int >= 0, got -1"),
    Case("training", "fractional batch size", lambda: TrainConfig(batch_size=2.5), match=r"batch_size must be an int >= 1, got 2\.5"),
    Case("training", "heads do not divide the width", lambda: ModelConfig(hidden_size=30, num_heads=4),
         match=r"hidden_size=30 must be divisible by num_heads=4"),
    Case("training", "zero workers", lambda: train_all(["sudoku"], _setup()[0] / "d", _setup()[0] / "c", smoke=True, workers=0),
         match=r"workers must be an int >= 1, got 0"),
    Case("training", "checkpoint without its completion marker", lambda: load_tiny(_copy(lambda d: (d / MARKER).unlink())),
         match=r"run is not a complete checkpoint: no checkpoint\.json"),
    Case("training", "checkpoint missing its weights", lambda: load_tiny(_copy(lambda d: (d / "model.safetensors").unlink())),
         match=r"run is not a complete checkpoint: missing model\.safetensors"),
    Case("training", "resume without optimiser state", lambda: _resume(_copy(lambda d: (d / "trainer_state.pt").unlink())),
         match=r"run is not a complete checkpoint: missing trainer_state\.pt"),
    Case("training", "one flipped bit in the weights", lambda: load_tiny(_copy(lambda d: _flip_a_byte(d / "model.safetensors"))),
         match=r"model\.safetensors: \d+ bytes with SHA-256 [0-9a-f]{64}, but checkpoint\.json records"),
    Case("training", "truncated optimiser state",
         lambda: _resume(_copy(lambda d: (d / "trainer_state.pt").write_bytes((d / "trainer_state.pt").read_bytes()[:1000]))),
         match=r"trainer_state\.pt: 1000 bytes with SHA-256 [0-9a-f]{64}, but checkpoint\.json records"),
    Case("training", "truncated completion marker",
         lambda: load_tiny(_copy(lambda d: (d / MARKER).write_text((d / MARKER).read_text()[:50]))),
         match=r"checkpoint\.json: unreadable completion marker"),
    Case("training", "marker without a file list", lambda: load_tiny(_copy(lambda d: (d / MARKER).write_text('{"step": 4}'))),
         match=r"checkpoint\.json: not a completion marker \(needs 'step' and 'files'\)"),
    Case("training", "resume a checkpoint missing a tensor (forged marker)",
         lambda: _resume(_copy(lambda d: _edit_weights(d, lambda t: t.pop("model.norm.weight")))),
         match=r"run: the weights do not fit the architecture \(missing tensors: model\.norm\.weight\)"),
    Case("training", "load a checkpoint missing a tensor (forged marker)",
         lambda: load_tiny(_copy(lambda d: _edit_weights(d, lambda t: t.pop("model.norm.weight")))),
         match=r"run: the weights do not fit the architecture in its config\.json \(missing tensors: model\.norm\.weight\)"),
    Case("training", "resume a checkpoint with a reshaped tensor (forged marker)",
         lambda: _resume(_copy(lambda d: _edit_weights(d, lambda t: t.update({"model.norm.weight": t["model.norm.weight"][:8]})))),
         match=r"wrong shapes: model\.norm\.weight \(8,\) != \(32,\)"),
    Case("training", "changed weight values (forged file hashes)",
         lambda: load_tiny(_copy(lambda d: _edit_weights(d, lambda t: t["model.norm.weight"].add_(1.0)))),
         match=r"run: loaded weights have SHA-256 [0-9a-f]{64}, but checkpoint\.json records"),
    Case("training", "external folder missing a tensor",
         lambda: load_tiny(_external(lambda t: t.pop("model.layers.0.mlp.up_proj.weight")), external=True),
         match=r"missing tensors: model\.layers\.0\.mlp\.up_proj\.weight"),
    Case("training", "external folder with an extra tensor",
         lambda: load_tiny(_external(lambda t: t.update({"extra.weight": t["model.norm.weight"].clone()})), external=True),
         match=r"unexpected tensors: extra\.weight"),
    Case("training", "resume with another learning rate", lambda: _resume(_copy(), replace(CONFIG, lr=CONFIG.lr / 2)),
         match=r"cannot resume from .*run: it was trained with a different TrainConfig: lr=0\.002 \(now 0\.001\)"),
    Case("training", "resume another run", lambda: _resume(_copy(), run={"recipe": "sudoku"}),
         match=r"cannot resume from .*run: it belongs to another run \(differs in recipe\)"),
    Case("training", "resume from a marker that lists no optimiser state",
         lambda: _resume(_copy(lambda d: (d / MARKER).write_text(json.dumps({**json.loads((d / MARKER).read_text()), "files": {}})))),
         match=r"cannot resume from .*run: its checkpoint\.json does not list config\.json, trainer_state\.pt, history\.json"),
    Case("training", "resume from a snapshot", lambda: _resume(_copy() / "step2"),
         match=r"step2: it is a 'snapshot', not a training checkpoint"),
    Case("training", "resume without a directory", lambda: train(None, None, CONFIG, mask_id=0, resume=True),
         match=r"resume=True needs out_dir"),
    Case("training", "study model that never finished", lambda: load_model("default", checkpoints_dir=_study_dir(None)),
         match=r"default/training\.json: no such file: the run in .* has not finished"),
    Case("training", "study model whose record names other weights",
         lambda: load_model("default", checkpoints_dir=_study_dir({"recipe": "default", "weights_sha256": "0" * 64})),
         match=r"default: the weights have SHA-256 [0-9a-f]{64}, but training\.json records 0{64}"),
    Case("training", "study model never trained", lambda: load_model("huge", checkpoints_dir=_study_dir(None)),
         match=r"study model 'huge' is not trained in"),
    Case("training", "base model before the default run finished", lambda: load_model("base", checkpoints_dir=_study_dir(None)),
         match=r"default/training\.json: no such file"),
    Case("training", "two trainings of one run directory at once", _locked_twice,
         match=r"default: another process is training into it"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_training_input_is_refused_naming_it(case):
    check(case)
