"""Helper modules of ``benchmarks/``: each serves one benchmark script, so it lives beside it, outside the
package; tests load it from its file."""

import contextlib
import importlib.util
import io
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_module(name: str):
    """``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str


def run_script(name: str, *args: str) -> ScriptRun:
    """``python benchmarks/<name>.py args...`` run in this process (its ``__main__`` block, its folder first on the
    path, its output captured): a command-line check without a fresh interpreter importing torch and transformers
    again. The exit code is SystemExit's (argparse: 0 for ``--help``, 2 for a usage error), else 0."""
    out, err = io.StringIO(), io.StringIO()
    argv, path = sys.argv, list(sys.path)
    sys.argv, sys.path[:0] = [str(BENCHMARKS / f"{name}.py"), *args], [str(BENCHMARKS)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv, sys.path[:] = argv, path
    return ScriptRun(code, out.getvalue(), err.getvalue())
