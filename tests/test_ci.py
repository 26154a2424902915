"""The project's habits: CI runs the README's test command and keeps the smoke-executed notebooks,
pre-commit runs ruff and strips notebook sources (never the executed ones), the license is an SPDX
expression with its file."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_notebooks import SMOKE_DIR

ROOT = Path(__file__).resolve().parents[1]


def _workflow_steps() -> list[dict]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _commands(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_ci_entry_point_is_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    readme_test = next(line.split("#")[0].strip() for line in block.splitlines() if line.startswith("make test"))
    assert _commands((ROOT / ".ci" / "run").read_text())[-1] == readme_test == "make test"


def test_the_workflow_runs_ci_run_and_keeps_the_smoke_notebooks():
    steps = _workflow_steps()
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert ".ci/run" in runs, runs
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert (ROOT / upload["with"]["path"]).resolve() == SMOKE_DIR.resolve()
    tests = next(i for i, step in enumerate(steps) if step.get("run", "").strip() == ".ci/run")
    assert tests < steps.index(upload), "the artifact step comes after the tests"


def test_pre_commit_runs_ruff_and_strips_only_notebook_sources():
    hooks = {hook["id"]: hook for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
             for hook in repo["hooks"]}
    assert {"ruff", "nbstripout"} <= set(hooks)
    files = re.compile(hooks["nbstripout"]["files"])
    assert files.search("notebooks/03_parallel_decoding_med.ipynb")
    assert not files.search("notebooks/executed/03_parallel_decoding_med.ipynb")


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebook_sources_are_already_stripped(notebook, tmp_path):
    """What the pre-commit hook would write is what is committed (nbstripout with the hook's arguments)."""
    nbstripout = Path(sys.executable).parent / "nbstripout"
    if not nbstripout.exists():
        pytest.skip("nbstripout is in the dev extra; not installed here")
    args = next(hook for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
                for hook in repo["hooks"] if hook["id"] == "nbstripout").get("args", [])
    copy = tmp_path / notebook
    copy.write_bytes((ROOT / "notebooks" / notebook).read_bytes())
    subprocess.run([str(nbstripout), *args, str(copy)], check=True)
    assert copy.read_bytes() == (ROOT / "notebooks" / notebook).read_bytes()


def test_license_is_an_spdx_expression_with_its_file():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert all((ROOT / name).read_text().startswith("MIT License") for name in project["license-files"])


GROUPED_MODULE = '''
import os, pytest
pytestmark = pytest.mark.xdist_group("one")
@pytest.fixture(scope="module")
def setup_once():
    with open(os.environ["LOG"], "a") as log:
        log.write(f"setup {os.getpid()}\\n")
@pytest.mark.parametrize("i", range(6))
def test_grouped(setup_once, i):
    with open(os.environ["LOG"], "a") as log:
        log.write(f"test {os.getpid()}\\n")
'''


def test_xdist_groups_keep_a_module_fixture_on_one_worker(tmp_path):
    """`make test` runs `-n 2 --dist loadgroup`: the notebook modules' runs are module fixtures kept on one
    worker by their xdist_group, so each runs once. pytest 9.2 with pytest-xdist 3.8 lost the group (the
    fixture ran on both workers, some 9 minutes of CPU more on the suite), hence pyproject's `pytest<9.2`."""
    (tmp_path / "test_grouped.py").write_text(GROUPED_MODULE)
    (tmp_path / "test_loose.py").write_text("import pytest\n@pytest.mark.parametrize('i', range(20))\ndef test_loose(i):\n    pass\n")
    log = tmp_path / "log"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", str(tmp_path)],
                          cwd=tmp_path, env={**os.environ, "LOG": str(log)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in lines].count("setup") == 1 and len(lines) == 7, lines
    assert len({pid for _, pid in lines}) == 1, f"the grouped tests ran in several workers: {lines}"
