"""The package's imports run one way, down the layers and down the subpackages, and sit at the top of
their modules.

Subpackages, lowest first, as the package docstring lists them (``mdlm_study/__init__.py``): a
module imports from its own subpackage and the ones listed before it, never from a later one.

Module layers, lowest first (a module may import its own layer and the ones below, never above):
foundations (tokens, tasks, statistics, records, graders, the selection rules) → templates, the
engine and checkpoints → models, data and the batched decode → evaluation and analyses → study
orchestration (recipes, experiments, the harness, the CLI, notebooks' helpers). Notebooks and
benchmarks sit above all of it. An import inside a function must say why on its line: ``# deferred:``
(a heavy or optional dependency) or ``# cycle:`` (breaks a real import cycle).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mdlm_study"
# The subpackages in the order the package docstring gives them ("1. ``core``: ...").
SUBPACKAGES = re.findall(r"^\d+\. ``(\w+)``", ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())), re.M)
SUBPACKAGE = {name: level for level, name in enumerate(SUBPACKAGES)}

LAYERS = [
    # 0: foundations, no package imports above them
    {"core", "core.checks", "core.paper", "core.special_tokens", "core.stats", "core.clustered_stats", "core.pooling", "core.frontier", "core.records", "core.parameters",
     "engine.denoiser", "engine.likelihood", "engine.rules", "engine.recent_rules", "engine.exit", "engine.noise",
     "models.tiny_tokenizer", "tasks", "tasks.arithmetic", "tasks.sudoku", "tasks.gsm8k", "tasks.graders",
     "experiments", "training", "integrations", "reporting"},
    # 1: templates, the engine, checkpoints, code execution, benchmark files
    {"engine", "engine.templates", "engine.config", "engine.loop", "engine.grids", "engine.memory",
     "models.checkpoints", "tasks.task", "tasks.builtin", "tasks.sandbox", "tasks.benchmark_data"},
    # 2: models, data, the batched decode
    {"engine.decoding", "engine.batching", "models", "models.tiny_model", "models.loader", "models.remote_code", "models.released",
     "tasks.data", "training.objective", "training.tokenized", "training.kernels", "training.train"},
    # 3: evaluation and analyses
    {"experiments.evaluate", "experiments.regime", "experiments.decoder_frontier", "experiments.posterior", "experiments.scoring", "experiments.analysis", "experiments.faithfulness",
     "experiments.selection", "training.lora", "training.finetune"},
    # 4: study orchestration
    {"core.verdicts", "models.paper_setting", "experiments.seeds", "experiments.trace_seeds", "experiments.depth_effects", "training.recipes", "training.early_stopping", "training.averaging", "training.finetune_seeds", "integrations.harness",
     "integrations.distributed", "reporting.study", "reporting.claims", "reporting.summary", "reporting.figures", "reporting.plots", "reporting.conclusions",
     "reporting.results_doc", "reporting.results_index", "reporting.frontier_report", "reporting.headlines", "runner", "runner.__main__",
     "runner.experiment", "runner.trace_study", "runner.notebook"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


MODULES = _modules()


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mdlm_study"):
        base = node.module.removeprefix("mdlm_study").lstrip(".")
        subs = [f"{base}.{a.name}" if base else a.name for a in node.names]
        return [s for s in subs if s in MODULES] or ([base] if base else [])
    if isinstance(node, ast.Import):
        return [a.name.removeprefix("mdlm_study.") for a in node.names if a.name.startswith("mdlm_study.")]
    return []


def test_every_module_has_a_layer():
    missing = sorted(name for name in MODULES if name and name not in LAYER)
    assert not missing, f"add these modules to LAYERS in {Path(__file__).name}: {missing}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n))
def test_imports_run_down_the_layers(name):
    upward = []
    for node in ast.walk(MODULES[name]):
        for target in _imported(node):
            if target and LAYER.get(target, -1) > LAYER[name]:
                upward.append(f"{target} (layer {LAYER[target]})")
    assert not upward, f"{name} (layer {LAYER[name]}) imports upward: {upward}"


def _function_imports(tree: ast.Module):
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) and not func.name.startswith("_child_"):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n))
def test_imports_inside_functions_say_why(name):
    path = PACKAGE / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE / name.replace(".", "/") / "__init__.py"
    lines = path.read_text().splitlines()
    unexplained = [f"line {node.lineno}: {lines[node.lineno - 1].strip()}" for node in _function_imports(MODULES[name])
                   if "# deferred:" not in lines[node.lineno - 1] and "# cycle:" not in lines[node.lineno - 1]]
    assert not unexplained, f"{name}: imports inside functions without '# deferred:' or '# cycle:': {unexplained}"


def _subpackage(name: str) -> str:
    return name.split(".")[0]


def test_the_package_docstring_lists_every_subpackage_once():
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert sorted(SUBPACKAGES) == folders and len(set(SUBPACKAGES)) == len(SUBPACKAGES)


def test_every_module_sits_in_a_subpackage_and_the_top_level_stays_small():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"move these modules into a subpackage: {loose}"
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 10, sorted(entries)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n))
def test_imports_run_down_the_subpackages(name):
    home = _subpackage(name)
    upward = sorted({_subpackage(t) for node in ast.walk(MODULES[name]) for t in _imported(node)
                     if t and SUBPACKAGE[_subpackage(t)] > SUBPACKAGE[home]})
    assert not upward, f"{name} (in {home}) imports from later subpackages: {upward}; allowed: {SUBPACKAGES[:SUBPACKAGE[home] + 1]}"


def test_the_subpackage_check_catches_an_upward_import():
    tree = ast.parse("from mdlm_study.training.recipes import RECIPES\nfrom mdlm_study.core import stats\n")
    targets = [t for node in ast.walk(tree) for t in _imported(node)]
    assert targets == ["training.recipes", "core.stats"]
    assert SUBPACKAGE["training"] > SUBPACKAGE["experiments"] > SUBPACKAGE["engine"] > SUBPACKAGE["core"]


def test_the_layer_check_catches_an_upward_import():
    tree = ast.parse("from mdlm_study.training.recipes import train_recipe\n")
    targets = [t for node in ast.walk(tree) for t in _imported(node)]
    assert targets == ["training.recipes"] and LAYER["training.recipes"] > LAYER["engine.templates"]
