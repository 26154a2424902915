"""Run the study's notebooks with papermill, in order, with validated parameters.

``python -m mdlm_study.runner --full``: every notebook of ``notebooks/manifest.yaml`` with
``notebooks/params/full.yaml``; executed notebooks go to ``notebooks/executed/``, figures to
``figures/``, tables to ``figures/tables/``, checkpoints to ``checkpoints/``, data to ``data/``.
``--smoke``: the same with ``notebooks/params/smoke.yaml``, everything under ``build/`` (or ``--out``).
``-p key=value`` overrides a parameter (YAML-parsed value) in every notebook that declares it.
``--jobs N`` runs up to N notebooks side by side, each kernel with ``cpus // N`` threads; a notebook
starts once the notebooks it ``needs`` (manifest) have finished, the longest (by the last recorded
run time) first. Results do not depend on N: every notebook seeds its own randomness.

papermill only warns about unknown parameter names; this runner checks every name against
``papermill.inspect_notebook`` first and raises ``ValueError`` naming the key and the notebook.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import papermill
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def load_manifest(notebooks_dir: Path = NOTEBOOKS) -> list[dict]:
    manifest = yaml.safe_load((notebooks_dir / "manifest.yaml").read_text())
    return manifest["notebooks"]


def parameters_for(name: str, mode: str, notebooks_dir: Path = NOTEBOOKS) -> dict:
    """Shared parameters, then the notebook's own, from ``params/<mode>.yaml``."""
    params = yaml.safe_load((notebooks_dir / "params" / f"{mode}.yaml").read_text())
    return {**params.get("shared", {}), **params.get(Path(name).stem, {})}


def declared_parameters(path: Path) -> dict:
    return papermill.inspect_notebook(str(path))


def validate(path: Path, params: dict) -> None:
    declared = declared_parameters(path)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for notebook {path.name}; it declares {sorted(declared)}")


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"parameter override must be key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


@dataclass(frozen=True)
class Job:
    source: Path  # the notebook source
    target: Path  # where the executed notebook is written
    params: dict  # validated papermill parameters
    needs: tuple[str, ...] = ()  # notebooks (file names) that must finish first


def plan(mode: str, out: Path | None, only: list[str] | None, overrides: dict, notebooks_dir: Path = NOTEBOOKS) -> list[Job]:
    """One :class:`Job` per selected notebook, validated before anything runs. The full study writes
    into the repository unless ``out`` is given (e.g. a real-model run). Needs on notebooks outside
    the selection (``only``) count as met: their outputs are already there."""
    full = mode == "full" and out is None
    out = out if out is not None else ROOT / "build"
    executed = NOTEBOOKS / "executed" if full else out / "notebooks"
    paths = {"out_dir": str(ROOT if full else out), "checkpoints_dir": str(ROOT / "checkpoints" if full else out / "checkpoints"),
             "data_dir": str(ROOT / "data" if full else out / "data")}
    jobs = []
    manifest = load_manifest(notebooks_dir)
    names = {entry["file"] for entry in manifest}
    for entry in manifest:
        unknown = sorted(set(entry.get("needs", ())) - names)
        if unknown:
            raise ValueError(f"{entry['file']} needs {unknown}, which the manifest does not list")
    for entry in manifest:
        name = entry["file"]
        if only and not any(name.startswith(o) for o in only):
            continue
        source = notebooks_dir / name
        declared = declared_parameters(source)
        params = {**parameters_for(name, mode, notebooks_dir), **{k: v for k, v in paths.items() if k in declared}}
        params.update({k: v for k, v in overrides.items() if k in declared})
        validate(source, params)
        jobs.append(Job(source, executed / name, params, tuple(entry.get("needs", ()))))
    selected = {job.source.name for job in jobs}
    jobs = [Job(j.source, j.target, j.params, tuple(n for n in j.needs if n in selected)) for j in jobs]
    unused = set(overrides) - {k for job in jobs for k in job.params}
    if unused:
        raise ValueError(f"override(s) {sorted(unused)} match no parameter of the selected notebooks")
    return jobs


def _execute(job: Job, threads: int | None = None) -> float:
    """Run one notebook with papermill; return its wall time. ``threads`` caps the kernel's threads."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)  # inherited by the kernel
    job.target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(job.source), str(job.target), parameters=job.params, kernel_name="python3", cwd=str(ROOT),
                               progress_bar=False)
    return time.perf_counter() - start


def _run_parallel(jobs: list[Job], workers: int, previous: dict, times: dict) -> None:
    """Start every job whose needs are met, longest first, in ``workers`` processes; record each
    finished job's wall time in ``times`` (so a failure keeps the times of the others)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = sorted(jobs, key=lambda j: -previous.get(j.source.name, 0.0))
    finished, running = set(), {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            for job in [j for j in pending if set(j.needs) <= finished][: workers - len(running)]:
                pending.remove(job)
                print(f"[runner] {job.source.name} ...", flush=True)
                running[pool.submit(_execute, job, threads)] = job
            if not running:
                raise ValueError(f"notebooks {[j.source.name for j in pending]} need notebooks that never run")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                times[job.source.name] = future.result()  # re-raises a notebook's error
                finished.add(job.source.name)
                print(f"[runner] {job.source.name} done in {times[job.source.name]:.0f} s", flush=True)


def run(jobs: list[Job], *, log_dir: Path, workers: int = 1) -> dict:
    """Run the jobs (in manifest order, or ``workers`` at a time) and record their wall times in
    ``<log_dir>/run_times.json`` (``total_seconds``: the sum; ``wall_seconds``: the last run's wall time,
    which covers the notebooks listed in ``ran``),
    also when a notebook fails (the notebooks that finished keep their times)."""
    if workers < 1:
        raise ValueError(f"jobs must be >= 1, got {workers}")
    path = log_dir / "run_times.json"
    previous = json.loads(path.read_text())["seconds"] if path.exists() else {}
    start, times = time.perf_counter(), {}
    try:
        if workers == 1:
            for job in jobs:
                print(f"[runner] {job.source.name} ...", flush=True)
                times[job.source.name] = _execute(job)
                print(f"[runner] {job.source.name} done in {times[job.source.name]:.0f} s", flush=True)
        else:
            _run_parallel(jobs, workers, previous, times)
    finally:
        log_dir.mkdir(parents=True, exist_ok=True)
        merged = {**previous, **times}  # runs of a subset (--only) update their own entries
        record = {"seconds": merged, "total_seconds": sum(merged.values()), "wall_seconds": time.perf_counter() - start, "jobs": workers,
                  "complete": len(times) == len(jobs), "ran": sorted(times)}  # wall_seconds covers the notebooks in "ran"
        path.write_text(json.dumps(record, indent=2))
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=None, help="output root (default: the repository for --full, build/ for --smoke)")
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 03")
    parser.add_argument("-p", "--param", action="append", default=[], help="key=value override")
    parser.add_argument("--check", action="store_true", help="only validate the parameters")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run side by side (each with cpus // jobs threads)")
    args = parser.parse_args(argv)
    kind = "full" if args.full else "smoke"
    out = Path(args.out) if args.out else None
    jobs = plan(kind, out, args.only, parse_overrides(args.param))
    if args.check:
        print(f"[runner] {len(jobs)} notebooks, parameters valid")
        return {}
    log_dir = (out or (ROOT if args.full else ROOT / "build")) / "figures" / "tables"
    return run(jobs, log_dir=log_dir, workers=args.jobs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
