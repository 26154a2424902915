"""The released models: the study's trained weights, committed under ``models/`` and loaded by name.

Each released model is a plain Hugging Face folder ``models/<name>/`` (``config.json``,
``model.safetensors``, the tokenizer files and, for a finished run, its training record
``training.json``; no optimizer state). ``models/MANIFEST.json`` lists, per name, every file with its
SHA-256 and size, the weights' SHA-256 (:func:`mdlm_study.models.checkpoints.weights_sha256`), the recipe, seed and
step count, the training data's SHA-256, and the command that built the release.

Names (:data:`RELEASES`): ``default``, ``answer_only`` and ``sudoku`` (the study's three recipes,
seed 0), ``base`` (the ``default`` run's snapshot at ``recipes.BASE_STEP``, the fine-tuning
experiment's base model), ``default_seed1`` ... ``default_seed4`` (the default recipe with other
seeds), ``steps`` (every single step of the chains, the deep regime's warm start), ``sudoku_seed1``
... ``sudoku_seed4`` (the Sudoku recipe with other seeds), ``chains`` and ``chains_seed1`` ...
``chains_seed4`` with ``chains_answer_only`` (the deep regime), ``base_seed1`` ... ``base_seed4`` (each
default seed's snapshot at ``BASE_STEP``) and ``answer_only_seed1`` ... (each default seed's answer-only twin).

Loading: ``mdlm_study.models.load_model(name)`` (or ``load_model(name, checkpoints_dir="models")``, and so
every notebook's ``checkpoints_dir="models"`` and every benchmark's ``--checkpoints models``) checks every
file against the manifest (:func:`check_release`), loads the folder strictly (no missing, unexpected or
reshaped tensor) and checks the weights' SHA-256 against the manifest's.

Commands:

- ``python -m mdlm_study.models.released write --from CKPT``: build ``models/`` from a tree of trained runs laid
  out as ``CKPT/seed<N>/<recipe>`` (the base model: ``CKPT/seed0/default/step<BASE_STEP>``);
- ``python -m mdlm_study.models.released verify``: check every released model (files and weights);
- ``python -m mdlm_study.models.released compare --checkpoints checkpoints``: after ``make reproduce``, say per
  model whether the retrained weights equal the released ones bit for bit (a record, with provenance).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mdlm_study.core.records import ROOT, file_sha256, relative, write_json_atomic, write_record
from mdlm_study.models.checkpoints import MARKER, RECORD, weights_sha256
from mdlm_study.models.tiny_model import load_tiny

RELEASED_DIR = ROOT / "models"
MANIFEST = "MANIFEST.json"
SOURCE_PLACEHOLDER = "<checkpoints>"  # the manifest's stand-in for the --from folder (a path of the machine that wrote it)
# What a released folder holds (those present in the source are copied); never the optimizer state.
RELEASE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", RECORD)
BASE_STEP = 5000  # recipes.BASE_STEP (checked by the tests; imported lazily there to keep this module light)
DATA_SETS = {"default": "arithmetic_train", "answer_only": "arithmetic_train", "sudoku": "sudoku_train",
             "chains": "chains_train", "chains_answer_only": "chains_train", "steps": "steps_train"}  # recipe -> training set (recipes checks it against the recipes' tasks)


@dataclass(frozen=True)
class Release:
    """One released model: which recipe, which seed, and whether it is the run's snapshot."""

    name: str
    recipe: str
    seed: int
    snapshot: int | None = None  # the step of the snapshot released (the base model), None for the final weights

    def source(self, root: Path, *, per_seed: bool = True) -> Path:
        """Where a checkpoint tree holds it: ``root/seed<N>/<recipe>`` (``per_seed``, several seeds) or
        ``root/<recipe>`` (the study's ``checkpoints/``, seed 0); a snapshot is ``step<N>`` inside."""
        path = root / f"seed{self.seed}" / self.recipe if per_seed else root / self.recipe
        return path / f"step{self.snapshot}" if self.snapshot is not None else path


RELEASES = {r.name: r for r in (
    Release("default", "default", 0),
    Release("answer_only", "answer_only", 0),
    Release("sudoku", "sudoku", 0),
    Release("base", "default", 0, snapshot=BASE_STEP),
    *(Release(f"default_seed{seed}", "default", seed) for seed in range(1, 5)),
    Release("steps", "steps", 0),  # the deep regime's warm start (every chains recipe starts from it)
    *(Release(f"sudoku_seed{seed}", "sudoku", seed) for seed in range(1, 5)),
    Release("chains", "chains", 0),  # the deep regime (docs/decisions.md, "Two regimes")
    Release("chains_answer_only", "chains_answer_only", 0),
    *(Release(f"chains_seed{seed}", "chains", seed) for seed in range(1, 5)),
    *(Release(f"base_seed{seed}", "default", seed, snapshot=BASE_STEP) for seed in range(1, 5)),  # Table E on every seed
    *(Release(f"answer_only_seed{seed}", "answer_only", seed) for seed in range(1, 5)),  # the reasoning check on every seed
)}


def is_release_dir(path: str | Path) -> bool:
    """Whether ``path`` is a release folder (it holds a ``MANIFEST.json`` listing models)."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(released_dir: str | Path = RELEASED_DIR) -> dict:
    """The release manifest; ``ValueError`` naming the file when it is missing or unreadable."""
    path = Path(released_dir) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{path}: no release manifest (restore it with `git checkout -- {relative(path)}`, or build the release with "
                         "`python -m mdlm_study.models.released write --from CKPT`)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable release manifest ({err}); restore it with `git checkout -- {relative(path)}`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ValueError(f"{path}: a release manifest is a JSON object with a 'models' object")
    return manifest


def released_names(released_dir: str | Path = RELEASED_DIR) -> list[str]:
    """The names of the released models, in the manifest's order."""
    return list(read_manifest(released_dir)["models"])


def released_path(name: str, released_dir: str | Path = RELEASED_DIR) -> Path:
    """The folder of released model ``name``; ``ValueError`` naming it and the known names if unknown."""
    names = released_names(released_dir)
    if name not in names:
        raise ValueError(f"unknown released model {name!r}; the release in {relative(released_dir)} has {names}")
    return Path(released_dir) / name


def _entry(name: str, released_dir: str | Path) -> dict:
    released_path(name, released_dir)
    return read_manifest(released_dir)["models"][name]


def check_release(name: str, released_dir: str | Path = RELEASED_DIR) -> dict:
    """The manifest entry of released model ``name`` after checking that its folder holds exactly the
    listed files, each with its recorded size and SHA-256 (``ValueError`` saying what differs and how to
    restore it, otherwise). ``load_model`` then checks the loaded weights' SHA-256."""
    entry, folder = _entry(name, released_dir), Path(released_dir) / name
    fix = (f"restore the released files with `git checkout -- {relative(folder)}` (or rebuild the release: "
           f"{read_manifest(released_dir).get('command', 'python -m mdlm_study.models.released write --from CKPT')})")
    problems = []
    for file, want in sorted(entry["files"].items()):
        path = folder / file
        if not path.is_file():
            problems.append(f"{file} is missing")
            continue
        size, sha = path.stat().st_size, file_sha256(path)
        if (size, sha) != (want["bytes"], want["sha256"]):
            problems.append(f"{file} has {size} bytes with SHA-256 {sha}, but {MANIFEST} records {want['bytes']} bytes with SHA-256 {want['sha256']}")
    extra = sorted(p.name for p in folder.iterdir() if p.name not in entry["files"]) if folder.is_dir() else []
    if extra:
        problems.append(f"files the manifest does not list: {extra}")
    if problems:
        raise ValueError(f"released model {name!r} ({folder}) differs from {MANIFEST}: {'; '.join(problems)}; {fix}")
    return entry


def verify_released(name: str, released_dir: str | Path = RELEASED_DIR) -> dict:
    """Check released model ``name`` (files and weights, as ``load_model`` loads it); return its manifest entry."""
    from mdlm_study.models.loader import load_model  # cycle: the loader resolves names through this module

    load_model(name, checkpoints_dir=released_dir)
    return _entry(name, released_dir)


def released_record(name: str, released_dir: str | Path = RELEASED_DIR) -> dict:
    """A released model's record (``load_model``'s ``LoadedMDLM.record``): its training record when it
    has one (``training.json``), with the release's name, weights SHA-256 and folder."""
    entry, folder = _entry(name, released_dir), Path(released_dir) / name
    record = json.loads((folder / RECORD).read_text()) if RECORD in entry["files"] else {"recipe": name}
    return {**record, "released": name, "weights_sha256": entry["weights_sha256"], "source": relative(folder)}


def missing_model_message(name: str, checkpoints_dir: str | Path) -> str:
    """How to get a study model that is not in ``checkpoints_dir``."""
    try:
        names = released_names()
    except ValueError:
        names = list(RELEASES)
    return (f"study model {name!r} is not trained in {checkpoints_dir}: run `make reproduce` (notebook 01 trains it), "
            f"or use a released model (checkpoints_dir='{relative(RELEASED_DIR)}', one of {names})")


# --- building the release -----------------------------------------------------------------------


def _data_block(recipe: str, record: dict | None) -> dict:
    """The training data of a run: the token-level SHA-256 its training record holds when it holds one,
    and the SHA-256 of the generated training file (``data/manifest.json``)."""
    data_manifest = ROOT / "data" / "manifest.json"
    data_set = DATA_SETS[recipe]
    files = json.loads(data_manifest.read_text()) if data_manifest.is_file() else {}
    recorded = (record or {}).get("data_sha256") or ((record or {}).get("run") or {}).get("data_sha256")
    return {"set": data_set, "file": f"data/{data_set}.jsonl", "file_sha256": files.get(data_set, {}).get("sha256"),
            "seed": files.get(data_set, {}).get("seed"), "size": files.get(data_set, {}).get("size"),
            "tokens_sha256": recorded, "recorded_in_training_json": recorded is not None}


def _entry_for(release: Release, folder: Path, source: Path) -> dict:
    model, _ = load_tiny(folder, external=True)
    record = json.loads((folder / RECORD).read_text()) if (folder / RECORD).is_file() else None
    parent = source.parent / RECORD if release.snapshot is not None else source / RECORD
    run = record if record is not None else (json.loads(parent.read_text()) if parent.is_file() else None)
    steps = release.snapshot if release.snapshot is not None else (run or {}).get("train", {}).get("steps")
    recorded_seed = (run or {}).get("train", {}).get("seed")
    if recorded_seed is not None and recorded_seed != release.seed:
        raise ValueError(f"{source}: {RECORD} records seed {recorded_seed}, but the release expects seed {release.seed} for {release.name!r}")
    sha = weights_sha256(model)
    if record is not None and record.get("weights_sha256") not in (None, sha):
        raise ValueError(f"{source}: the weights have SHA-256 {sha}, but {RECORD} records {record['weights_sha256']}")
    return {
        "recipe": release.recipe, "seed": release.seed, "steps": steps,
        "snapshot_of": f"{release.recipe} (seed {release.seed}) at step {release.snapshot}" if release.snapshot is not None else None,
        "weights_sha256": sha, "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": (record or {}).get("train_seconds"), "training_data": _data_block(release.recipe, run),
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in sorted(folder.iterdir())},
    }


def write_release(source: str | Path, out: str | Path = RELEASED_DIR, *, names: list[str] | None = None, command: str | None = None) -> dict:
    """Copy the runs under ``source`` (laid out ``seed<N>/<recipe>``, :meth:`Release.source`) into
    ``out/<name>`` (only :data:`RELEASE_FILES`: no optimizer state, no completion marker) and write
    ``out/MANIFEST.json``; return the manifest. Each source folder must load strictly. The models of an
    existing manifest in ``out`` that ``names`` leaves out are kept as they are (a seed is released as
    soon as its training finishes, beside the others), in the order of :data:`RELEASES`."""
    source, out = Path(source), Path(out)
    names = list(RELEASES) if names is None else names
    unknown = [n for n in names if n not in RELEASES]
    if unknown:
        raise ValueError(f"unknown released model(s) {unknown}; expected names from {list(RELEASES)}")
    kept = read_manifest(out)["models"] if is_release_dir(out) else {}
    models = {}
    for name in names:
        release = RELEASES[name]
        src = release.source(source)
        if not src.is_dir():
            raise ValueError(f"{src}: no such run folder for released model {name!r} (expected {source}/seed<N>/<recipe>)")
        staged = out / f".{name}.new"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for file in RELEASE_FILES:
            if (src / file).is_file():
                shutil.copyfile(src / file, staged / file)
        models[name] = _entry_for(release, staged, src)
        models[name]["source"] = src.relative_to(source).as_posix()  # inside --from: no path of the machine that wrote it
        shutil.rmtree(out / name, ignore_errors=True)
        staged.rename(out / name)
    manifest = {
        "description": "The study's released models (Hugging Face folders); load with mdlm_study.models.load_model(name).",
        "command": command or shlex.join(["python", "-m", "mdlm_study.models.released", "write", "--from", SOURCE_PLACEHOLDER,
                                          "--out", relative(out)]),
        "source": f"each model's 'source' is relative to {SOURCE_PLACEHOLDER}, the folder of training runs (seed<N>/<recipe>)",
        "weights_sha256": f"{weights_sha256.__module__}.{weights_sha256.__name__}: SHA-256 of every state-dict tensor's bytes, "
                          "in sorted key order",
        "models": {name: ({**kept, **models})[name] for name in [*RELEASES, *kept] if name in {**kept, **models}},
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


# --- retrained vs released ----------------------------------------------------------------------


def _retrained_sha(path: Path) -> str:
    """Weights SHA-256 of a retrained checkpoint (verified by its completion marker when it has one)."""
    model, _ = load_tiny(path, external=not (path / MARKER).exists())
    return weights_sha256(model)


def compare_with_release(checkpoints_dir: str | Path, released_dir: str | Path = RELEASED_DIR) -> list[dict]:
    """One row per released model: whether the run retrained in ``checkpoints_dir`` (the study's layout,
    ``<recipe>`` and ``default/step<N>``, seed 0) has bit-identical weights (``weights_sha256``) to
    the released one. Models ``checkpoints_dir`` does not hold (other seeds) are ``"not retrained"``; a run whose
    folder has no training record (stopped before its last step, e.g. an interrupted ``make reproduce``) is
    ``"unfinished"``: its weights are a checkpoint's, not the run's."""
    checkpoints_dir, manifest = Path(checkpoints_dir), read_manifest(released_dir)
    rows = []
    for name, entry in manifest["models"].items():
        release = RELEASES.get(name, Release(name, entry.get("recipe", name), entry.get("seed", 0), None))
        path = release.source(checkpoints_dir, per_seed=False)
        row = {"model": name, "recipe": entry.get("recipe"), "seed": entry.get("seed"), "steps": entry.get("steps"),
               "released_weights_sha256": entry["weights_sha256"], "retrained": relative(path), "retrained_weights_sha256": None}
        if release.seed != 0 or not path.is_dir():
            row.update(status="not retrained", bit_identical=None)
        elif release.snapshot is None and not (path / RECORD).is_file():  # a run stopped before its last step (no training record)
            row.update(status="unfinished", bit_identical=None)
        else:
            try:
                row["retrained_weights_sha256"] = _retrained_sha(path)
            except ValueError as err:
                row.update(status=f"unreadable: {err}", bit_identical=None)
            else:
                same = row["retrained_weights_sha256"] == entry["weights_sha256"]
                row.update(status="bit-identical" if same else "different", bit_identical=same)
        rows.append(row)
    return rows


def report_comparison(checkpoints_dir: str | Path, out: str | Path, released_dir: str | Path = RELEASED_DIR) -> list[dict]:
    """:func:`compare_with_release`, written as a record (``records.write_record``, with provenance:
    the CPU and thread count matter, weights may differ across CPU types) and printed, one line a model."""
    rows = compare_with_release(checkpoints_dir, released_dir)
    write_record(out, {"checkpoints_dir": relative(checkpoints_dir), "released_dir": relative(released_dir),
                       "bit_identical": [r["model"] for r in rows if r["bit_identical"]],
                       "different": [r["model"] for r in rows if r["bit_identical"] is False], "models": rows})
    for r in rows:
        detail = f" (retrained {r['retrained_weights_sha256'][:12]}, released {r['released_weights_sha256'][:12]})" if r["retrained_weights_sha256"] else ""
        print(f"[released] {r['model']:<14} {r['status']}{detail}", flush=True)
    print(f"[released] written to {relative(out)}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="build the release from trained runs (CKPT/seed<N>/<recipe>)")
    write.add_argument("--from", dest="source", required=True)
    write.add_argument("--out", default=str(RELEASED_DIR))
    write.add_argument("--names", nargs="*", default=None, help=f"subset of {list(RELEASES)}")
    verify = sub.add_parser("verify", help="check every released model's files and weights against the manifest")
    verify.add_argument("--dir", default=str(RELEASED_DIR))
    compare = sub.add_parser("compare", help="retrained (make reproduce) vs released weights, bit for bit")
    compare.add_argument("--checkpoints", default="checkpoints")
    compare.add_argument("--dir", default=str(RELEASED_DIR))
    compare.add_argument("--out", default="benchmarks/results/machine/reproduce_weights.json")
    args = parser.parse_args(argv)
    if args.command == "write":
        # the --from folder is a path of this machine: the manifest names it by its stand-in, as each model's "source"
        command = shlex.join(["python", "-m", "mdlm_study.models.released", "write", "--from", SOURCE_PLACEHOLDER, "--out", relative(args.out),
                              *(["--names", *args.names] if args.names else [])])
        manifest = write_release(args.source, args.out, names=args.names, command=command)
        for name, entry in manifest["models"].items():
            print(f"{name:<14} {entry['weights_sha256']}  steps {entry['steps']}  seed {entry['seed']}")
    elif args.command == "verify":
        for name in released_names(args.dir):
            entry = verify_released(name, args.dir)
            print(f"{name:<14} ok  {entry['weights_sha256']}")
    else:
        report_comparison(args.checkpoints, args.out, args.dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as err:
        print(f"released: error: {err}", file=sys.stderr)
        sys.exit(2)
