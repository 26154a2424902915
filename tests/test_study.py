"""The study's recipes at smoke size: data, training, snapshot base model, loading, evaluation."""

import json

import pytest

from mdlm_study.evaluate import evaluate_arithmetic, evaluate_sudoku, summarize
from mdlm_study.study import (
    ARITHMETIC_TEMPLATE,
    SUDOKU_TEMPLATE,
    base_model_dir,
    load_study_model,
    prepare_data,
    recipe,
    train_recipe,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    data = prepare_data(root / "data", smoke=True)
    for name in ("default", "sudoku"):
        train_recipe(recipe(name, smoke=True), data, root / "checkpoints", progress=False)
    return root, data


def test_data_manifest_written(trained):
    root, data = trained
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    assert manifest["arithmetic_test"]["size"] == len(data.arithmetic_test)


def test_models_load_and_evaluate(trained):
    root, data = trained
    model, tok, record = load_study_model("default", root / "checkpoints")
    assert record["train_seconds"] > 0 and record["parameters"] > 0
    table = evaluate_arithmetic(model, tok, data.arithmetic_test[:6], ARITHMETIC_TEMPLATE, sampler="l2r")
    summary = summarize(table)
    assert summary["n_problems"] == 6 and 0 <= summary["accuracy"] <= 1
    # greedy l2r: every masked position costs one pass (24 reasoning + 4 answer)
    assert (table["nfe"] == ARITHMETIC_TEMPLATE.reasoning_len + ARITHMETIC_TEMPLATE.answer_len).all()
    sudoku, stok, _ = load_study_model("sudoku", root / "checkpoints")
    assert len(evaluate_sudoku(sudoku, stok, data.sudoku_test[:4], SUDOKU_TEMPLATE, sampler="entropy")) == 4


def test_base_model_is_the_default_runs_snapshot(trained):
    root, _ = trained
    assert base_model_dir(root / "checkpoints").name.startswith("step")
    model, _, record = load_study_model("base", root / "checkpoints")
    assert record["recipe"] == "base"


def test_unknown_recipe():
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        recipe("huge")
