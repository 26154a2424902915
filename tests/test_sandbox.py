"""HumanEval sandbox: every escape a completion has tried, each with the specific outcome it gets.

Most tests run twice when the machine allows: under the detected isolation (here: namespaces and a
fresh uid) and under the uid-only fallback used where namespaces are not available.
"""

import dataclasses
import os
import secrets
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from mdlm_study.tasks import sandbox as graders
from mdlm_study.tasks.sandbox import OUTPUT_LIMIT, humaneval_check, humaneval_pass_at_1

PROBLEM = {"prompt": "def add(a, b):\n", "test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"}
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="dropping privileges needs root")


@pytest.fixture(params=["detected", "uid-only"] if ROOT else ["detected"])
def isolation(request, monkeypatch):
    detected = graders._isolation()
    if request.param == "detected":
        return detected
    forced = dataclasses.replace(detected, prefix=(), private_fs=False, drop_privileges=True)
    monkeypatch.setattr(graders, "_isolation", lambda: forced)
    return forced


@pytest.fixture
def outside():
    """A root-owned directory outside the sandbox (mode 0755) holding ``keep.txt``; in /var/tmp when
    it exists, which the sandbox sees (read-only), unlike /tmp, which it replaces with its own."""
    path = Path(tempfile.mkdtemp(prefix="outside-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    path.chmod(0o755)
    (path / "keep.txt").write_text("keep")
    yield path
    shutil.rmtree(path)


def marker() -> str:
    return f"sandbox-probe-{secrets.token_hex(8)}"


def alive(name: str, *, wait_s: float = 2.0) -> list[int]:
    """Pids whose command line contains ``name``, after waiting up to ``wait_s`` for them to go."""
    deadline = time.monotonic() + wait_s
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and name.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def writer(name: str, *, setsid: bool = False) -> str:
    """Completion lines that fork a child which appends to a file every 50 ms (``name`` is its argv[0])."""
    leave = "        os.setsid()\n" if setsid else ""
    return ("    import os\n    if os.fork() == 0:\n" + leave +
            f"        os.execv('/bin/sh', ['{name}', '-c', 'while :; do echo x >> written.txt; sleep 0.05; done'])\n")


def test_pass_fail_timeout_memory_network_files(tmp_path):
    cases = ["    return a + b\n", "    return a - b\n", "    while True:\n        pass\n",
             "    x = bytearray(10**10)\n    return a + b\n",
             "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
             "    open('out.txt', 'w').write('x')\n    return a + b\n"]
    results = humaneval_pass_at_1([PROBLEM] * len(cases), cases, timeout_s=2.0)
    assert results[0]["passed"] and results[0]["status"] == "passed"
    assert not results[1]["passed"] and results[1]["status"] == "failed" and "AssertionError" in results[1]["detail"]
    assert results[2]["status"] == "timeout"
    assert not results[3]["passed"] and "MemoryError" in results[3]["detail"]
    assert not results[4]["passed"] and "OSError" in results[4]["detail"]
    assert results[5]["passed"]  # writing inside its own temporary directory is allowed
    assert not (tmp_path / "out.txt").exists() and not Path("out.txt").exists()


@pytest.mark.parametrize("completion", [
    "    import sys\n    sys.exit(0)\n",
    "    import os\n    os._exit(0)\n",
    "    raise SystemExit(0)\n",
    "    return None\nimport sys\nsys.exit(0)\n",  # at module level, before check() is even defined
], ids=["sys.exit", "os._exit", "SystemExit", "module-level-exit"])
def test_early_exit_cannot_pass(isolation, completion):
    result = humaneval_check(PROBLEM, completion, timeout_s=3.0)
    assert result["status"] == "failed" and not result["passed"]
    assert result["detail"].startswith("exited with status 0 before check() returned")


def test_forked_child_is_killed_at_the_timeout(isolation):
    name = marker()
    result = humaneval_check(PROBLEM, writer(name) + "    while True:\n        pass\n", timeout_s=1.0)
    assert result["status"] == "timeout"
    assert alive(name) == []


def test_forked_child_is_killed_when_the_run_ends(isolation):
    name = marker()
    result = humaneval_check(PROBLEM, writer(name) + "    import time\n    time.sleep(0.3)\n    return a + b\n", timeout_s=3.0)
    assert result["passed"]
    assert alive(name) == []


def test_threads_left_running_neither_hang_nor_spoil_a_pass(isolation):
    completion = ("    import threading, time\n"
                  "    threading.Thread(target=lambda: (time.sleep(0.5), print('late'))).start()\n    return a + b\n")
    start = time.monotonic()
    result = humaneval_check(PROBLEM, completion, timeout_s=3.0)
    assert result["passed"] and time.monotonic() - start < 2.0


@needs_root
def test_child_that_leaves_the_session_is_killed(isolation):
    name = marker()
    result = humaneval_check(PROBLEM, writer(name, setsid=True) + "    import time\n    time.sleep(0.3)\n    return a + b\n",
                             timeout_s=3.0)
    assert result["passed"]
    assert alive(name) == []


@needs_root
def test_runs_as_an_unprivileged_user(isolation):
    completion = "    import os\n    assert os.getuid() != 0 and os.getgid() != 0 and os.getgroups() == [], os.getuid()\n    return a + b\n"
    assert humaneval_check(PROBLEM, completion, timeout_s=3.0)["passed"]


@needs_root
def test_cannot_write_outside_its_directory(isolation, outside):
    result = humaneval_check(PROBLEM, f"    open('{outside}/pwned', 'w').write('x')\n    return a + b\n", timeout_s=3.0)
    assert result["status"] == "failed"
    assert "PermissionError" in result["detail"] or "Read-only file system" in result["detail"]
    assert not (outside / "pwned").exists()


@needs_root
def test_os_system_runs_unprivileged(isolation, outside):
    completion = (f"    import os\n    rc = os.system('touch {outside}/by_system')\n"
                  "    assert rc == 0, f'os.system returned {rc}'\n    return a + b\n")
    result = humaneval_check(PROBLEM, completion, timeout_s=3.0)
    assert result["status"] == "failed" and "os.system returned" in result["detail"]
    assert not (outside / "by_system").exists()


@needs_root
def test_cannot_delete_outside_its_directory(isolation, outside):
    result = humaneval_check(PROBLEM, f"    import os\n    os.remove('{outside}/keep.txt')\n    return a + b\n", timeout_s=3.0)
    assert result["status"] == "failed"
    assert (outside / "keep.txt").read_text() == "keep"


@pytest.mark.skipif(not (ROOT and graders._isolation().private_fs), reason="needs mount namespaces (root with unshare)")
def test_world_writable_directories_are_private_or_read_only():
    name = marker()
    completion = (f"    open('/tmp/{name}', 'w').write('x')\n"
                  "    for d in ('/var/tmp', '/dev/shm', '/run/lock', '/root'):\n"
                  "        try:\n"
                  f"            open(d + '/{name}', 'w')\n"
                  "        except OSError:\n"
                  "            continue\n"
                  "        raise AssertionError('wrote into ' + d)\n"
                  "    return a + b\n")
    result = humaneval_check(PROBLEM, completion, timeout_s=3.0)
    assert result["passed"], result["detail"]
    assert not any(Path(d, name).exists() for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/root"))


def test_output_is_capped_in_the_graders_memory(isolation):
    completion = "    import sys\n    for _ in range(200):\n        sys.stdout.write('x' * 1_000_000)\n    return a + b\n"
    tracemalloc.start()
    try:
        result = humaneval_check(PROBLEM, completion, timeout_s=10.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["passed"]  # the token after 200 MB is still seen
    assert result["output_bytes"] >= 200_000_000
    assert peak < 4 * OUTPUT_LIMIT


@needs_root
def test_fork_bomb_is_stopped_by_the_process_limit(isolation):
    name = marker()
    completion = ("    import os, sys\n    n = 0\n    try:\n        while n < 1000:\n            if os.fork() == 0:\n"
                  f"                os.execv('/bin/sleep', ['{name}', '60'])\n"
                  "            n += 1\n    finally:\n        sys.stderr.write(f'forked {n}\\n')\n")
    result = humaneval_check(PROBLEM, completion, timeout_s=3.0)
    assert result["status"] == "failed" and "BlockingIOError" in result["detail"]
    forked = int(result["detail"].split("forked ")[1].split()[0])
    assert 0 < forked < 64
    assert alive(name) == []


def test_setup_that_cannot_isolate_is_refused(monkeypatch):
    """``private_fs`` without a mount namespace of its own would remount the host: the child refuses."""
    forced = dataclasses.replace(graders._isolation(), prefix=(), private_fs=True)
    monkeypatch.setattr(graders, "_isolation", lambda: forced)
    with pytest.raises(RuntimeError, match="refusing to remount"):
        humaneval_check(PROBLEM, "    return a + b\n", timeout_s=3.0)


def test_humaneval_bad_problem():
    with pytest.raises(ValueError, match="entry_point"):
        humaneval_check({"prompt": "", "test": ""}, "")
