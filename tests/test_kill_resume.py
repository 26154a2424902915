"""Training survives SIGKILL bit for bit: a smoke recipe trained in a subprocess that is killed at
chosen moments (between steps, in the middle of a checkpoint write, between the two renames that
swap a checkpoint in, before the completion record) and restarted until it finishes ends with the
same weights, snapshot and history as an uninterrupted run.

The child is this file run as a script (``python tests/test_kill_resume.py <checkpoints> <kill>``):
it patches one function of the trainer to ``os.kill(os.getpid(), SIGKILL)`` at the chosen moment,
so the production code carries no test hook.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_SIZES = {"arithmetic": {"train": 120, "test": 4, "posterior": 2}}  # the arithmetic recipe only


def kill_recipe():
    """The default recipe at smoke size (30 steps, snapshot at step 15), a checkpoint every 5 steps."""
    from mdlm_study.training.recipes import recipe

    r = recipe("default", smoke=True)
    return replace(r, train=replace(r.train, save_every=5, eval_every=0))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill(kill: str) -> None:
    """Patch the trainer so that this process SIGKILLs itself at ``kill``:

    - ``step:N``: at the start of step N (``train.step_generator`` is called once per step);
    - ``write:N``: while checkpoint N is written, after its weights, config and tokenizer, before its
      optimiser state;
    - ``swap:N``: when checkpoint N is complete and the previous one has been renamed aside, before the
      new one is renamed into place;
    - ``record``: after the final checkpoint, before ``training.json``.
    """
    import mdlm_study.models.checkpoints as checkpoints
    import mdlm_study.training.recipes as recipes
    import mdlm_study.training.train as train

    kind, _, value = kill.partition(":")
    if kind == "step":
        real_generator = train.step_generator
        train.step_generator = lambda seed, step: _die() if step == int(value) else real_generator(seed, step)
    elif kind == "write":
        real_state = checkpoints._save_trainer_state
        checkpoints._save_trainer_state = lambda directory, step, optimizer: (
            _die() if step == int(value) else real_state(directory, step, optimizer))
    elif kind == "swap":
        real_rename = os.rename

        def rename(src, dst):
            real_rename(src, dst)
            new = Path(dst).with_name(Path(dst).name.replace(".old", ".new"))
            if Path(dst).name.endswith(".old") and json.loads((new / checkpoints.MARKER).read_text())["step"] == int(value):
                _die()

        os.rename = rename
    elif kind == "record":
        recipes.write_json_atomic = lambda path, value: _die()
    elif kind != "none":
        raise ValueError(f"unknown kill {kill!r}")


def child(checkpoints: str, kill: str) -> None:
    """One training session of :func:`kill_recipe` (one thread), killed as ``kill`` says."""
    import torch

    from mdlm_study.tasks.data import study_data
    from mdlm_study.training.recipes import train_recipe

    torch.set_num_threads(1)
    _install_kill(kill)
    train_recipe(kill_recipe(), study_data(sizes=DATA_SIZES, tasks=("arithmetic",), seed=0), checkpoints, progress=False)


def _session(checkpoints: Path, kill: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, __file__, str(checkpoints), kill], env=env, capture_output=True, text=True, timeout=300)


def _marker_step(directory: Path) -> int | None:
    from mdlm_study.models.checkpoints import MARKER

    path = directory / MARKER
    return json.loads(path.read_text())["step"] if path.is_file() else None


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_optimizer_state(a: Path, b: Path) -> bool:
    """Whether two trainer states hold the same step and optimiser state, tensor for tensor (their
    bytes differ: ``torch.save`` writes a random serialization id)."""
    import torch

    one, two = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    first, second = one["optimizer"], two["optimizer"]
    same_tensors = first["state"].keys() == second["state"].keys() and all(
        first["state"][p].keys() == second["state"][p].keys() and all(torch.equal(v, second["state"][p][k]) for k, v in first["state"][p].items())
        for p in first["state"])
    return one["step"] == two["step"] and first["param_groups"] == second["param_groups"] and same_tensors


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_bits(tmp_path):
    from mdlm_study.models import load_model
    from mdlm_study.models.checkpoints import weights_sha256
    from mdlm_study.models.tiny_model import load_tiny
    from mdlm_study.tasks.data import study_data
    from mdlm_study.training.recipes import train_recipe

    reference = train_recipe(kill_recipe(), study_data(sizes=DATA_SIZES, tasks=("arithmetic",), seed=0), tmp_path / "straight", progress=False, report=False)
    checkpoints = tmp_path / "killed"
    run, new, old = checkpoints / "default", checkpoints / ".default.new", checkpoints / ".default.old"

    # (kill, what the directory holds right after the kill, what the next session must print)
    plan = [
        ("step:3", lambda: not run.exists(), "starting 30 steps"),
        ("step:12", lambda: _marker_step(run) == 10, "starting 30 steps"),
        ("write:15", lambda: _marker_step(run) == 10 and (new / "model.safetensors").is_file()
         and not (new / "trainer_state.pt").exists() and _marker_step(run / "step15") == 15, "resuming at step 10/30"),
        ("swap:25", lambda: not run.exists() and _marker_step(new) == 25 and _marker_step(old) == 20, "resuming at step 10/30"),
        ("record", lambda: _marker_step(run) == 30 and not (run / "training.json").exists(), "resuming at step 25/30"),
    ]
    for kill, state, said in plan:
        session = _session(checkpoints, kill)
        assert session.returncode == -signal.SIGKILL, f"{kill}: {session.returncode}\n{session.stdout}\n{session.stderr}"
        assert said in session.stdout, f"{kill}: {session.stdout}"
        assert state(), f"{kill}: unexpected state {sorted(p.name for p in checkpoints.iterdir())}"
    last = _session(checkpoints, "none")
    assert last.returncode == 0, last.stderr
    assert "resuming at step 30/30" in last.stdout and "[train default] step" not in last.stdout  # nothing left to train

    straight = tmp_path / "straight" / "default"
    record = json.loads((run / "training.json").read_text())
    assert record["weights_sha256"] == reference["weights_sha256"] == weights_sha256(load_tiny(run)[0])
    assert _file_sha256(run / "model.safetensors") == _file_sha256(straight / "model.safetensors")
    assert _same_optimizer_state(run / "trainer_state.pt", straight / "trainer_state.pt")
    assert weights_sha256(load_tiny(run / "step15")[0]) == weights_sha256(load_tiny(straight / "step15")[0])
    losses = [(h["step"], h["loss"]) for h in record["history"]]
    assert losses == [(h["step"], h["loss"]) for h in reference["history"]] and len(losses) == 6
    assert sorted(p.name for p in checkpoints.iterdir()) == [".default.lock", "default"]  # no half-written leftovers
    assert load_model("default", checkpoints_dir=checkpoints).record["weights_sha256"] == reference["weights_sha256"]


if __name__ == "__main__":
    child(*sys.argv[1:])
