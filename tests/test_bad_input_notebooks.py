"""Bad notebook parameters, as data (tests/bad_input.py), against the real notebooks' declarations:
through ``coerce_and_validate`` (what the runner and the validation cell share), the runner's
``--check``, and ``check_parameters`` on a kernel's namespace. Then the validation cell for real: a
tiny notebook executed by papermill (the Python API and the CLI) fails in its validation cell with
the parameter's name, and a list passed as a string arrives as a list.

A scalar given for a list parameter (``gammas=0.1``) is refused with the fix (``write [0.1]``), not
wrapped: see mdlm_study.core.parameters."""

import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill
import pytest
from bad_input import Case, check
from papermill.exceptions import PapermillExecutionError

from mdlm_study.core.parameters import NOTEBOOKS, check_parameters, coerce_and_validate, declared_in
from mdlm_study.engine import load_rule_modules, rule_grids
from mdlm_study.runner import main as runner

EARLY_EXIT = "04_answer_uncertainty_early_exit"


@functools.cache
def _declared(stem: str) -> dict:
    return declared_in(NOTEBOOKS / f"{stem}.ipynb")


def notebook(stem: str, **given) -> dict:
    """``given`` read and checked against the declarations of ``notebooks/<stem>.ipynb``."""
    prefix = next(p.stem for p in NOTEBOOKS.glob(f"{stem}*.ipynb"))
    return coerce_and_validate(_declared(prefix), given, notebook=prefix)


def kernel(stem: str, injected: str, **values) -> dict:
    """``check_parameters`` on a namespace as the kernel holds it after papermill's injected cell."""
    cell = next(c for c in nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    namespace = {"In": ["", cell.source, f"# Parameters\n{injected}\n", "check_parameters(globals())"], **values}
    check_parameters(namespace, notebook=stem)
    return namespace


def fresh_folder() -> str:
    return tempfile.mkdtemp(prefix="runner_fresh_")


INT_1 = r"must be an integer in \[1, inf\)"
CASES = [
    Case("notebooks", "unknown name", lambda: notebook("04", n_problemz=3), match=r"unknown parameter 'n_problemz' \(value 3\); it declares seed"),
    Case("notebooks", "runner unknown name", lambda: runner(["--smoke", "--check", "-p", "n_problemz=3"]), match="'n_problemz'"),
    Case("notebooks", "kernel injected unknown name", lambda: kernel(EARLY_EXIT, "unknown_name = 3", unknown_name=3),
         match=rf"notebook {EARLY_EXIT}: unknown parameter 'unknown_name'"),
    Case("notebooks", "negative n_problems", lambda: notebook("04", n_problems=-5), match=rf"'n_problems' {INT_1}.*got -5"),
    Case("notebooks", "kernel negative n_problems", lambda: kernel(EARLY_EXIT, "n_problems = -5", n_problems=-5),
         match=rf"'n_problems' {INT_1}.*got -5"),
    Case("notebooks", "zero n_problems", lambda: notebook("02", n_problems=0), match=rf"'n_problems' {INT_1}.*got 0"),
    Case("notebooks", "bool for n_problems", lambda: notebook("06", n_problems=True), match=r"'n_problems'.*got True \(a boolean is not a number\)"),
    Case("notebooks", "block_size=abc", lambda: notebook("03", block_size="abc"), match=r"'block_size' must be an integer .*got 'abc'"),
    Case("notebooks", "runner block_size=abc", lambda: runner(["--smoke", "--check", "-p", "block_size=abc"]), match=r"'block_size'.*'abc'"),
    Case("notebooks", "fractional batch_size", lambda: notebook("03", batch_size=2.5), match=r"'batch_size' must be an integer.*got 2\.5"),
    Case("notebooks", "smoke=maybe", lambda: notebook("01", smoke="maybe"), match=r"'smoke' must be a boolean.*got 'maybe'"),
    Case("notebooks", "runner smoke=maybe", lambda: runner(["--smoke", "--check", "-p", "smoke=maybe"]), match=r"'smoke'.*'maybe'"),
    Case("notebooks", "scalar for a list", lambda: notebook("04", gammas=0.1), match=r"'gammas'.*got 0\.1 \(a single value; write \[0\.1\]"),
    Case("notebooks", "runner gammas=0.1", lambda: runner(["--smoke", "--check", "-p", "gammas=0.1"]), match=r"'gammas'.*write \[0\.1\]"),
    Case("notebooks", "malformed list string", lambda: notebook("04", gammas="[0.05, 0.5"), match=r"'gammas'.*'\[0\.05, 0\.5' \(not valid YAML"),
    Case("notebooks", "word in a float list", lambda: notebook("04", gammas="[0.05, abc]"), match=r"'gammas'.*element 1, 'abc': not a number"),
    Case("notebooks", "negative gamma", lambda: notebook("04", gammas=[0.1, -0.1]), match=r"'gammas'.*element 1, -0\.1: out of range \[0, inf\)"),
    Case("notebooks", "nan med_lambda", lambda: notebook("04", med_lambda="nan"), match=r"'med_lambda'.*got 'nan' \(not a number\)"),
    Case("notebooks", "ks [1 malformed", lambda: notebook("03", ks="[1"), match=r"'ks'.*'\[1' \(not valid YAML"),
    Case("notebooks", "k of zero", lambda: notebook("03", ks=[0, 1]), match=r"'ks'.*element 0, 0: out of range \[1, inf\)"),
    Case("notebooks", "fractional k", lambda: notebook("03", ks=[1.5]), match=r"'ks' must be a non-empty list of integers.*element 0, 1\.5"),
    Case("notebooks", "tau above one", lambda: rule_grids({"tau": [1.5]}), match=r"tau must be in \(0, 1\], got 1\.5"),
    Case("notebooks", "tau of zero", lambda: rule_grids({"tau": [0.9, 0]}), match=r"tau must be in \(0, 1\], got 0"),
    Case("notebooks", "factor of zero", lambda: rule_grids({"factor": [0.0]}), match=r"factor must be > 0, got 0\.0"),
    Case("notebooks", "sweep of an unknown rule parameter", lambda: rule_grids({"taus": [0.9]}),
         match=r"unknown rule parameter\(s\) \['taus'\]"),
    Case("notebooks", "a scalar sweep", lambda: rule_grids({"tau": 0.9}), match=r"sweeps\['tau'\] must be a list.*got 0\.9"),
    Case("notebooks", "a missing rule module", lambda: load_rule_modules(["no/such/rules.py"]), match=r"'no/such/rules\.py': no such file"),
    Case("notebooks", "negative block size", lambda: notebook("02", block_sizes=[4, -1]), match=r"'block_sizes'.*element 1, -1"),
    Case("notebooks", "number in a rule list", lambda: notebook("02", rules=["entropy", 1]), match=r"'rules'.*element 1, 1: not a string"),
    Case("notebooks", "one rule as a string", lambda: notebook("02", rules="entropy"), match=r"'rules'.*write \[entropy\]"),
    Case("notebooks", "malformed model list", lambda: notebook("01", models="[default, answer_only"), match=r"'models'.*not valid YAML"),
    Case("notebooks", "zero workers", lambda: notebook("01", workers=0), match=rf"'workers' {INT_1}"),
    Case("notebooks", "empty seeds", lambda: notebook("05", seeds=[]), match=r"'seeds'.*got \[\] \(the list is empty\)"),
    Case("notebooks", "zero learning rate", lambda: notebook("05", finetune_lr=0), match=r"'finetune_lr' must be a number in \(0, inf\)"),
    Case("notebooks", "negative temperature", lambda: notebook("05", temperature=-1.0), match=r"'temperature'.*in \[0, inf\).*got -1\.0"),
    Case("notebooks", "word for mc_samples", lambda: notebook("06", mc_samples="many"), match=r"'mc_samples'.*got 'many'"),
    Case("notebooks", "number for model", lambda: notebook("02", model=123), match=r"'model' must be a string.*got 123 \(to pass it as text"),
    Case("notebooks", "None for device", lambda: notebook("04", device=None), match=r"'device' must be a string.*got None"),
    Case("notebooks", "runner --only typo", lambda: runner(["--smoke", "--check", "--only", "4"]), match=r"--only \['4'\] matches no notebook"),
    Case("notebooks", "runner --only 04 without the model",
         lambda: runner(["--smoke", "--only", "04", "--out", fresh_folder()]),
         match=r"checkpoints/default/config\.json \(written by 01_training\.ipynb\)[\s\S]*python -m mdlm_study\.runner --smoke --out \S+ --only 01\n"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_notebook_parameter(case):
    check(case)


TINY = """n: int = 3  # a count in [1, inf)
gammas: list[float] = [0.1]  # thresholds in [0, inf)
flag: bool = True  # a switch"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A notebook with a parameters cell, the validation cell, and a cell that writes what it got."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.ipynb"
    parameters = nbformat.v4.new_code_cell(TINY)
    parameters.metadata["tags"] = ["parameters"]
    cells = [parameters, nbformat.v4.new_code_cell('from mdlm_study.core.parameters import check_parameters\n\ncheck_parameters(globals(), notebook="tiny")'),
             nbformat.v4.new_code_cell('import json\n\nprint(json.dumps({"n": n, "gammas": gammas, "flag": flag}))')]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def _execute(tiny: Path, **parameters) -> dict:
    out = papermill.execute_notebook(str(tiny), str(tiny.with_name("out.ipynb")), parameters=parameters, progress_bar=False,
                                     kernel_name="python3")
    return json.loads(out.cells[-1].outputs[0]["text"])


def test_the_validation_cell_coerces_strings_as_papermill_passes_them(tiny):
    assert _execute(tiny, gammas="[0.05, 0.5]", flag="false", n="12") == {"n": 12, "gammas": [0.05, 0.5], "flag": False}


@pytest.mark.parametrize("parameters, match", [
    ({"unknown_name": 3}, "unknown parameter 'unknown_name' (value 3)"),
    ({"gammas": "[0.05, abc"}, "parameter 'gammas' must be a non-empty list of numbers"),
    ({"flag": "maybe"}, "parameter 'flag' must be a boolean"),
], ids=["unknown", "malformed list", "maybe"])
def test_the_validation_cell_stops_papermill_naming_the_parameter(tiny, parameters, match):
    with pytest.raises(PapermillExecutionError) as err:
        _execute(tiny, **parameters)
    assert err.value.ename == "ValueError" and match in err.value.evalue
    assert err.value.cell_index == 2 and "check_parameters(globals()" in err.value.source  # after the parameters and injected cells


def test_the_papermill_command_line_fails_on_a_negative_count(tiny):
    command = [sys.executable, "-m", "papermill", str(tiny), str(tiny.with_name("cli.ipynb")), "-p", "n", "-5", "--no-progress-bar"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "parameter 'n' must be an integer in [1, inf) (a count), got -5" in done.stderr
