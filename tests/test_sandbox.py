"""HumanEval sandbox: pass, fail, timeout, memory, network and files."""

from pathlib import Path

import pytest

from mdlm_study.graders import humaneval_check, humaneval_pass_at_1

PROBLEM = {"prompt": "def add(a, b):\n", "test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"}


def test_humaneval_pass_fail_timeout_memory_network_files(tmp_path):
    cases = ["    return a + b\n", "    return a - b\n", "    while True:\n        pass\n",
             "    x = bytearray(10**10)\n    return a + b\n",
             "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
             "    open('out.txt', 'w').write('x')\n    return a + b\n"]
    results = humaneval_pass_at_1([PROBLEM] * len(cases), cases, timeout_s=3.0)
    assert results[0]["passed"] and results[0]["status"] == "passed"
    assert not results[1]["passed"] and results[1]["status"] == "failed"
    assert not results[2]["passed"] and results[2]["status"] in ("timeout", "killed")
    assert not results[3]["passed"]
    assert not results[4]["passed"]
    assert results[5]["passed"]  # writing inside its own temporary directory is allowed
    assert not (tmp_path / "out.txt").exists() and not Path("out.txt").exists()


def test_humaneval_bad_problem():
    with pytest.raises(ValueError, match="entry_point"):
        humaneval_check({"prompt": "", "test": ""}, "")
