"""A Task: what a problem is, how it sits on the canvas, how an answer and a trace are graded.

Every path of the study (data files, training sets, recipes, releases, notebooks, the harness, the
data-parallel CLI) reads a task through this one object, so a new task is one module defining a
:class:`Task` plus a call to :func:`register_task` (``docs/adapting.md`` has a worked example).

A problem travels: ``task.generate`` (synthetic tasks) → a JSON line, read back through
``task.from_row`` (which validates every record) → a canvas (``task.question(problem)`` on
``task.template``) → the engine fills it → ``task.grade_row(problem, readout, decoded)``: one row of an evaluation table,
graded by the task's own exact rule (the answer slot, and every reasoning step where the task has
step labels).

Tasks come from the registry by name (``get_task("arithmetic")``) or, for a task defined outside the
package, by import path (``get_task("my_package.my_module:MY_TASK")``) or file
(``get_task("my_task.py:MY_TASK")``), so a notebook run with ``-p task=my_task.py:MY_TASK`` evaluates
it without editing the package.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mdlm_study.engine.templates import Readout, Template


@dataclass(frozen=True)
class Task:
    """One task of the study (module docstring).

    ``splits`` maps a split's role (``"train"``, ``"test"``, ``"posterior"``) to its data-file stem
    under the data folder (``data/<stem>.jsonl``); a task without splits (GSM8K) reads a file the
    user names (``data_path``). ``sizes`` and ``smoke_sizes`` are the problem counts the study
    generates per split; ``split_configs`` the generator configuration of each split (recorded in the
    data manifest)."""

    name: str
    template: Template  # the canvas layout of the study's models on this task
    question: Callable[[object], str]  # the prompt text of a problem
    answer: Callable[[object], str]  # the gold answer text (what the answer slot should hold)
    reasoning: Callable[[object], str]  # a gold reasoning text ("" when the task has none)
    grade_answer: Callable[[object, str], bool]  # whether a decoded answer slot is right (the task's one rule)
    grade_row: Callable[[object, Readout, Mapping], dict]  # one evaluation-table row: (problem, readout, {nfe, exited, logprob})
    from_row: Callable[[dict], object]  # a validated problem from a JSON record (ValueError says what is wrong)
    key: Callable[[object], Hashable] = lambda problem: problem  # what makes two problems the same (train/test disjointness)
    generate: Callable[..., list] | None = None  # generate(split_config, n, seed=, exclude=) -> problems (synthetic tasks)
    split_configs: Mapping[str, object] = field(default_factory=dict)  # role -> the generator's config of that split
    splits: Mapping[str, str] = field(default_factory=dict)  # role -> data-file stem
    split_seeds: Mapping[str, int] = field(default_factory=dict)  # role -> offset added to the study's data seed
    sizes: Mapping[str, int] = field(default_factory=dict)  # role -> problems generated for the study
    smoke_sizes: Mapping[str, int] = field(default_factory=dict)  # role -> problems of a smoke run
    step_labels: bool = False  # every reasoning step can be checked exactly (trace_correct, first_wrong)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"a task's name must be an identifier, got {self.name!r}")
        unknown = sorted(set(self.splits) - {"train", "test", "posterior"})
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown split role(s) {unknown}; expected train, test, posterior")
        if self.splits and self.generate is None:
            raise ValueError(f"task {self.name!r} names data splits {dict(self.splits)} but has no generate function to write them")
        for role in self.splits:
            if role not in self.split_configs or role not in self.sizes or role not in self.smoke_sizes or role not in self.split_seeds:
                raise ValueError(f"task {self.name!r}: split {role!r} needs a split_config, a seed offset, a size and a smoke size")

    def file(self, role: str) -> str:
        """The data-file name of a split (``"arithmetic_test.jsonl"``); ``ValueError`` naming the
        task's splits when it has no such split."""
        if role not in self.splits:
            raise ValueError(f"task {self.name!r} has no {role!r} split; it has {sorted(self.splits) or 'none (pass data_path)'}")
        return f"{self.splits[role]}.jsonl"

    def grade_answers(self, problems: Sequence, answers: Sequence[str]) -> list[bool]:
        """Whether each decoded answer is right, by the task's rule (the one every table and notebook uses)."""
        if len(problems) != len(answers):
            raise ValueError(f"{len(problems)} problems but {len(answers)} answers")
        return [bool(self.grade_answer(problem, answer)) for problem, answer in zip(problems, answers, strict=True)]


TASKS: dict[str, Task] = {}


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry under its name; a name already taken by another task is a
    ``ValueError`` unless ``replace`` (the same object again is a no-op, and a task defined in the
    same source file replaces its earlier copy, so a module may be imported twice)."""
    if not isinstance(task, Task):
        raise ValueError(f"register_task needs a Task, got {type(task).__name__}")
    if task.name in TASKS and TASKS[task.name] is not task and not replace and not _same_source(TASKS[task.name], task):
        raise ValueError(f"a task named {task.name!r} is already registered; pass replace=True to replace it")
    TASKS[task.name] = task
    return task


def _same_source(old: Task, new: Task) -> bool:
    """Whether two tasks of one name come from the same source file (one module imported under two
    names, e.g. by path and by module name): the later replaces the earlier."""
    files = [getattr(getattr(t.grade_row, "__code__", None), "co_filename", None) for t in (old, new)]
    return files[0] is not None and files[0] == files[1]


def _builtin() -> None:
    from mdlm_study.tasks import builtin  # noqa: F401  # cycle: the built-in tasks import this module for Task and register_task


def task_names() -> list[str]:
    _builtin()
    return sorted(TASKS)


def get_task(name: str | Task) -> Task:
    """The registered task ``name``, a ``module:attribute`` import path to a :class:`Task`, or the
    task itself; ``ValueError`` naming the closest registered name otherwise."""
    if isinstance(name, Task):
        return name
    if not isinstance(name, str) or not name:
        raise ValueError(f"a task is a registered name or 'module:attribute', got {name!r}")
    _builtin()
    if ":" in name:
        return _imported(name)
    if name not in TASKS:
        close = difflib.get_close_matches(name, TASKS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown task {name!r}{hint} Registered tasks: {sorted(TASKS)} (or pass 'module:attribute')")
    return TASKS[name]


def _imported(spec: str) -> Task:
    """The Task named by ``module:attribute`` or ``path/to/file.py:attribute``."""
    module_name, _, attribute = spec.rpartition(":")
    if module_name.endswith(".py"):
        module = _module_from_file(spec, Path(module_name))
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"task {spec!r}: cannot import module {module_name!r} ({err})") from None
    task = getattr(module, attribute, None)
    if not isinstance(task, Task):
        raise ValueError(f"task {spec!r}: {module_name}.{attribute} is {type(task).__name__}, not a Task")
    return register_task(task, replace=True)  # the spec names it: a re-import (another kernel, a reloaded file) replaces it


def _module_from_file(spec: str, path: Path):
    if not path.is_file():
        raise ValueError(f"task {spec!r}: no such file {path}")
    name = f"mdlm_study_task_{path.stem}"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path.resolve():
        return loaded  # loaded once per process: its own register_task call must not run twice
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    module_spec.loader.exec_module(module)
    return module
