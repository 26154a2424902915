"""Run the study's notebooks with papermill, in order, with validated parameters.

``python -m mdlm_study.runner --full``: every notebook of ``notebooks/manifest.yaml`` with
``notebooks/params/full.yaml``; executed notebooks go to ``notebooks/executed/``, figures to
``figures/``, tables to ``figures/tables/``, checkpoints to ``checkpoints/``, data to ``data/``.
``--smoke``: the same with ``notebooks/params/smoke.yaml``, everything under ``build/`` (or ``--out``).
``--released``: the study models are the released ones (``models/``, ``mdlm_study.models.released``) and the
problem sets those in ``data/``: nothing is trained (notebook 01 reports the released runs), outputs go
to ``build/released/`` (``build/released_smoke/`` with ``--smoke``) unless ``--out``. One notebook with
changed parameters: ``--full --released --only 04 -p "gammas=[0.05, 0.5]"``.
``-p key=value`` overrides a parameter (YAML-parsed value) in every notebook that declares it.
``--jobs N`` runs up to N notebooks side by side, each kernel with ``cpus // N`` threads; a notebook
starts once the notebooks it ``needs`` (manifest) have finished, the longest (by the last recorded
run time) first. Results do not depend on N: every notebook seeds its own randomness.

Before anything runs, every notebook's parameters (the params file, the output paths and the
overrides) go through ``mdlm_study.core.parameters.coerce_and_validate``: unknown names, wrong types and
values out of the declared ranges raise ``ValueError`` naming the notebook, the parameter and the
value (``--check`` stops there). With ``--only``, what a selected notebook ``requires`` on disk
(manifest) from a notebook outside the selection must already be there; if not, the error names the
missing file and the command that writes it.

Progress: each notebook's start (with the parameters that differ from its defaults), its end and
time, the running total, and every minute the notebooks still running. A notebook's own output
stays in the executed notebook; ``--log-output`` also streams it here, each line prefixed with the
notebook's name. It is off by default: with ``--jobs 2`` two kernels interleave, and the tables the
notebooks display would bury the progress lines.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import multiprocessing
import os
import shlex
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.parameters import Declared, coerce_and_validate, declared_in

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
HEARTBEAT_SECONDS = 60.0


def load_manifest(notebooks_dir: Path = NOTEBOOKS) -> list[dict]:
    """The manifest's notebooks; raises if a ``needs`` or a ``requires``' ``by`` names an unlisted one."""
    manifest = yaml.safe_load((notebooks_dir / "manifest.yaml").read_text())["notebooks"]
    names = {entry["file"] for entry in manifest}
    for entry in manifest:
        unknown = sorted(set(entry.get("needs", ())) - names) + sorted({r["by"] for r in entry.get("requires", ())} - names)
        if unknown:
            raise ValueError(f"{entry['file']} needs {unknown}, which the manifest does not list")
    return manifest


def parameters_for(name: str, mode: str, notebooks_dir: Path = NOTEBOOKS) -> dict:
    """Shared parameters, then the notebook's own, from ``params/<mode>.yaml``."""
    params = yaml.safe_load((notebooks_dir / "params" / f"{mode}.yaml").read_text())
    return {**params.get("shared", {}), **params.get(Path(name).stem, {})}


def declared_parameters(path: Path) -> dict[str, Declared]:
    """The notebook's declared parameters (``mdlm_study.core.parameters.declared_in``)."""
    return declared_in(path)


def validate(path: Path, params: dict) -> dict:
    """``params`` read and checked against the notebook's declarations; the coerced values."""
    return coerce_and_validate(declared_parameters(path), params, notebook=path.name)


def _yaml_value(text: str):
    """``text`` parsed as YAML, or ``ValueError`` (PyYAML raises its own error types)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(str(err).splitlines()[0]) from None


def _joined_words(pairs: list[str]) -> list[str]:
    """``-p`` words with the pieces of a value that was split at its spaces joined again:
    ``make notebook ARGS='gammas=[0.05, 0.5]'`` passes ``gammas=[0.05,`` and ``0.5]``; a word without
    ``=`` continues the previous one while that one is not valid YAML yet."""
    out: list[str] = []
    for pair in pairs:
        if out and "=" not in pair and "=" in out[-1]:
            try:
                _yaml_value(out[-1].split("=", 1)[1])
            except ValueError:
                out[-1] = f"{out[-1]} {pair}"
                continue
        out.append(pair)
    return out


def parse_overrides(pairs: list[str]) -> dict:
    """``["n_problems=3", "rules=[entropy, l2r]"]`` -> ``{"n_problems": 3, "rules": ["entropy", "l2r"]}``
    (YAML values; a value split at its spaces is joined again, :func:`_joined_words`). A malformed
    pair is a one-line ``ValueError`` naming it and the fix."""
    out = {}
    for pair in _joined_words(pairs):
        if "=" not in pair:
            raise ValueError(f"parameter override must be key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = _yaml_value(value)
        except ValueError as err:
            raise ValueError(f"override {pair!r}: the value is not valid YAML ({err}); write it as YAML, quoted for "
                             f"the shell, e.g. -p '{key}=[0.05, 0.5]' or -p '{key}=\"text\"'") from None
    return out


def _unused_message(unused: set[str], declared: set[str]) -> str:
    """One line naming each override no selected notebook declares, its closest declared name, and the names."""
    hints = []
    for name in sorted(unused):
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"override(s) {', '.join(hints)} match no parameter of the selected notebooks; "
            f"they declare: {', '.join(sorted(declared))}")


@dataclass(frozen=True)
class Job:
    source: Path  # the notebook source
    target: Path  # where the executed notebook is written
    params: dict  # validated papermill parameters
    needs: tuple[str, ...] = ()  # notebooks (file names) that must finish first
    changed: dict = field(default_factory=dict)  # the parameters that differ from the notebook's defaults


@dataclass(frozen=True)
class Request:
    """How the user asked for a run, to write the command that makes a missing prerequisite."""

    mode: str
    out: Path | None
    overrides: dict
    released: bool = False


def _job(entry: dict, mode: str, paths: dict, overrides: dict, executed: Path, notebooks_dir: Path) -> Job:
    name = entry["file"]
    source = notebooks_dir / name
    declared = declared_parameters(source)
    given = {**parameters_for(name, mode, notebooks_dir), **{k: v for k, v in paths.items() if k in declared},
             **{k: v for k, v in overrides.items() if k in declared}}
    params = coerce_and_validate(declared, given, notebook=name)
    changed = {k: v for k, v in params.items() if v != declared[k].default}
    return Job(source, executed / name, params, tuple(entry.get("needs", ())), changed)


def _selected(manifest: list[dict], only: list[str] | None) -> list[dict]:
    if not only:
        return manifest
    unmatched = [o for o in only if not any(e["file"].startswith(o) for e in manifest)]
    if unmatched:
        raise ValueError(f"--only {unmatched} matches no notebook; the manifest lists {[e['file'] for e in manifest]}")
    return [e for e in manifest if any(e["file"].startswith(o) for o in only)]


def missing_requirements(entry: dict, params: dict, selected: set[str]) -> list[tuple[Path, str]]:
    """(path, writer) of each ``requires`` entry that applies to these parameters, whose writer is
    not in ``selected`` and which is not on disk. Relative paths are relative to the repository
    (the kernels' working directory)."""
    missing = []
    for requirement in entry.get("requires", ()):
        when = requirement.get("when", {})
        if requirement["by"] in selected or any(params.get(k) not in values for k, values in when.items()):
            continue
        path = Path(requirement["path"].format_map(params))
        path = path if path.is_absolute() else ROOT / path
        if not path.exists():
            missing.append((path, requirement["by"]))
    return missing


def _command(request: Request, prefixes: list[str], notebooks: list[Path]) -> str:
    """The runner command for these notebook prefixes, with the overrides they declare."""
    parts = ["python", "-m", "mdlm_study.runner", f"--{request.mode}"] + (["--released"] if request.released else [])
    parts += ["--out", str(request.out)] if request.out is not None else []
    parts += ["--only", *prefixes]
    declared = set().union(*(declared_parameters(path) for path in notebooks))
    for key, value in request.overrides.items():
        if key in declared:
            text = value if isinstance(value, str) and yaml.safe_load(value) == value else json.dumps(value)
            parts += ["-p", f"{key}={text}"]
    return shlex.join(parts)


def _prefix(name: str) -> str:
    """``"01_training.ipynb"`` -> ``"01"`` (what ``--only`` takes)."""
    return name.split("_")[0]


def _missing_message(missing: list[tuple[str, Path, str]], request: Request, selected: list[str], notebooks_dir: Path) -> str:
    writers = sorted({writer for _, _, writer in missing})
    lines = [f"  {name} needs {path} (written by {writer})" for name, path, writer in missing]
    first = _command(request, [_prefix(w) for w in writers], [notebooks_dir / w for w in writers])
    both = _command(request, sorted({_prefix(n) for n in [*writers, *selected]}), [notebooks_dir / n for n in [*writers, *selected]])
    text = ("missing prerequisites: the notebooks that write them are not in this selection (--only), and their outputs "
            "are not in the output folder:\n" + "\n".join(lines) + f"\nmake them first:\n  {first}\nor run them together:\n  {both}")
    if not request.released and any("checkpoints" in str(path) for _, path, _ in missing):
        released = _command(replace(request, released=True), [_prefix(n) for n in selected], [notebooks_dir / n for n in selected])
        text += f"\nor run on the released models (models/, no training):\n  {released}"
    return text


def output_root(mode: str, out: Path | None, released: bool = False) -> Path:
    """Where a run writes: ``out`` when given; else the repository for the full study, ``build/released``
    (``build/released_smoke``) on the released models, ``build/`` for a smoke run."""
    if out is not None:
        return out
    if released:
        return ROOT / "build" / ("released" if mode == "full" else "released_smoke")
    return ROOT if mode == "full" else ROOT / "build"


def plan(mode: str, out: Path | None, only: list[str] | None, overrides: dict, notebooks_dir: Path = NOTEBOOKS,
         released: bool = False) -> list[Job]:
    """One :class:`Job` per selected notebook, validated before anything runs (module docstring).
    The full study writes into the repository unless ``out`` is given (e.g. a real-model run).
    Needs on notebooks outside the selection (``only``) are dropped from the ordering; what the
    selected notebooks ``require`` from them must already be on disk. ``released``: the study models
    are the released ones (``models/``, with the problem sets in ``data/``), nothing is trained."""
    root = output_root(mode, out, released)
    full = root == ROOT
    executed = NOTEBOOKS / "executed" if full else root / "notebooks"
    paths = {"out_dir": str(root), "checkpoints_dir": str(root / "checkpoints"), "data_dir": str(root / "data")}
    if released:
        from mdlm_study.models.released import RELEASED_DIR  # deferred: loads torch

        paths.update(checkpoints_dir=str(RELEASED_DIR), data_dir=str(ROOT / "data"))
    manifest = load_manifest(notebooks_dir)
    entries = _selected(manifest, only)
    jobs = [_job(entry, mode, paths, overrides, executed, notebooks_dir) for entry in entries]
    selected = {job.source.name for job in jobs}
    jobs = [replace(job, needs=tuple(n for n in job.needs if n in selected)) for job in jobs]
    unused = set(overrides) - {k for job in jobs for k in job.params}
    if unused:
        raise ValueError(_unused_message(unused, {k for job in jobs for k in declared_parameters(job.source)}))
    missing = [(job.source.name, path, writer) for entry, job in zip(entries, jobs, strict=True)
               for path, writer in missing_requirements(entry, job.params, selected)]
    if missing:
        raise ValueError(_missing_message(missing, Request(mode, out, overrides, released), sorted(selected), notebooks_dir))
    return jobs


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _shown(value: object) -> str:
    """A parameter value for a progress line: paths under the working directory made relative."""
    cwd = os.getcwd()
    if isinstance(value, str) and os.path.isabs(value) and (value == cwd or value.startswith(cwd + os.sep)):
        value = os.path.relpath(value)
    return value if isinstance(value, str) else json.dumps(value)


class Progress:
    """The runner's progress lines (``flush=True``): starts, ends, the running total, and every
    ``interval`` seconds (default :data:`HEARTBEAT_SECONDS`) the notebooks still running."""

    def __init__(self, total: int, interval: float | None = None):
        self.total, self.interval, self.done = total, interval or HEARTBEAT_SECONDS, 0
        self.start = time.perf_counter()
        self.running: dict[str, float] = {}
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def say(text: str) -> None:
        print(f"[runner] {text}", flush=True)

    def totals(self) -> str:
        return f"{self.done}/{self.total} done, {_duration(time.perf_counter() - self.start)} elapsed"

    def started(self, job: Job) -> None:
        with self._lock:
            self.running[job.source.name] = time.perf_counter()
        changed = ", ".join(f"{k}={_shown(v)}" for k, v in job.changed.items())
        self.say(f"start {job.source.name}" + (f" with {changed}" if changed else " with its defaults"))

    def _stopped(self, job: Job) -> float:
        with self._lock:
            return time.perf_counter() - self.running.pop(job.source.name, time.perf_counter())

    def finished(self, job: Job, seconds: float) -> None:
        self._stopped(job)
        self.done += 1
        self.say(f"done  {job.source.name} in {_duration(seconds)} ({self.totals()})")

    def failed(self, job: Job, err: BaseException) -> None:
        seconds = self._stopped(job)
        where = f"; the executed notebook {job.target} shows the failing cell" if job.target.exists() else ""
        self.say(f"FAILED {job.source.name} after {_duration(seconds)}: {type(err).__name__} ({self.totals()}){where}")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                now = time.perf_counter()
                running = ", ".join(f"{name} ({_duration(now - t)})" for name, t in self.running.items())
            if running:
                self.say(f"running {running} ({self.totals()})")


@contextlib.contextmanager
def _streamed(job: Job, log_output: bool):
    """With ``log_output``, papermill's log (each cell's start and output) goes to stdout, prefixed."""
    if not log_output:
        yield
        return
    logger, handler = logging.getLogger("papermill"), logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(f"[{job.source.stem}] %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _execute(job: Job, threads: int | None = None, log_output: bool = False) -> float:
    """Run one notebook with papermill; return its wall time. ``threads`` caps the kernel's threads."""
    import papermill  # deferred: every notebook kernel imports this package (runner.notebook), and papermill takes seconds
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)  # inherited by the kernel
    job.target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with _streamed(job, log_output):
        papermill.execute_notebook(str(job.source), str(job.target), parameters=job.params, kernel_name="python3", cwd=str(ROOT),
                                   progress_bar=False, log_output=log_output)
    return time.perf_counter() - start


def _run_parallel(jobs: list[Job], workers: int, previous: dict, times: dict, progress: Progress, log_output: bool) -> None:
    """Start every job whose needs are met, longest first, in ``workers`` processes; record each
    finished job's wall time in ``times`` (so a failure keeps the times of the others)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = sorted(jobs, key=lambda j: -previous.get(j.source.name, 0.0))
    finished, running = set(), {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            for job in [j for j in pending if set(j.needs) <= finished][: workers - len(running)]:
                pending.remove(job)
                progress.started(job)
                running[pool.submit(_execute, job, threads, log_output)] = job
            if not running:
                raise ValueError(f"notebooks {[j.source.name for j in pending]} need notebooks that never run")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    times[job.source.name] = future.result()  # re-raises a notebook's error
                except Exception as err:
                    progress.failed(job, err)
                    raise
                finished.add(job.source.name)
                progress.finished(job, times[job.source.name])


def _run_serial(jobs: list[Job], times: dict, progress: Progress, log_output: bool) -> None:
    for job in jobs:
        progress.started(job)
        try:
            times[job.source.name] = _execute(job, log_output=log_output)
        except Exception as err:
            progress.failed(job, err)
            raise
        progress.finished(job, times[job.source.name])


def run(jobs: list[Job], *, log_dir: Path, workers: int = 1, log_output: bool = False) -> dict:
    """Run the jobs (in manifest order, or ``workers`` at a time) and record their wall times in
    ``<log_dir>/run_times.json`` (``total_seconds``: the sum; ``wall_seconds``: the last run's wall time,
    which covers the notebooks listed in ``ran``),
    also when a notebook fails (the notebooks that finished keep their times)."""
    int_at_least("jobs", workers)
    path = log_dir / "run_times.json"
    previous = json.loads(path.read_text())["seconds"] if path.exists() else {}
    start, times = time.perf_counter(), {}
    try:
        with Progress(len(jobs)) as progress:
            if workers == 1:
                _run_serial(jobs, times, progress, log_output)
            else:
                _run_parallel(jobs, workers, previous, times, progress, log_output)
            progress.say(f"all {len(jobs)} notebooks done in {_duration(time.perf_counter() - start)} "
                         f"(notebook times add up to {_duration(sum(times.values()))})")
    finally:
        log_dir.mkdir(parents=True, exist_ok=True)
        merged = {**previous, **times}  # runs of a subset (--only) update their own entries
        record = {"seconds": merged, "total_seconds": sum(merged.values()), "wall_seconds": time.perf_counter() - start, "jobs": workers,
                  "complete": len(times) == len(jobs), "ran": sorted(times)}  # wall_seconds covers the notebooks in "ran"
        path.write_text(json.dumps(record, indent=2))
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m mdlm_study.runner", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=None, help="output root (default: the repository for --full, build/ for --smoke)")
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 03")
    parser.add_argument("--released", action="store_true",
                        help="run on the released models (models/, data/): no training; outputs under build/released unless --out")
    parser.add_argument("-p", "--param", action="append", default=[], help="key=value override")
    parser.add_argument("--check", action="store_true", help="only validate the parameters (and --only's prerequisites)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run side by side (each with cpus // jobs threads)")
    parser.add_argument("--log-output", action="store_true", help="stream each notebook's output here (prefixed with its name)")
    args = parser.parse_args(argv)
    kind = "full" if args.full else "smoke"
    out = Path(args.out) if args.out else None
    if args.released and not args.check:
        from mdlm_study.training.recipes import ensure_study_data  # deferred: loads torch

        ensure_study_data(ROOT / "data")  # the training split notebook 05 samples from is not committed
    jobs = plan(kind, out, args.only, parse_overrides(args.param), released=args.released)
    if args.check:
        print(f"[runner] {len(jobs)} notebooks, parameters valid", flush=True)
        return {}
    root = output_root(kind, out, args.released)
    Progress.say(f"{len(jobs)} notebooks ({kind}), parameters valid; outputs under {_shown(str(root.resolve()))}, "
                 f"executed notebooks in {_shown(str(jobs[0].target.parent.resolve())) if jobs else '-'}")
    return run(jobs, log_dir=root / "figures" / "tables", workers=args.jobs, log_output=args.log_output)

