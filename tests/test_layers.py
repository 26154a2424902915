"""The package's imports run one way, down the layers, and sit at the top of their modules.

Layers, lowest first (a module may import its own layer and the ones below, never above):
foundations (tokens, tasks, statistics, records, graders, the selection rules) → templates, the
engine and checkpoints → models, data and the batched decode → evaluation and analyses → study
orchestration (recipes, experiments, the harness, the CLI, notebooks' helpers). Notebooks and
benchmarks sit above all of it. An import inside a function must say why on its line: ``# deferred:``
(a heavy or optional dependency) or ``# cycle:`` (breaks a real import cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mdlm_study"

LAYERS = [
    # 0: foundations, no package imports above them
    {"special_tokens", "tiny_tokenizer", "tasks", "tasks.arithmetic", "tasks.sudoku", "tasks.gsm8k", "stats", "pooling", "frontier", "records",
     "parameters", "denoiser", "likelihood", "graders", "sampling.rules", "sampling.recent_rules", "sampling.exit", "sampling.noise"},
    # 1: templates, the engine, checkpoints, code execution, benchmark files
    {"templates", "tasks.task", "tasks.builtin", "sampling", "sampling.config", "sampling.engine", "sampling.grids", "sampling.memory",
     "checkpoints", "sandbox", "benchmark_data"},
    # 2: models, data, the batched decode
    {"train", "tiny_model", "data", "decoding", "loader", "remote_code", "batching", "released"},
    # 3: evaluation and analyses
    {"evaluate", "regime", "posterior", "scoring", "analysis", "faithfulness", "lora", "finetune", "selection", "throughput"},
    # 4: study orchestration
    {"recipes", "experiment", "trace_study", "harness", "distributed", "summary", "figures", "plots", "runner", "seeds", "verdicts", "conclusions",
     "results_doc", "results_index", "paper_setting", "budget"},
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


def test_the_layer_check_catches_an_upward_import():
    tree = ast.parse("from mdlm_study.recipes import train_recipe\n")
    targets = [t for node in ast.walk(tree) for t in _imported(node)]
    assert targets == ["recipes"] and LAYER["recipes"] > LAYER["templates"]
