"""Notebook parameters and boolean flags: each parsed one way and validated before anything runs.

Booleans
--------
:func:`parse_bool` is the one reading of a flag: ``True``/``False``, ``1``/``0``, and the strings
``true``/``false``, ``yes``/``no``, ``1``/``0`` in any case with surrounding spaces. Anything else
(``""``, ``"maybe"``, ``2``, ``1.0``, ``None``) is a ``ValueError`` naming the flag and the value.
:func:`parse_flags` applies it to given boolean keys of a dict of settings (the harness's
``model_args``, where ``answer_last=no`` arrives as a string).

Declarations
------------
A notebook's ``parameters`` cell declares one parameter per line, with an annotation and a comment::

    n_problems: int = 300  # test problems per configuration in [1, inf)
    gammas: list[float] = [0.1, 1.0]  # early-exit thresholds (nats) in [0, inf)
    taus: list[float] = [0.9, 0.7]  # Fast-dLLM confidence thresholds in (0, 1]

- the annotation is the type: ``int``, ``float``, ``bool``, ``str``, ``dict``, ``list`` (any
  elements), or ``list[int]`` / ``list[float]`` / ``list[str]`` / ``list[bool]``;
- the comment is the help. It may END with a range, ``in <interval>``: ``[`` and ``]`` include the
  bound, ``(`` and ``)`` exclude it, ``inf`` / ``-inf`` leave that side open. A range applies to an
  int or float parameter, or to every element of a ``list[int]`` / ``list[float]``;
- the default is a Python literal. A list declared with a non-empty default must not be given empty
  (it is a sweep); one declared ``= []`` may stay empty (an opt-in list, e.g. extra modules);
- a line holds exactly one ``=``: papermill silently skips a line with two, so ``>= 1`` cannot be
  written (the interval notation has no ``=``).

The cell is read by papermill's own parser (:func:`papermill_reading`). Its reading of the study notebooks'
cells is stored in ``notebooks/params/readings.json`` (``python -m mdlm_study.core.parameters`` writes it after a
parameters cell changes; ``tests/test_parameters.py`` fails while it is stale), so a kernel finds it there
without importing papermill.

Values
------
:func:`coerce_and_validate` reads a value the way a command line delivers it and checks it:
papermill ``-p`` passes ``"[0.05, 0.5]"``, ``"true"`` or ``"abc"`` as strings, the runner's
``-p key=value`` YAML-parses them. A string given for a list or dict is YAML-parsed; for an int or a
float it is read as a number; for a bool it goes through :func:`parse_bool`. A bool is not an int;
an int is accepted for a float (and kept as it is). A single value given for a list is REFUSED, not
wrapped: the message says to write ``[0.1]``. Wrapping would make ``gammas=0.1`` and
``gammas=[0.1]`` two spellings of one thing on the command line only, and hide a scalar meant for
another parameter. Unknown names, wrong types, malformed strings, empty lists and values out of
range raise ``ValueError`` naming the notebook, the parameter, the value and what is expected.

:func:`check_parameters` is what each notebook's opening cell (right after ``parameters``) runs
first, through ``mdlm_study.runner.notebook.open_notebook``; it returns the notebook's parameters, in
declaration order, with their checked values: the start of the ``PARAMS`` a notebook records in its
sidecars, so parameter names are never listed by hand. The runner calls :func:`coerce_and_validate`
on every job before starting any.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import yaml

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
READINGS = NOTEBOOKS / "params" / "readings.json"  # papermill_reading of the study notebooks' parameters cells
KINDS = ("int", "float", "bool", "str", "list", "dict")
ELEMENT_KINDS = ("int", "float", "bool", "str")
BOOL_WORDS = "true/false, yes/no or 1/0"
PAPERMILL_HEADER = "# Parameters"  # first line of the cell papermill injects with the overrides
_TRUE, _FALSE = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})
_NUMBER = r"[-+]?(?:inf|\d+\.?\d*(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?)"
_RANGE = re.compile(rf"(?:^|\s)in\s+([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])\s*$", re.IGNORECASE)
_ANNOTATION = re.compile(r"^(?P<kind>\w+)(?:\[(?P<element>\w+)\])?$")
_NAMES = {"int": "integers", "float": "numbers", "bool": "booleans", "str": "strings"}
_ARTICLES = {"int": "an integer", "float": "a number", "bool": "a boolean", "str": "a string"}


def parse_bool(value: object, *, name: str, allow_none: bool = False) -> bool | None:
    """``value`` as a bool (module docstring); ``None`` passes only with ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name} must be a boolean ({BOOL_WORDS}, any case), got {value!r}")


def parse_flags(kwargs: Mapping[str, object], flags: Iterable[str]) -> dict:
    """A copy of ``kwargs`` with every key in ``flags`` (e.g. ``DecodeConfig.BOOL_FIELDS``) read by
    :func:`parse_bool`, so ``answer_last="no"`` becomes ``False`` instead of a true string."""
    names = frozenset(flags)
    return {key: parse_bool(value, name=key) if key in names else value for key, value in kwargs.items()}


@dataclass(frozen=True)
class Interval:
    """A numeric range, written ``[low, high]`` with ``(`` / ``)`` for excluded bounds."""

    low: float
    high: float
    closed_low: bool
    closed_high: bool

    def __contains__(self, x: float) -> bool:
        above = x >= self.low if self.closed_low else x > self.low
        below = x <= self.high if self.closed_high else x < self.high
        return above and below

    def __str__(self) -> str:
        low, high = (f"{v:g}" for v in (self.low, self.high))
        return f"{'[' if self.closed_low else '('}{low}, {high}{']' if self.closed_high else ')'}"


@dataclass(frozen=True)
class Declared:
    """One declared notebook parameter (module docstring)."""

    name: str
    kind: str  # one of KINDS
    element: str | None  # element kind of a list, None: any
    default: object  # the literal default
    help: str  # the comment without its range
    interval: Interval | None = None

    def expected(self) -> str:
        """What a value must be, in words, e.g. ``an integer in [1, inf) (test problems)``."""
        words = {"int": "an integer", "float": "a number", "bool": f"a boolean ({BOOL_WORDS})", "str": "a string",
                 "dict": "a mapping", "list": "a list" if self.default == [] else "a non-empty list"}[self.kind]
        if self.kind == "list" and self.element:
            words += f" of {_NAMES[self.element]}"
        if self.interval is not None:
            words += f" in {self.interval}"
        return f"{words} ({self.help})" if self.help else words


class _Mismatch(Exception):
    """A value that does not fit its declaration; ``reason`` says why (may be empty)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


def _help_and_range(help: str, kind: str, element: str | None, where: str) -> tuple[str, Interval | None]:
    """The comment split into its text and its trailing range (``... in [1, inf)``), if any."""
    found = _RANGE.search(help)
    if found is None:
        return help.strip(), None
    opening, low, high, closing = found.groups()
    interval = Interval(float(low), float(high), opening == "[", closing == "]")
    if "int" not in (kind, element) and "float" not in (kind, element):
        raise ValueError(f"{where}: a range ({interval}) needs an int or float parameter or a list of them, not {kind}")
    if interval.low > interval.high or (interval.low == interval.high and not (interval.closed_low and interval.closed_high)):
        raise ValueError(f"{where}: the range {interval} is empty")
    return help[: found.start()].rstrip(" ;,"), interval


def _kind(type_name: str | None, default: object, where: str) -> tuple[str, str | None]:
    """(kind, element kind) from the annotation, or from the default when there is none."""
    if not type_name or type_name == "None":
        kind = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(default))
        if kind is None:
            raise ValueError(f"{where}: no annotation and the default {default!r} does not tell the type; annotate it ({', '.join(KINDS)})")
        return kind, None
    match = _ANNOTATION.match(type_name.replace(" ", ""))
    kind, element = (match["kind"], match["element"]) if match else (type_name, None)
    if kind not in KINDS or (element is not None and (kind != "list" or element not in ELEMENT_KINDS)):
        raise ValueError(f"{where}: unsupported annotation {type_name!r}; use one of {', '.join(KINDS)} or list[int|float|str|bool]")
    return kind, element


def declare(name: str, type_name: str | None, default: str, help: str, *, notebook: str) -> Declared:
    """A :class:`Declared` from papermill's view of one line (name, annotation, default source, comment);
    raises ``ValueError`` for an unsupported annotation, a non-literal or invalid default, or a range
    on a parameter that is not numeric."""
    where = f"notebook {notebook}: parameter {name!r}"
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"{where}: the default {default!r} is not a Python literal") from err
    kind, element = _kind(type_name, value, where)
    text, interval = _help_and_range(help or "", kind, element, where)
    declared = Declared(name, kind, element, value, text, interval)
    if value is not None:
        coerce(declared, value, notebook=notebook)  # the default itself must fit
    return declared


def _assigned_names(source: str, *, annotated_only: bool = False) -> list[str] | None:
    """Names assigned by a cell made only of assignments (only annotated ones with ``annotated_only``);
    None for any other cell (or one that does not parse)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    kinds = (ast.AnnAssign,) if annotated_only else (ast.AnnAssign, ast.Assign)
    if not body or not all(isinstance(node, kinds) for node in body):
        return None
    targets = [node.target if isinstance(node, ast.AnnAssign) else t for node in body for t in getattr(node, "targets", [None])]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def papermill_reading(source: str) -> list[tuple[str, str | None, str, str]]:
    """What papermill reads in a ``parameters`` cell: (name, annotation, default source, comment) per parameter,
    papermill's own parser (``PythonTranslator.inspect``). A cell whose source is in :data:`READINGS` (the study's
    notebooks, written by ``python -m mdlm_study.core.parameters``) is answered from there: a notebook's kernel
    then never imports papermill, whose import (nbformat's JSON-schema checks) takes seconds in every kernel."""
    cached = _readings().get(hashlib.sha256(source.encode()).hexdigest())
    return [tuple(entry) for entry in cached] if cached is not None else _papermill_parse(source)


def _papermill_parse(source: str) -> list[tuple[str, str | None, str, str]]:
    import nbformat  # deferred: notebook tooling, needed only when reading a notebook
    from papermill.translators import PythonTranslator  # deferred: likewise

    return [(p.name, p.inferred_type_name, p.default, p.help) for p in PythonTranslator.inspect(nbformat.v4.new_code_cell(source))]


@functools.cache
def _readings() -> dict[str, list]:
    return json.loads(READINGS.read_text())["readings"] if READINGS.is_file() else {}


def write_readings(notebooks_dir: Path = NOTEBOOKS, out: Path | None = None) -> Path:
    """Write papermill's reading of every notebook's ``parameters`` cell in ``notebooks_dir`` to :data:`READINGS`
    (keyed by the cell source's SHA-256, so an edited cell is read by papermill again until this runs)."""
    import nbformat  # deferred: notebook tooling

    readings = {}
    for path in sorted(notebooks_dir.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "parameters" in cell.metadata.get("tags", []):
                readings[hashlib.sha256(cell.source.encode()).hexdigest()] = [list(entry) for entry in _papermill_parse(cell.source)]
    out = out or READINGS
    out.write_text(json.dumps({"about": "papermill's reading of each notebook's parameters cell, by the cell's SHA-256; "
                                         "written by python -m mdlm_study.core.parameters", "readings": readings}, indent=1) + "\n")
    _readings.cache_clear()
    return out


def declared_in_source(source: str, *, notebook: str) -> dict[str, Declared]:
    """The parameters a ``parameters`` cell declares, read with papermill's own parser (:func:`papermill_reading`);
    raises if papermill skipped a line (e.g. a second ``=`` in a comment), since papermill would then treat
    that parameter as unknown."""
    declared = {name: declare(name, type_name, default, help, notebook=notebook) for name, type_name, default, help in papermill_reading(source)}
    skipped = [name for name in _assigned_names(source) or [] if name not in declared]
    if skipped:
        raise ValueError(f"notebook {notebook}: papermill cannot parse the declaration of {skipped} (one '=' per line, "
                         "a literal default, the help after '  # ')")
    return declared


def declared_in(path: str | Path) -> dict[str, Declared]:
    """The declared parameters of the notebook at ``path`` (its cell tagged ``parameters``)."""
    import nbformat  # deferred: notebook tooling, needed only when reading a notebook

    path = Path(path)
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"notebook {path.name} must have exactly one cell tagged 'parameters', found {len(cells)}")
    return declared_in_source(cells[0].source, notebook=path.name)


def _number(kind: str, value: object) -> int | float:
    """An int (kind ``int``) or an int/float (kind ``float``) from a number or a numeric string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise _Mismatch() from None
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind == "int" and not isinstance(value, int)):
        raise _Mismatch("a boolean is not a number" if isinstance(value, bool) else "")
    if math.isnan(value):
        raise _Mismatch("not a number")
    return value


def _scalar(kind: str, value: object, interval: Interval | None) -> object:
    """One value of kind ``int``, ``float``, ``bool`` or ``str``, checked against ``interval``."""
    if kind == "bool":
        try:
            return parse_bool(value, name="value")
        except ValueError:
            raise _Mismatch() from None
    if kind == "str":
        if isinstance(value, str):
            return value
        raise _Mismatch()
    number = _number(kind, value)
    if interval is not None and number not in interval:
        raise _Mismatch(f"out of range {interval}")
    return number


def _parsed(value: object) -> object:
    """A string YAML-parsed (how a list or mapping arrives from papermill ``-p``); anything else as is."""
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise _Mismatch(f"not valid YAML: {problem}") from None


def _list(declared: Declared, value: object) -> list:
    """A non-empty list (YAML-parsed from a string) whose elements fit the declared element kind."""
    value = _parsed(value)
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        hint = f"a single value; write [{value}] for a list of one" if isinstance(value, int | float | str) and value != "" else ""
        raise _Mismatch(hint)
    if not value and declared.default != []:
        raise _Mismatch("the list is empty")
    if declared.element is None:
        return value
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_scalar(declared.element, item, declared.interval))
        except _Mismatch as err:
            raise _Mismatch(f"element {i}, {item!r}: {err.reason or 'not ' + _ARTICLES[declared.element]}") from None
    return out


def _coerce(declared: Declared, value: object) -> object:
    """``value`` read for ``declared`` (``None`` passes only where the default is ``None``)."""
    if value is None and declared.default is None:
        return None
    if declared.kind == "list":
        return _list(declared, value)
    if declared.kind == "dict":
        value = _parsed(value)
        if not isinstance(value, dict):
            raise _Mismatch()
        return value
    return _scalar(declared.kind, value, declared.interval)


def coerce(declared: Declared, value: object, *, notebook: str) -> object:
    """``value`` read and checked against one declaration; ``ValueError`` naming the notebook, the
    parameter, the value and what is expected."""
    try:
        return _coerce(declared, value)
    except _Mismatch as err:
        text = declared.kind == "str" and not err.reason
        reason = " (to pass it as text: papermill -r NAME VALUE; in YAML, quote it)" if text else f" ({err.reason})" if err.reason else ""
        raise ValueError(f"notebook {notebook}: parameter {declared.name!r} must be {declared.expected()}, "
                         f"got {value!r}{reason}") from None


def coerce_and_validate(declared: Mapping[str, Declared], given: Mapping[str, object], *, notebook: str) -> dict:
    """The ``given`` parameters read and checked against the ``declared`` ones (module docstring);
    returns the coerced values. An unknown name is an error listing the declared names."""
    unknown = [name for name in given if name not in declared]
    if unknown:
        shown = ", ".join(f"{name!r} (value {given[name]!r})" for name in unknown)
        raise ValueError(f"notebook {notebook}: unknown parameter {shown}; it declares {', '.join(declared)}")
    return {name: coerce(declared[name], value, notebook=notebook) for name, value in given.items()}


def _history_cells(history: list[str]) -> tuple[str, list[str]] | None:
    """(parameters cell source, injected cells' sources) found by walking back from the current
    cell (the last entry) through IPython's input history; None when no parameters cell is there."""
    injected = []
    for source in reversed(history[:-1]):
        if source.lstrip().startswith(PAPERMILL_HEADER):
            injected.append(source)
        elif _assigned_names(source, annotated_only=True):
            return source, injected
    return None


def _declarations_from_file(notebook: str) -> dict[str, Declared]:
    path = Path(notebook) if notebook.endswith(".ipynb") else NOTEBOOKS / f"{notebook}.ipynb"
    if not path.is_file():
        raise ValueError(f"notebook {notebook}: cannot find its parameters cell (no IPython input history, no {path})")
    return declared_in(path)


def check_parameters(namespace: MutableMapping[str, object], *, notebook: str) -> dict[str, object]:
    """Validate a running notebook's parameters, write the coerced values back into ``namespace`` and
    return them: every declared parameter, in the order of the ``parameters`` cell.

    Each notebook's opening cell, right after its ``parameters`` cell, runs
    ``nb = open_notebook(globals(), "<its name>")`` (``mdlm_study.runner.notebook``), which calls this
    first; a bad value stops the notebook there, before any model is loaded, with a ``ValueError``
    naming the parameter (papermill reports it as ``PapermillExecutionError``).
    ``-p gammas "[0.05, 0.5]"`` arrives as a string and leaves as a list.

    Papermill does not tell the kernel which notebook it runs, and only warns about an unknown
    parameter (it still injects it). So the cells are found in IPython's input history ``In``
    (``In[-1]`` is the opening cell itself), walking back from the opening cell:

    - a cell starting with ``# Parameters`` is papermill's injected cell (papermill writes that
      header above the overrides): the names it assigns are the overrides, each of which must be
      declared (``PAPERMILL_*`` names, from papermill's ``--inject-paths``, are papermill's own);
    - the first cell made only of annotated assignments is the ``parameters`` cell: its source,
      read by :func:`declared_in_source`, gives the names, types, defaults and ranges;
    - other cells on the way (a notebook run by hand, out of order) are skipped.

    The current values of the declared parameters and the injected names go through
    :func:`coerce_and_validate`. Without an IPython history (the notebook run as a script) the
    declarations come from ``notebooks/<notebook>.ipynb`` (or ``notebook`` if it is a path) and
    only the declared parameters' values are checked."""
    history = namespace.get("In") or namespace.get("_ih")
    found = _history_cells(list(history)) if history else None
    if found is None:
        declared, injected = _declarations_from_file(notebook), []
    else:
        declared = declared_in_source(found[0], notebook=notebook)
        injected = [name for source in found[1] for name in _assigned_names(source) or [] if not name.startswith("PAPERMILL_")]
    given = {name: namespace[name] for name in [*declared, *injected] if name in namespace}
    namespace.update(coerce_and_validate(declared, given, notebook=notebook))
    return {name: namespace[name] for name in declared if name in namespace}


if __name__ == "__main__":
    print("wrote", write_readings())
