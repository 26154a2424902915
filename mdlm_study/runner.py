"""Run the study's notebooks with papermill, in order, with validated parameters.

``python -m mdlm_study.runner --full``: every notebook of ``notebooks/manifest.yaml`` with
``notebooks/params/full.yaml``; executed notebooks go to ``notebooks/executed/``, figures to
``figures/``, tables to ``figures/tables/``, checkpoints to ``checkpoints/``, data to ``data/``.
``--smoke``: the same with ``notebooks/params/smoke.yaml``, everything under ``build/`` (or ``--out``).
``-p key=value`` overrides a parameter (YAML-parsed value) in every notebook that declares it.

papermill only warns about unknown parameter names; this runner checks every name against
``papermill.inspect_notebook`` first and raises ``ValueError`` naming the key and the notebook.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

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
    import papermill

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


def plan(mode: str, out: Path | None, only: list[str] | None, overrides: dict, notebooks_dir: Path = NOTEBOOKS) -> list[tuple[Path, Path, dict]]:
    """(source, executed output, parameters) per notebook, validated before anything runs.
    The full study writes into the repository unless ``out`` is given (e.g. a real-model run)."""
    full = mode == "full" and out is None
    out = out if out is not None else ROOT / "build"
    executed = NOTEBOOKS / "executed" if full else out / "notebooks"
    paths = {"out_dir": str(ROOT if full else out), "checkpoints_dir": str(ROOT / "checkpoints" if full else out / "checkpoints"),
             "data_dir": str(ROOT / "data" if full else out / "data")}
    jobs = []
    for entry in load_manifest(notebooks_dir):
        name = entry["file"]
        if only and not any(name.startswith(o) for o in only):
            continue
        source = notebooks_dir / name
        declared = declared_parameters(source)
        params = {**parameters_for(name, mode, notebooks_dir), **{k: v for k, v in paths.items() if k in declared}}
        params.update({k: v for k, v in overrides.items() if k in declared})
        validate(source, params)
        jobs.append((source, executed / name, params))
    unused = set(overrides) - {k for _, _, p in jobs for k in p}
    if unused:
        raise ValueError(f"override(s) {sorted(unused)} match no parameter of the selected notebooks")
    return jobs


def run(jobs, *, log_dir: Path) -> dict:
    import papermill

    times = {}
    for source, target, params in jobs:
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        print(f"[runner] {source.name} ...", flush=True)
        papermill.execute_notebook(str(source), str(target), parameters=params, kernel_name="python3", cwd=str(ROOT), progress_bar=False)
        times[source.name] = time.perf_counter() - start
        print(f"[runner] {source.name} done in {times[source.name]:.0f} s", flush=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "run_times.json"
    previous = json.loads(path.read_text())["seconds"] if path.exists() else {}
    merged = {**previous, **times}  # runs of a subset (--only) update their own entries
    path.write_text(json.dumps({"seconds": merged, "total_seconds": sum(merged.values())}, indent=2))
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
    args = parser.parse_args(argv)
    kind = "full" if args.full else "smoke"
    out = Path(args.out) if args.out else None
    jobs = plan(kind, out, args.only, parse_overrides(args.param))
    if args.check:
        print(f"[runner] {len(jobs)} notebooks, parameters valid")
        return {}
    log_dir = (out or (ROOT if args.full else ROOT / "build")) / "figures" / "tables"
    return run(jobs, log_dir=log_dir)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
