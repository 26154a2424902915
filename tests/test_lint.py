"""The package, tests, benchmarks and notebook sources pass the project's ruff rules (pyproject.toml);
the executed notebooks are outputs and excluded."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is in the dev extra; not installed here")
def test_ruff_passes_on_sources_and_notebooks():
    ruff = Path(sys.executable).parent / "ruff"
    command = [str(ruff) if ruff.exists() else "ruff", "check", "mdlm_study", "tests", "benchmarks", "notebooks"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
