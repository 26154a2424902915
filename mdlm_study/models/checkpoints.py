"""Checkpoint directories that survive a kill at any instant, and strict weight loading.

A checkpoint is written whole into a hidden sibling directory, its completion marker
``checkpoint.json`` (step, :func:`weights_sha256`, every file's size and SHA-256) written last, then
renamed into place (:func:`publish_directory`); the previous checkpoint is replaced only once the new
one is complete. Readers (:func:`verify_checkpoint`) refuse a directory without the marker or whose
files do not match it, and weights load strictly (:func:`load_weights`): a missing, unexpected or
reshaped tensor is an error, never a tensor left at its random initialisation. A finished study run
also holds its record, ``training.json`` (:func:`read_record`), written once the run finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers.utils import logging as hf_logging

from mdlm_study.core.records import fsync_path, read_json_object

STATE_FILE = "trainer_state.pt"  # optimiser state and step (torch.save of plain containers; loaded with weights_only)
HISTORY_FILE = "history.json"  # the loss and evaluation records up to the checkpoint's step
CONFIG_FILE = "train_config.json"  # the TrainConfig the checkpoint was trained with
MARKER = "checkpoint.json"  # completion marker, written last: a directory without it is not a checkpoint
MARKER_FORMAT = 1
RECORD = "training.json"  # a finished study run's record, beside its final checkpoint (written last, by training.recipes)
SNAPSHOT = re.compile(r"step\d+")  # snapshot subdirectories (``step<N>``) a checkpoint directory carries along


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights (every state-dict tensor's bytes, in sorted key order): a
    fingerprint to compare two trainings with, independent of how the checkpoint file was written.
    ``bench_model.py`` records it for each study model, so a rerun of ``make reproduce`` can be
    checked bit for bit against the run on record."""
    state = model.state_dict()
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _file_record(path: Path) -> dict:
    """Size and SHA-256 of one file (flushed to disk first), as the completion marker lists it."""
    fsync_path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _sibling(target: Path, kind: str) -> Path:
    """The hidden directory beside ``target`` that holds its next version (``new``), its previous one
    during a swap (``old``) or a run being discarded (``trash``)."""
    return target.with_name(f".{target.name}.{kind}")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a file (no bytes copied; a snapshot's files are never rewritten in place), copying
    where the file system has no hard links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _swap_in(new: Path, target: Path) -> None:
    """Rename the complete directory ``new`` to ``target``; an existing ``target`` is moved aside first
    and deleted after. A kill between the two renames leaves ``new`` complete, which
    :func:`recover_directory` then renames into place."""
    old = _sibling(target, "old")
    if target.exists():
        _remove(old)
        os.rename(target, old)
    os.rename(new, target)
    fsync_path(target.parent)
    _remove(old)


def _complete_step(directory: Path) -> int | None:
    """The step of a complete checkpoint or snapshot directory; None when it is absent or incomplete."""
    try:
        return int(verify_checkpoint(directory)["step"])
    except ValueError:
        return None


def recover_directory(target: str | Path) -> None:
    """Finish or undo what a kill interrupted around ``target`` (see :func:`publish_directory`): a
    complete ``.<name>.new`` with a later step than ``target`` is swapped in (the kill came after it was
    sealed); a ``target`` missing beside a complete ``.<name>.old`` gets it back; half-written and
    discarded siblings are deleted. Inside ``target``, the same for its snapshots."""
    target = Path(target)
    new, old = _sibling(target, "new"), _sibling(target, "old")
    new_step = _complete_step(new) if new.exists() else None
    if new_step is not None and (not target.exists() or (current := _complete_step(target)) is None or new_step > current):
        _swap_in(new, target)
    elif not target.exists() and old.exists() and _complete_step(old) is not None:
        os.rename(old, target)
    for leftover in (new, old, _sibling(target, "trash")):
        _remove(leftover)
    if target.is_dir():
        for hidden in sorted(target.glob(".step*.*")):
            name = hidden.name[1:].rsplit(".", 1)[0]
            if SNAPSHOT.fullmatch(name):
                recover_directory(target / name)


def discard_directory(target: str | Path, *, first: tuple[str, ...] = ()) -> None:
    """Delete ``target`` so that no part of it can pass for complete: the files named in ``first``
    (e.g. a completion record) are unlinked first, then the directory is renamed aside in one step
    (``.<name>.trash``, which :func:`recover_directory` deletes if a kill comes before this does)."""
    target = Path(target)
    for name in first:
        if (target / name).exists():
            (target / name).unlink()
            fsync_path(target)
    if target.exists():
        trash = _sibling(target, "trash")
        _remove(trash)
        os.rename(target, trash)
        fsync_path(target.parent)
        _remove(trash)


def publish_directory(target: str | Path, write: Callable[[Path], None], marker: dict, *, keep: re.Pattern | None = None) -> None:
    """Replace the directory ``target`` by a complete new version, safe against a kill at any instant.

    ``write(directory)`` writes the files into ``.<name>.new`` beside ``target``; the subdirectories of
    the old ``target`` whose names match ``keep`` (its snapshots) are hard-linked in; then the completion marker
    (``marker`` plus the size and SHA-256 of every file) is written last, everything is flushed to disk,
    and the directory is renamed into place (:func:`_swap_in`). Until that rename ``target`` is
    untouched, so the previous checkpoint survives any failure while the new one is written."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(target)
    new = _sibling(target, "new")
    new.mkdir()
    write(new)
    if keep is not None and target.is_dir():
        for entry in sorted(target.iterdir()):
            if entry.is_dir() and keep.fullmatch(entry.name):
                shutil.copytree(entry, new / entry.name, copy_function=_link_or_copy)
    files = {path.name: _file_record(path) for path in sorted(new.iterdir()) if path.is_file()}
    with (new / MARKER).open("w") as handle:
        handle.write(json.dumps({"format": MARKER_FORMAT, **marker, "files": files}, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    fsync_path(new)
    _swap_in(new, target)


def verify_checkpoint(directory: str | Path) -> dict:
    """The completion marker of a checkpoint or snapshot directory, after checking that every file it
    lists is there with its recorded size and SHA-256. ``ValueError`` names the directory and what is
    wrong: no directory, no marker (a write that never finished, or a folder this trainer did not
    write), an unreadable marker, missing or changed files."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: no such checkpoint directory")
    path = directory / MARKER
    if not path.is_file():
        raise ValueError(f"{directory} is not a complete checkpoint: no {MARKER} (its write was interrupted, or "
                         "mdlm_study.training.train did not write it; a plain Hugging Face folder loads with mdlm_study.models.load_model(path))")
    try:
        marker = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable completion marker ({err})") from None
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict) or not isinstance(marker.get("step"), int):
        raise ValueError(f"{path}: not a completion marker (needs 'step' and 'files')")
    missing = sorted(name for name in marker["files"] if not (directory / name).is_file())
    if missing:
        raise ValueError(f"{directory} is not a complete checkpoint: missing {', '.join(missing)}")
    for name, want in marker["files"].items():
        got = _file_record(directory / name)
        if got != want:
            raise ValueError(f"{directory / name}: {got['bytes']} bytes with SHA-256 {got['sha256']}, but {MARKER} "
                             f"records {want.get('bytes')} bytes with SHA-256 {want.get('sha256')}")
    return marker


def read_record(out_dir: str | Path) -> dict:
    """The ``training.json`` of a finished study run; ``ValueError`` naming the file when the run has not
    finished (no record) or the record is unreadable."""
    path = Path(out_dir) / RECORD
    if not path.is_file():
        raise ValueError(f"{path}: no such file: the run in {Path(out_dir)} has not finished (train_all resumes it)")
    return read_json_object(path, "training record")


@contextmanager
def quiet_hf_progress():
    """transformers' per-file progress bars off while the block runs (they flood logs at every checkpoint)."""
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _save_model(model, directory: Path, tokenizer=None) -> None:
    """The weights (safetensors) and config, and the tokenizer, as ``save_pretrained`` writes them."""
    with quiet_hf_progress():
        model.save_pretrained(directory, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)


def _save_trainer_state(directory: Path, step: int, optimizer) -> None:
    torch.save({"step": step, "optimizer": optimizer.state_dict()}, directory / STATE_FILE)


def as_json(value):
    """``value`` as it reads back from JSON (tuples become lists), to compare a config with a record."""
    return json.loads(json.dumps(value))


def save_checkpoint(model, optimizer, step: int, history: list, out_dir: str | Path, tokenizer=None, *,
                    config=None, run: dict | None = None, wall_seconds: float = 0.0) -> None:
    """Write a resumable checkpoint of step ``step`` to ``out_dir`` (:func:`publish_directory`): weights,
    config, tokenizer, optimiser state, history, train config, and a marker that records the step, the
    :func:`weights_sha256`, ``config`` (the training configuration, a dataclass), ``run`` (what the caller identifies the run by, e.g. the recipe)
    and the training wall time so far. The snapshots ``out_dir/step<N>`` are carried over; anything
    else in ``out_dir`` is not (the directory belongs to the trainer)."""
    def write(directory: Path) -> None:
        _save_model(model, directory, tokenizer)
        _save_trainer_state(directory, step, optimizer)
        (directory / HISTORY_FILE).write_text(json.dumps(history, indent=1))
        if config is not None:
            (directory / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2))

    marker = {"kind": "checkpoint", "step": step, "weights_sha256": weights_sha256(model), "wall_seconds": wall_seconds,
              "train_config": as_json(asdict(config)) if config is not None else None, "run": as_json(run)}
    publish_directory(out_dir, write, marker, keep=SNAPSHOT)


def save_snapshot(model, directory: str | Path, step: int, tokenizer=None, *, about: dict | None = None) -> None:
    """Keep the weights (and tokenizer) of step ``step`` in ``directory``, written like a checkpoint
    (complete or absent) but without optimiser state: a model to load, not to resume. ``about`` adds
    JSON fields to the completion marker (e.g. the kept weights an average was made of)."""
    marker = {"kind": "snapshot", "step": step, "weights_sha256": weights_sha256(model), **(about or {})}
    publish_directory(directory, lambda d: _save_model(model, d, tokenizer), marker)


def _tied_groups(model: torch.nn.Module) -> list[list[str]]:
    """State-dict keys grouped by the storage they share: tied weights (an output head tied to the
    input embedding) are one group, saved once under one of their names."""
    groups: dict[tuple, list[str]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        groups.setdefault((tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape)), []).append(key)
    return list(groups.values())


def load_weights(model: torch.nn.Module, directory: str | Path) -> None:
    """Load the ``*.safetensors`` weights of ``directory`` into ``model``, strictly: a tensor of the
    architecture that the files lack (no tied alias of it either), a tensor the architecture does not
    have, or a shape that differs is a ``ValueError`` naming them, instead of a tensor silently left at
    its random initialisation."""
    directory = Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{directory}: no *.safetensors weights")
    state = {}
    for file in files:
        try:
            state.update(load_file(file))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{file}: unreadable safetensors file ({err})") from None
    expected = model.state_dict()
    missing = [group[0] for group in _tied_groups(model) if not any(key in state for key in group)]
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}" for key in sorted(state)
              if key in expected and state[key].shape != expected[key].shape]
    problems = [f"{label}: {', '.join(keys)}" for label, keys in
                (("missing tensors", missing), ("unexpected tensors", unexpected), ("wrong shapes", shapes)) if keys]
    if problems:
        raise ValueError(f"{directory}: the weights do not fit the architecture ({'; '.join(problems)})")
    model.load_state_dict(state, strict=False)


def check_weights(model: torch.nn.Module, marker: dict, directory: str | Path) -> None:
    """``ValueError`` unless the loaded ``model``'s :func:`weights_sha256` is the one the checkpoint's
    marker recorded when it was written (end to end: what was trained is what was loaded)."""
    got = weights_sha256(model)
    if got != marker.get("weights_sha256"):
        raise ValueError(f"{directory}: loaded weights have SHA-256 {got}, but {MARKER} records {marker.get('weights_sha256')}")
