"""Result records: every number the study reports is written with what produced it.

A record is a JSON object whose ``provenance`` says where it came from (:func:`provenance`: the git
commit and whether the work tree had uncommitted changes, the Python / torch / transformers versions,
the CPU and thread count, the UTC time and the command) and whose body names the model (its name and
weights SHA-256, :func:`model_identity`) and the data (:func:`problems_sha256`). Paths inside records
are relative to the repository root (:func:`relative`), so records read the same on every machine.

:func:`write_text_atomic` is the package's one way to write a file atomically (records, figure and
table sidecars, training records, problem sets, manifests): a temporary file beside the target,
flushed, given the mode a plain ``open()`` would (``0o666`` less the umask), renamed into place and
the rename flushed. A reader sees the old file or the new one, never half of one, and a killed run
never leaves half a record behind; :func:`write_record` writes through it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

import torch

from mdlm_study.core import frontier

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


OUTPUTS = ("figures", "notebooks/executed", "benchmarks/results", "docs/results.md", "docs/verdicts.md", "docs/seeds.md")  # what runs write


def git_state() -> dict:
    """``{"commit": sha or "unknown", "dirty": bool or None}``; dirty = tracked files other than the
    study's outputs (:data:`OUTPUTS`, rewritten by the very runs that record this) differ from the
    commit; untracked files do not count."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *(f":!{path}" for path in OUTPUTS))
    return {"commit": commit.strip() if commit else "unknown", "dirty": None if status is None else bool(status.strip())}


@cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # the instruction sets CPU kernels choose their paths by


def cpu_detail(cpuinfo: str | None = None) -> dict:
    """The CPU beyond its model name, which a virtual machine may shorten to a vendor ("AMD EPYC" covers
    Zen 3 without AVX-512 and Zen 4 with native bf16): vendor, family, model, stepping and which of
    :data:`ISA_FLAGS` it has. fp32 training gives bit-identical weights only on the same kernels, and
    ``bf16=None`` trains in bf16 where ``avx512_bf16`` or ``amx_bf16`` is present (docs/decisions.md,
    "Numerics across CPUs"). ``cpuinfo``: the text of ``/proc/cpuinfo`` (read when None); an empty dict
    where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block describes them all
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if not fields:
        return {}
    flags = set(fields.get("flags", "").split())
    numbers = {key: int(fields[key]) if fields.get(key, "").isdigit() else None for key in ("cpu family", "model", "stepping")}
    return {"vendor": fields.get("vendor_id"), "family": numbers["cpu family"], "model": numbers["model"],
            "stepping": numbers["stepping"], "isa": [f for f in ISA_FLAGS if f in flags]}


@cache
def _cpu_detail() -> dict:
    return cpu_detail()


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def machine() -> dict:
    """The hardware a number or a run comes from: the CPU's model name, :func:`cpu_detail` and this
    process's intra-op threads (both change fp32 kernels' rounding, hence trained weights)."""
    return {"cpu": _cpu_model(), "cpu_detail": _cpu_detail(), "threads": torch.get_num_threads()}


def provenance(command: str | Iterable[str] | None = None) -> dict:
    """Where a record comes from: code (commit, dirty), software, hardware, time and command
    (``sys.argv`` when not given)."""
    if command is None:
        command = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if not isinstance(command, str):
        command = shlex.join(str(part) for part in command)
    return {
        **git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        **machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def relative(path: str | Path) -> str:
    """``path`` relative to the repository root when inside it, else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def script_command(script: str | Path, argv: Sequence[str] | None = None) -> list[str]:
    """The command a record names for a script's ``main(argv)``: the script relative to the repository root,
    then ``argv`` (``sys.argv[1:]`` when None: run from the shell), so a call from Python names its own
    arguments rather than the calling process's."""
    return [relative(script), *(sys.argv[1:] if argv is None else argv)]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def problems_sha256(problems: Iterable) -> str:
    """SHA-256 of a problem set as decoded: each problem's question and answer (dataclass fields or
    dict keys), one JSON line each, in order. Two records with the same value decoded the same data."""
    digest = hashlib.sha256()
    for p in problems:
        item = p if isinstance(p, dict) else vars(p)
        line = json.dumps({"question": item.get("question"), "answer": item.get("answer")}, sort_keys=True, default=str)
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def model_identity(name: str, weights_sha256: str) -> dict:
    """The model block of a record: the name users load it by and its weights' SHA-256."""
    if not weights_sha256 or len(weights_sha256) != 64:
        raise ValueError(f"weights_sha256 must be a 64-hex-digit SHA-256, got {weights_sha256!r}")
    return {"model": name, "weights_sha256": weights_sha256}


DECODING_KEYS = ("sampler", "tokens_per_step", "block_size", "med_lambda", "exit_gamma", "mean_nfe", "accuracy", "n_problems",
                 "tokens_per_forward", "aup")


def result_record(config, metrics: Mapping, identity: Mapping | None = None) -> dict:
    """One decoding result, self-describing: the settings (``config.to_dict()`` of a ``DecodeConfig``,
    flat, so every key of :data:`DECODING_KEYS` sits at the top level, ``None`` where it does not
    apply), the ``metrics`` (``accuracy``, ``mean_nfe``, ``n_problems``, ``tokens_per_forward``, ...;
    ``None`` for a setting that was not decoded; ``aup``, hao-ai-lab's accuracy under parallelism of
    this one point, is filled in from accuracy and tokens per forward) and the ``identity`` (:func:`model_identity`, the problem set's name and
    SHA-256). The file's provenance is added by :func:`write_record`."""
    settings = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    metrics = dict(metrics)
    if metrics.get("aup") is None and metrics.get("accuracy") is not None and metrics.get("tokens_per_forward") is not None:
        metrics["aup"] = frontier.aup([(metrics["tokens_per_forward"], 100 * metrics["accuracy"])])  # one point: ρ·y
    return {**dict.fromkeys(DECODING_KEYS), **settings, **metrics, **(identity or {})}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's contents to disk: a rename is durable only once the file it
    moves and the directory holding it are."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain_file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (module docstring); returns the path. The temporary file
    has a unique name, so concurrent writers (``runner --jobs N``) never share one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _plain_file_mode())  # mkstemp makes it private (0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def read_json_object(path: str | Path, what: str) -> dict:
    """The JSON object in ``path``; ``ValueError`` naming the file and ``what`` it should hold (e.g.
    ``"manifest"``) when it is unreadable or not an object."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable {what} ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: a {what} is a JSON object, got {type(value).__name__}")
    return value


def write_json_atomic(path: str | Path, value) -> Path:
    """``value`` as indented JSON with a final newline, written by :func:`write_text_atomic`."""
    return write_text_atomic(path, json.dumps(value, indent=2) + "\n")


def write_record(path: str | Path, record, *, command: str | Iterable[str] | None = None) -> Path:
    """Write ``record`` (a dict, or a list of dicts wrapped as ``{"records": [...]}``) as JSON with a
    ``provenance`` block, atomically. Returns the path."""
    path = Path(path)
    body = {"records": record} if isinstance(record, list) else dict(record)
    body = {**_jsonable(body), "provenance": provenance(command)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, body)
    return path


def read_records(path: str | Path) -> list[dict]:
    """The list of records in a file written by :func:`write_record` (or a bare JSON list)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such record file")
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        return data["records"]
    raise ValueError(f"{path} is not a list of records (a JSON list, or an object with a 'records' list)")
