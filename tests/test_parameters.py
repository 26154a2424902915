"""mdlm_study.core.parameters: one reading of booleans, declarations with ranges, coercion and the
validation cell's checks (without a kernel; tests/test_bad_input_notebooks.py runs one)."""

import ast
import hashlib
import json
import sys

import nbformat
import pytest

from mdlm_study.core.parameters import (
    NOTEBOOKS,
    Interval,
    check_parameters,
    coerce_and_validate,
    declare,
    declared_in,
    declared_in_source,
    parse_bool,
    parse_flags,
)
from mdlm_study.engine import DecodeConfig

CELL = """n: int = 3  # count in [1, inf)
gammas: list[float] = [0.1]  # thresholds (nats) in [0, inf)
taus: list[float] = [0.9]  # confidence in (0, 1]
flag: bool = False  # a switch
rules: list[str] = ["entropy"]  # rule names
lr: float = 0.1  # step size in (0, 1)
name: str = "default"  # a model name
options: dict = {"a": 1}  # extra options
anything: list = [1, "x"]  # elements of any type"""
DECLARED = declared_in_source(CELL, notebook="t")
VALIDATE = 'check_parameters(globals(), notebook="t")'
SOURCES = sorted(NOTEBOOKS.glob("0*.ipynb"))


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("False", False), (" YES ", True), ("no", False),
    ("1", True), ("0", False), ("TRUE", True), ("  false\n", False),
])
def test_parse_bool_reads_every_spelling(value, expected):
    assert parse_bool(value, name="flag") is expected


@pytest.mark.parametrize("value", ["", "maybe", "tru", 2, -1, 1.0, None, [], "on"])
def test_parse_bool_refuses_anything_else_naming_the_flag(value):
    with pytest.raises(ValueError, match=r"smoke must be a boolean .*got"):
        parse_bool(value, name="smoke")


def test_parse_bool_none_only_when_allowed():
    assert parse_bool(None, name="x", allow_none=True) is None
    assert parse_bool("no", name="x", allow_none=True) is False


def test_parse_flags_reads_the_named_booleans_only():
    out = parse_flags({"answer_last": "no", "med_lambda": 0.2, "sampler": "med"}, DecodeConfig.BOOL_FIELDS)
    assert out == {"answer_last": False, "med_lambda": 0.2, "sampler": "med"}
    assert parse_flags({"x": "yes", "y": "yes"}, flags=["x"]) == {"x": True, "y": "yes"}
    with pytest.raises(ValueError, match="answer_last must be a boolean.*'maybe'"):
        parse_flags({"answer_last": "maybe"}, DecodeConfig.BOOL_FIELDS)


def test_declarations_carry_types_ranges_and_help():
    n, gammas, taus = DECLARED["n"], DECLARED["gammas"], DECLARED["taus"]
    assert (n.kind, n.default, n.help, n.interval) == ("int", 3, "count", Interval(1, float("inf"), True, False))
    assert (gammas.kind, gammas.element, str(gammas.interval)) == ("list", "float", "[0, inf)")
    assert str(taus.interval) == "(0, 1]" and 1 in taus.interval and 0 not in taus.interval
    assert DECLARED["anything"].element is None and DECLARED["flag"].interval is None
    assert n.expected() == "an integer in [1, inf) (count)"


@pytest.mark.parametrize("line, match", [
    ("x: complex = 1  # c", "'x'.*unsupported annotation 'complex'"),
    ("x: list[dict] = [{}]  # c", "'x'.*unsupported annotation"),
    ("x: str = 'a'  # c in [0, 1]", "'x'.*a range .* needs an int or float"),
    ("x: int = 1  # c in [2, 1]", "'x'.*range \\[2, 1\\] is empty"),
    ("x: float = 0.5  # c in (1, 1]", "'x'.*empty"),
    ("x: int = 0  # c in [1, inf)", "parameter 'x' must be an integer in \\[1, inf\\) \\(c\\), got 0"),
    ("x: int = len('ab')  # c", "'x'.*not a Python literal"),
    ("x: int = 1  # c with a = in the help", "papermill cannot parse the declaration of \\['x'\\]"),
])
def test_a_bad_declaration_is_refused_naming_it(line, match):
    with pytest.raises(ValueError, match=match):
        declared_in_source(line, notebook="t")


def test_a_list_declared_empty_may_stay_empty_and_a_sweep_may_not():
    declared = declared_in_source("extra: list[str] = []  # opt-in modules\nks: list[int] = [1]  # sweep", notebook="t")
    assert coerce_and_validate(declared, {"extra": "[]"}, notebook="t") == {"extra": []}
    assert declared["extra"].expected() == "a list of strings (opt-in modules)"
    with pytest.raises(ValueError, match="'ks' must be a non-empty list of integers.*got \\[\\] \\(the list is empty\\)"):
        coerce_and_validate(declared, {"ks": []}, notebook="t")


def test_an_unannotated_parameter_takes_the_type_of_its_default():
    assert declare("k", None, "[1, 2]", "ks", notebook="t").kind == "list"
    with pytest.raises(ValueError, match="'k'.*annotate it"):
        declare("k", None, "None", "ks", notebook="t")


def test_strings_are_read_the_way_papermill_delivers_them():
    given = {"n": "12", "gammas": "[0.05, 0.5]", "taus": "[1, 0.5]", "flag": " Yes ", "rules": "[entropy, l2r]", "lr": "1e-3",
             "options": "{b: 2}", "anything": "[1, two]"}
    assert coerce_and_validate(DECLARED, given, notebook="t") == {
        "n": 12, "gammas": [0.05, 0.5], "taus": [1, 0.5], "flag": True, "rules": ["entropy", "l2r"], "lr": 0.001,
        "options": {"b": 2}, "anything": [1, "two"]}


def test_values_of_the_right_type_pass_unchanged():
    given = {"n": 5, "gammas": [0, 2], "lr": 0.5, "flag": 0, "name": "GSAI-ML/LLaDA-8B-Instruct", "anything": ("a",)}
    assert coerce_and_validate(DECLARED, given, notebook="t") == {**given, "flag": False, "anything": ["a"]}


def test_an_unknown_name_is_listed_with_the_declared_ones():
    with pytest.raises(ValueError, match=r"notebook t: unknown parameter 'n_problemz' \(value 3\); it declares n, gammas"):
        coerce_and_validate(DECLARED, {"n_problemz": 3}, notebook="t")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_notebook_declares_valid_defaults_with_types(path):
    declared = declared_in(path)  # raises on a bad declaration or an invalid default
    for entry in declared.values():
        assert entry.kind != "list" or entry.element, f"{path.name}: {entry.name} needs an element type (list[...])"
    assert coerce_and_validate(declared, {k: d.default for k, d in declared.items()}, notebook=path.name)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_opening_cell_follows_the_parameters_cell(path):
    """The cell after ``parameters`` opens the notebook (``open_notebook`` checks the parameters
    before anything else), and nothing else opens it or checks its parameters again."""
    cells = nbformat.read(path, as_version=4).cells
    index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    opening = cells[index + 1]
    assert opening.cell_type == "code" and f'nb = open_notebook(globals(), "{path.stem}"' in opening.source
    assert sum("open_notebook(" in c.source for c in cells) == 1 and not any("check_parameters(" in c.source for c in cells)
    assert "close_notebook(nb, " in cells[-1].source  # and the last cell closes it


def _namespace(*cells: str, **values) -> dict:
    """What the kernel holds when the validation cell runs: IPython's history ``In`` (this cell last)
    and the globals the cells before it assigned."""
    return {"In": ["", *cells, VALIDATE], "Out": {}, **values}


def test_check_parameters_writes_coerced_values_back():
    namespace = _namespace(CELL, "# Parameters\ngammas = \"[0.05, 0.5]\"\nflag = \"true\"\n", n=3, gammas="[0.05, 0.5]", taus=[0.9],
                           flag="true", rules=["entropy"], lr=0.1, name="default", options={}, anything=[1])
    params = check_parameters(namespace, notebook="t")
    assert namespace["gammas"] == [0.05, 0.5] and namespace["flag"] is True and namespace["n"] == 3
    assert list(params) == list(declared_in_source(CELL, notebook="t")) and params["gammas"] == [0.05, 0.5]


def test_check_parameters_catches_an_injected_unknown_name():
    namespace = _namespace(CELL, "# Parameters\nbogus = 3\n", n=3, bogus=3)
    with pytest.raises(ValueError, match="notebook t: unknown parameter 'bogus' \\(value 3\\)"):
        check_parameters(namespace, notebook="t")


def test_check_parameters_checks_current_values_and_ignores_papermills_own_names():
    with pytest.raises(ValueError, match="notebook t: parameter 'n' must be an integer in \\[1, inf\\).*got -5"):
        check_parameters(_namespace(CELL, "# Parameters\nn = -5\n", n=-5), notebook="t")
    namespace = _namespace(CELL, "# Parameters\nPAPERMILL_INPUT_PATH = 'a.ipynb'\nn = 4\n", n=4, PAPERMILL_INPUT_PATH="a.ipynb")
    check_parameters(namespace, notebook="t")
    assert namespace["n"] == 4


def test_check_parameters_skips_cells_run_by_hand_in_between():
    """Interactive reruns: cells between the parameters cell and this one that are not papermill's
    are not overrides (the PARAMETER_NAMES cell assigns without annotations, so it is not taken for
    the parameters cell either)."""
    namespace = _namespace(CELL, "exp = 1", "PARAMETER_NAMES = ['n']", n=2, exp=1)
    check_parameters(namespace, notebook="t")
    assert namespace["n"] == 2


def test_without_history_the_declarations_come_from_the_notebook_file():
    namespace = {"seed": 0, "smoke": "no", "model": "default", "task": "arithmetic", "device": "cpu", "n_problems": 0, "out_dir": "."}
    check_parameters(namespace, notebook="07_summary")
    assert namespace["smoke"] is False
    with pytest.raises(ValueError, match="notebook 07_summary: parameter 'n_problems'.*got -1"):
        check_parameters({**namespace, "n_problems": -1}, notebook="07_summary")
    with pytest.raises(ValueError, match="cannot find its parameters cell"):
        check_parameters({}, notebook="no_such_notebook")


def test_the_real_parameters_cells_parse_as_papermill_sees_them():
    """papermill's own inspection agrees with ours on names and annotations (list[float] included)."""
    import papermill

    for path in SOURCES:
        seen = papermill.inspect_notebook(str(path))
        ours = declared_in(path)
        assert list(seen) == list(ours), path.name
        for name, entry in ours.items():
            annotation = seen[name]["inferred_type_name"]
            assert annotation == (f"list[{entry.element}]" if entry.element else entry.kind), (path.name, name)


def test_the_reported_command_line_strings_now_arrive_typed():
    """``papermill ... -p ks [1]``, ``-p gammas "[0.05, 0.5]"`` and ``-p trust_remote_code false`` pass strings."""
    path = NOTEBOOKS / "03_parallel_decoding_med.ipynb"
    given = {"ks": "[1]", "sweeps": "{med_lambda: [0.05, 0.5]}", "trust_remote_code": "false", "n_problems": 12}
    assert coerce_and_validate(declared_in(path), given, notebook=path.name) == {
        "ks": [1], "sweeps": {"med_lambda": [0.05, 0.5]}, "trust_remote_code": False, "n_problems": 12}


@pytest.mark.parametrize("stem", [p.stem for p in SOURCES])
def test_a_notebooks_recorded_parameters_come_from_its_parameters_cell(stem):
    """No hand-kept list of names: ``PARAMS`` is ``open_notebook``'s ``params``, which starts as what
    ``check_parameters`` returns, every declared name (tests/test_open_notebook.py)."""
    cells = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells
    source = "\n".join(c.source for c in cells)
    assert f'nb = open_notebook(globals(), "{stem}"' in source and "PARAMETER_NAMES" not in source
    assert "dict(globals())" not in source  # nor are parameters picked out of the namespace by hand
    parameters = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    namespace = _namespace(parameters, **{name: d.default for name, d in declared_in_source(parameters, notebook=stem).items()})
    assert list(check_parameters(namespace, notebook=stem)) == list(declared_in(NOTEBOOKS / f"{stem}.ipynb"))


def _parameters_cells() -> dict[str, str]:
    return {path.name: next(c.source for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
            for path in SOURCES}


def test_the_stored_readings_are_papermills_reading_of_every_notebook_as_it_is_now(tmp_path):
    """notebooks/params/readings.json is what papermill reads in each notebook's parameters cell today, and nothing
    else (a stale entry, or a notebook edited without `python -m mdlm_study.core.parameters`, fails here)."""
    from mdlm_study.core.parameters import READINGS, write_readings

    fresh = json.loads(write_readings(out=tmp_path / "readings.json").read_text())["readings"]
    stored = json.loads(READINGS.read_text())["readings"]
    assert stored == fresh, "notebooks/params/readings.json is stale: run python -m mdlm_study.core.parameters"
    assert set(stored) == {hashlib.sha256(source.encode()).hexdigest() for source in _parameters_cells().values()}


def test_a_stored_cell_is_read_without_papermill_and_an_edited_one_by_papermill(monkeypatch):
    from mdlm_study.core.parameters import papermill_reading

    cells = _parameters_cells()
    with_papermill = {name: papermill_reading(source) for name, source in cells.items()}
    monkeypatch.setitem(sys.modules, "papermill", None)  # importing papermill now raises ImportError
    monkeypatch.setitem(sys.modules, "papermill.translators", None)
    for name, source in cells.items():
        assert declared_in_source(source, notebook=name) and papermill_reading(source) == with_papermill[name], name
    with pytest.raises(ImportError):
        papermill_reading(cells["04_answer_uncertainty_early_exit.ipynb"] + "\nextra: int = 1  # an edit")


def test_a_notebook_kernel_imports_no_papermill_with_the_runner():
    """The runner imports papermill where it runs a notebook, not at the top: the kernel of every notebook imports
    ``mdlm_study.runner.notebook`` and so the runner package."""
    tree = ast.parse((NOTEBOOKS.parent / "mdlm_study" / "runner" / "__init__.py").read_text())
    top = [alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for alias in node.names] + [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert "papermill" not in top
