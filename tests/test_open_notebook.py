"""mdlm_study.runner.notebook: a notebook opens with one call and closes with one.

``open_notebook`` checks the parameters first (a bad one stops it before any model loads), opens a
notebook without a model (01, 07) with its parameters only, and gives the study notebooks exactly
the ``PARAMS`` and provenance their hand-written opening cells gave (the sidecars do not change):
the old opening is rebuilt here on the released default model and compared key by key, in order.
``close_notebook`` writes the tables as the notebooks wrote them and shows the conclusion."""

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mdlm_study.core.parameters import NOTEBOOKS, check_parameters, declared_in
from mdlm_study.core.records import problems_sha256
from mdlm_study.engine import rule_grids
from mdlm_study.models.released import RELEASED_DIR
from mdlm_study.reporting.headlines import PairedCounts, StepScoringHeadline
from mdlm_study.runner import notebook as opening
from mdlm_study.runner.experiment import load_experiment
from mdlm_study.runner.notebook import OpenNotebook, close_notebook, open_notebook
from mdlm_study.runner.trace_study import load_trace_study

ROOT = Path(__file__).resolve().parents[1]
RELEASED = {"checkpoints_dir": str(RELEASED_DIR), "data_dir": str(ROOT / "data"), "n_problems": 4}


def kernel(stem: str, **overrides) -> dict:
    """The notebook's namespace when its opening cell runs: the parameters cell's defaults, papermill's
    injected cell with ``overrides``, and IPython's history ``In`` (the opening cell last)."""
    cell = next(c for c in nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    namespace = {}
    exec(cell.source, namespace)  # the defaults, as the kernel runs the cell
    namespace.pop("__builtins__")
    injected = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in overrides.items())
    return {**namespace, **overrides, "In": ["", cell.source, injected, f'nb = open_notebook(globals(), "{stem}")']}


def _never(*args, **kwargs):
    raise AssertionError("no model may load before the parameters are checked")


@pytest.mark.parametrize("override, match", [
    ({"n_problems": -5}, r"parameter 'n_problems' must be an integer in \[1, inf\).*got -5"),
    ({"gammas": "[0.05, abc"}, "parameter 'gammas' must be a non-empty list of numbers"),
    ({"n_problemz": 3}, r"unknown parameter 'n_problemz' \(value 3\)"),
])
def test_a_bad_parameter_stops_the_opening_naming_it(monkeypatch, override, match):
    monkeypatch.setitem(opening.LOADERS, "experiment", _never)
    with pytest.raises(ValueError, match=match):
        open_notebook(kernel("04_answer_uncertainty_early_exit", **override), "04_answer_uncertainty_early_exit", style=False)


@pytest.mark.parametrize("stem", ["01_training", "07_summary"])
def test_a_notebook_without_a_model_gets_its_checked_parameters_only(monkeypatch, stem):
    monkeypatch.setitem(opening.LOADERS, "experiment", _never)
    namespace = kernel(stem, smoke="yes", n_problems=12)
    nb = open_notebook(namespace, stem, load=None, style=False)
    assert nb.params == check_parameters(kernel(stem, smoke="yes", n_problems=12), notebook=stem)
    assert list(nb.params) == list(declared_in(NOTEBOOKS / f"{stem}.ipynb")) and nb.params["smoke"] is True
    assert namespace["smoke"] is True  # coerced in the namespace too, as check_parameters does
    assert nb.exp is None and nb.provenance == {} and nb.name == stem and nb.id == stem[:2]
    assert nb.tables == ({"01_training": ("01_training",), "07_summary": ("07_claims",)}[stem])
    with pytest.raises(ValueError, match="loads no model"):
        _ = nb.problems


def test_loading_needs_the_loaders_parameters_and_a_known_loader():
    with pytest.raises(ValueError, match=r"does not declare \['data_path', 'trust_remote_code', 'batch_size'.*load=None"):
        open_notebook(kernel("01_training"), "01_training", style=False)
    with pytest.raises(ValueError, match="load must be one of"):
        open_notebook(kernel("04_answer_uncertainty_early_exit"), "04_answer_uncertainty_early_exit", load="experimnt", style=False)


def _old_opening(stem: str, namespace: dict) -> tuple[dict, dict]:
    """PARAMS and provenance as the notebooks' hand-written opening cells built them."""
    g = dict(namespace)
    params = check_parameters(g, notebook=stem)
    if stem.startswith("03"):
        params["sweeps"] = rule_grids(g["sweeps"])
    load = load_trace_study if stem[:2] in ("05", "06") else load_experiment
    exp = load(g["model"], g["task"], checkpoints_dir=g["checkpoints_dir"], data_dir=g["data_dir"], n_problems=g["n_problems"], device=g["device"],
               data_path=g["data_path"] or None, trust_remote_code=g["trust_remote_code"], batch_size=g["batch_size"], dtype=g["dtype"],
               gen_length=g["gen_length"], answer_len=g["answer_len"])
    if load is load_trace_study:
        params.update(gen_length=exp.template.reasoning_len + exp.template.answer_len, answer_len=exp.template.answer_len)
        max_steps = max(len(p.steps) for p in exp.problems)
        cost = exp.limit_to_budget(g["gpu_hours"], stem, {**params, "max_steps": max_steps} if stem.startswith("06") else params)
        if cost is not None:
            params["cost"] = cost
        return params, exp.provenance
    resolved = {name: exp.resolve(name, g[name]) for name in ("block_size", "block_sizes", "fixed_k_block_size") if name in params}
    params.update(**resolved, gen_length=exp.resolve("gen_length", g["gen_length"]), answer_len=exp.template.answer_len)
    params["cost"] = exp.limit_to_budget(g["gpu_hours"], stem, params)
    return params, {"model": g["model"], "weights_sha256": exp.weights_sha256, "data_sha256": problems_sha256(exp.problems)}


@pytest.mark.parametrize("stem, overrides", [
    ("02_any_order_vs_l2r", {}),
    ("03_parallel_decoding_med", {"sweeps": {"med_lambda": [0.2], "tau": [0.9]}, "ks": [1, 2]}),
    ("04_answer_uncertainty_early_exit", {"gammas": "[0.1, 1.0]", "gen_length": 40}),
    ("06_step_scoring", {"mc_samples": 4}),
])
def test_the_parameters_and_provenance_are_those_the_opening_cells_recorded(stem, overrides):
    namespace = kernel(stem, **RELEASED, **overrides)
    old_params, old_provenance = _old_opening(stem, namespace)
    nb = open_notebook(namespace, stem, load="trace_study" if stem.startswith("06") else "experiment", style=False)
    assert list(nb.params.items()) == list(old_params.items())  # same keys, same order, same values
    assert json.dumps(nb.params) == json.dumps(old_params) and nb.provenance == old_provenance
    assert len(nb.problems) == 4 and nb.provenance["data_sha256"] == problems_sha256(nb.problems)
    for name in ("block_size", "block_sizes", "fixed_k_block_size", "gen_length", "answer_len"):
        if name in nb.params:
            assert namespace[name] == nb.params[name] is not None  # the None defaults resolved in the notebook too


def test_closing_writes_the_tables_as_the_notebooks_did_and_shows_the_conclusion(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(opening, "show", lambda notebook_id, out_dir: shown.append((notebook_id, out_dir)))
    sha = "ab" * 32
    nb = OpenNotebook("06_step_scoring", {"seed": 0, "out_dir": str(tmp_path)}, None, {"model": "m", "weights_sha256": sha, "data_sha256": "cd"})
    headline = StepScoringHeadline(0.9, 0.8, 0.95, 0.7, 0.25, None, 4, 4, {"scores_answer_loglik_gold": [1.0]})
    table, made, empty = pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]}), pd.DataFrame()
    close_notebook(nb, headline, table, also={"06_made_on_the_way": made, "06_empty": empty, "06_with_summary": (made, {"n": 3})})
    folder = tmp_path / "figures" / "tables"
    main = json.loads((folder / "06_step_scoring.json").read_text())
    assert main["summary"] == headline.as_dict() and main["params"] == {"seed": 0, "out_dir": str(tmp_path)}
    assert main["models"] == [{"model": "m", "weights_sha256": sha}] and main["data_sha256"] == "cd" and main["notebook"] == "06_step_scoring"
    made_on_the_way = json.loads((folder / "06_made_on_the_way.json").read_text())
    assert made_on_the_way["summary"] == {} and "models" not in made_on_the_way and not (folder / "06_empty.csv").exists()
    assert json.loads((folder / "06_with_summary.json").read_text())["summary"] == {"n": 3}
    assert shown == [("06", str(tmp_path))]
    close_notebook(nb, {"k": 1}, table, name="06_other")  # a mapping is a summary as it is
    assert json.loads((folder / "06_other.json").read_text())["summary"] == {"k": 1}
    with pytest.raises(ValueError, match="pass name="):
        close_notebook(OpenNotebook("99_mine", {"out_dir": str(tmp_path)}), {}, table)


def test_a_headline_shows_as_its_summary():
    counts = PairedCounts(3, 5)
    assert counts.as_dict("med") == {"med_only_reference": 3, "med_only_this": 5}
    headline = StepScoringHeadline(0.9, 0.8, 0.95, 0.7, 0.25, 0.6, 4, 4, {"scores_answer_loglik_gold": [1.0]})
    assert "scores_answer_loglik_gold" in headline.as_dict() and "scores_answer_loglik_gold" not in headline.shown()
