"""What every notebook opens and closes with: one call each.

Opening
-------
``nb = open_notebook(globals(), "03_parallel_decoding_med")``, in the cell right after the
``parameters`` cell:

1. checks the parameters and papermill's overrides (names, types, ranges) with
   :func:`~mdlm_study.core.parameters.check_parameters`, which writes the coerced values back into
   the notebook's namespace; ``nb.params`` starts as what it returns: every declared parameter, in
   the order of the ``parameters`` cell, so no notebook lists parameter names by hand;
2. sets the study's plot style (``style=False``: not);
3. registers the decoding rules of ``rule_modules`` and resolves ``sweeps`` to every swept rule
   parameter's values (:func:`~mdlm_study.engine.grids.rule_grids`), when the notebook declares them;
4. loads the model and the problems (``load``: ``"experiment"``,
   :func:`~mdlm_study.runner.experiment.load_experiment`, notebooks 02-04; ``"trace_study"``,
   :func:`~mdlm_study.runner.trace_study.load_trace_study`, notebooks 05-06; ``None``: no model,
   notebooks 01 and 07, whose ``model`` and ``task`` are there for a uniform interface only);
5. resolves the ``None`` defaults: ``block_size``, ``block_sizes`` and ``fixed_k_block_size`` to the
   model's paper default (:meth:`~mdlm_study.models.paper_setting.Setting.resolve`), ``gen_length``
   and ``answer_len`` to the template's; the resolved values go into ``nb.params`` and back into
   the namespace;
6. applies the GPU-hour budget (``gpu_hours``: ``nb.params["cost"]``, the estimate of the run that
   remains, trimming the problems; a trace study on arithmetic has no budget mode and records none);
7. records the provenance the sidecars carry (``nb.provenance``: model, ``weights_sha256``,
   ``data_sha256`` of the problems kept; empty without a model).

``nb.params`` is the ``PARAMS`` every sidecar of the notebook records.

Closing
-------
``close_notebook(nb, headline, table)`` writes the notebook's table (the first the manifest lists for
it) with the headline as its JSON ``summary`` and the provenance, the other tables it made (``also``),
and shows the notebook's conclusion (:func:`mdlm_study.reporting.conclusions.show`). The headline
is typed (:mod:`mdlm_study.reporting.headlines`); its :meth:`~mdlm_study.reporting.headlines.Headline.as_dict`
is the ``summary`` :mod:`mdlm_study.reporting.summary` reads.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

import pandas as pd
import yaml

from mdlm_study.core.parameters import NOTEBOOKS, check_parameters
from mdlm_study.core.records import problems_sha256
from mdlm_study.engine import load_rule_modules, rule_grids
from mdlm_study.reporting.conclusions import NOTEBOOKS as CONCLUSIONS
from mdlm_study.reporting.conclusions import show
from mdlm_study.reporting.figures import save_table, set_style
from mdlm_study.reporting.headlines import Headline
from mdlm_study.runner.experiment import Experiment, load_experiment
from mdlm_study.runner.trace_study import TraceStudy, load_trace_study

LOADERS = {"experiment": load_experiment, "trace_study": load_trace_study}
# what a loader takes, each from the notebook parameter of the same name
LOADER_PARAMETERS = ("model", "task", "checkpoints_dir", "data_dir", "n_problems", "device", "data_path", "trust_remote_code",
                     "batch_size", "dtype", "gen_length", "answer_len")
PAPER_DEFAULTS = ("block_size", "block_sizes", "fixed_k_block_size")  # None: the model's paper default (Setting.resolve)


@dataclass
class OpenNotebook:
    """A notebook opened by :func:`open_notebook`: its name, parameters, experiment and provenance."""

    name: str  # e.g. "03_parallel_decoding_med"
    params: dict  # the parameters as the sidecars record them (module docstring)
    exp: Experiment | TraceStudy | None = None  # the model and problems (None: the notebook has no model)
    provenance: dict = field(default_factory=dict)  # save_figure / save_table keywords: model, weights_sha256, data_sha256

    @property
    def id(self) -> str:
        """``"03"``: the notebook's number, which :func:`~mdlm_study.reporting.conclusions.show` takes."""
        return self.name.split("_")[0]

    @property
    def out_dir(self) -> str:
        return self.params["out_dir"]

    @property
    def problems(self) -> list:
        """The problems the notebook decodes (after the budget)."""
        if self.exp is None:
            raise ValueError(f"notebook {self.name} loads no model and no problems")
        return self.exp.problems

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the manifest lists for this notebook; the first carries the headline."""
        return _manifest_tables().get(self.name, ())


@functools.cache
def _manifest_tables() -> dict[str, tuple[str, ...]]:
    manifest = yaml.safe_load((NOTEBOOKS / "manifest.yaml").read_text())["notebooks"]
    return {entry["file"].removesuffix(".ipynb"): tuple(entry.get("tables", ())) for entry in manifest}


def _load(load: str, name: str, params: Mapping):
    if load not in LOADERS:
        raise ValueError(f"notebook {name}: load must be one of {sorted(LOADERS)} or None, got {load!r}")
    missing = [p for p in LOADER_PARAMETERS if p not in params]
    if missing:
        raise ValueError(f"notebook {name}: load={load!r} reads the parameters {list(LOADER_PARAMETERS)}, and the parameters cell "
                         f"does not declare {missing} (load=None opens a notebook without a model)")
    p = params
    return LOADERS[load](p["model"], p["task"], checkpoints_dir=p["checkpoints_dir"], data_dir=p["data_dir"], n_problems=p["n_problems"],
                         device=p["device"], data_path=p["data_path"] or None, trust_remote_code=p["trust_remote_code"],
                         batch_size=p["batch_size"], dtype=p["dtype"], gen_length=p["gen_length"], answer_len=p["answer_len"])


def _resolve_defaults(exp: Experiment | TraceStudy, params: dict) -> dict:
    """The ``None`` defaults resolved (module docstring, step 5), in ``params``; returns the resolved ones."""
    resolved = {}
    if isinstance(exp, Experiment):
        resolved.update({name: exp.resolve(name, params[name]) for name in PAPER_DEFAULTS if name in params})
    template = exp.template
    resolved.update(gen_length=template.reasoning_len + template.answer_len, answer_len=template.answer_len)
    params.update(resolved)
    return resolved


def _budget(exp: Experiment | TraceStudy, name: str, params: dict) -> None:
    """The GPU-hour budget (module docstring, step 6)."""
    if "gpu_hours" not in params:
        return
    if isinstance(exp, Experiment):
        params["cost"] = exp.limit_to_budget(params["gpu_hours"], name, params)
        return
    max_steps = max((len(p.steps) for p in exp.problems), default=0)  # the step-scoring NFE bound's trace length
    cost = exp.limit_to_budget(params["gpu_hours"], name, {**params, "max_steps": max_steps})
    if cost is not None:
        params["cost"] = cost


def open_notebook(namespace: MutableMapping[str, object], name: str, *, load: str | None = "experiment", style: bool = True) -> OpenNotebook:
    """Check a running notebook's parameters, load its model and problems, resolve its ``None``
    defaults, apply its budget and record its provenance (module docstring). ``namespace`` is the
    notebook's ``globals()``: the checked and resolved parameter values are written back into it.
    A bad parameter raises ``ValueError`` naming it, before any model is loaded."""
    params = check_parameters(namespace, notebook=name)
    if style:
        set_style()
    if "rule_modules" in params:
        load_rule_modules(params["rule_modules"])
    if "sweeps" in params:
        params["sweeps"] = rule_grids(params["sweeps"])  # each swept rule parameter's values: registered, or given in sweeps
    if load is None:
        return OpenNotebook(name, params)
    exp = _load(load, name, params)
    namespace.update(_resolve_defaults(exp, params))
    _budget(exp, name, params)
    provenance = exp.provenance if isinstance(exp, TraceStudy) else {
        "model": params["model"], "weights_sha256": exp.weights_sha256, "data_sha256": problems_sha256(exp.problems)}
    print(f"{len(exp.problems)} {params['task']} problems, template {exp.template}")
    return OpenNotebook(name, params, exp, provenance)


def close_notebook(nb: OpenNotebook, headline: Headline | Mapping, table: pd.DataFrame, *,
                   also: Mapping[str, pd.DataFrame | tuple[pd.DataFrame, Mapping]] | None = None, name: str | None = None) -> None:
    """Save the notebook's tables and show its conclusion.

    ``table`` is written as ``name`` (default: the first table the manifest lists for the notebook)
    with ``headline`` (a :class:`~mdlm_study.reporting.headlines.Headline`, or a mapping) as its
    summary and the notebook's provenance. ``also``: more tables by name, each either a table made on
    the way, written with the parameters only and only when it has rows, or a (table, summary) pair,
    written with its summary and the provenance. Then the conclusion rendered from the records
    (:func:`~mdlm_study.reporting.conclusions.show`), for the study's notebooks."""
    if name is None:
        if not nb.tables:
            raise ValueError(f"notebook {nb.name} is not in notebooks/manifest.yaml: pass name= for its table")
        name = nb.tables[0]
    for other, value in (also or {}).items():
        if isinstance(value, tuple):
            frame, summary = value
            save_table(frame, other, nb.out_dir, nb.params, dict(summary), notebook=nb.name, **nb.provenance)
        elif len(value):
            save_table(value, other, nb.out_dir, nb.params, notebook=nb.name)
    summary = headline.as_dict() if isinstance(headline, Headline) else dict(headline)
    save_table(table, name, nb.out_dir, nb.params, summary, notebook=nb.name, **nb.provenance)
    if nb.id in CONCLUSIONS:
        show(nb.id, nb.out_dir)
