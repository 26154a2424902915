"""The paper's setting in one place (templates, blocks, chat) and the cost / budget arithmetic."""

import math

import pytest

from mdlm_study.core.parameters import declared_in
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE, GSM8K_TEMPLATE
from mdlm_study.models.paper_setting import (
    A100_SUSTAINED_FLOPS,
    estimate_cost,
    gsm8k_template,
    notebook_fixed_nfe,
    notebook_nfe_per_problem,
    problems_within_budget,
    seconds_per_nfe,
    setting_for,
)
from mdlm_study.runner import NOTEBOOKS


def test_the_one_gsm8k_template_is_the_papers():
    t = GSM8K_TEMPLATE
    assert (t.reasoning_len, t.answer_len, t.delimiter, t.suffix, t.answer_prefix, t.chat) == (
        246, 10, " The answer is \\boxed{", "}", "", False)
    assert gsm8k_template() == GSM8K_TEMPLATE
    chat = gsm8k_template(chat=True)
    assert chat.chat and chat.prompt_suffix == "" and chat.delimiter == t.delimiter and chat.suffix == "}"
    short = gsm8k_template(gen_length=12, answer_len=4, prompt_suffix="")
    assert (short.reasoning_len, short.answer_len, short.prompt_suffix) == (8, 4, "")  # the harness's variant
    with pytest.raises(ValueError, match="must exceed answer_len"):
        gsm8k_template(gen_length=10, answer_len=10)


def test_real_models_get_the_paper_defaults_and_study_models_the_studys():
    paper = setting_for(GSM8K_TEMPLATE, real_model=True, chat=True, gsm8k=True)
    assert (paper.gen_length, paper.template.answer_len, paper.block_size, paper.fixed_k_block_size) == (256, 10, 32, 32)
    assert paper.resolve("block_sizes", None) == [1, 32, 128, 0] and paper.template.chat
    assert paper.resolve("block_size", 0) == 0 and paper.resolve("gen_length", None) == 256 and paper.resolve("answer_len", None) == 10
    study = setting_for(ARITHMETIC_TEMPLATE, real_model=False, chat=True)
    assert study.template == ARITHMETIC_TEMPLATE  # chat is only for real models
    assert (study.block_size, study.fixed_k_block_size, study.resolve("block_sizes", None)) == (0, 8, [1, 4, 8, 0])
    resized = setting_for(ARITHMETIC_TEMPLATE, real_model=False, gen_length=10, answer_len=2)
    assert (resized.template.reasoning_len, resized.template.answer_len) == (8, 2)
    with pytest.raises(ValueError, match="no paper default for 'rules'"):
        paper.resolve("rules", None)


def test_estimate_cost_is_problems_times_nfe_times_seconds():
    cost = estimate_cost(1319, 256, 0.05, n_gpus=8)
    assert cost["nfe"] == 1319 * 256 and math.isclose(cost["gpu_hours"], 1319 * 256 * 0.05 / 3600)
    assert math.isclose(cost["wall_hours"], cost["gpu_hours"] / 8)
    for bad in ({"n_problems": -1}, {"nfe_per_problem": float("nan")}, {"seconds_per_nfe": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            estimate_cost(**{"n_problems": 1, "nfe_per_problem": 1, "seconds_per_nfe": 1.0, **bad})
    with pytest.raises(ValueError, match="n_gpus"):
        estimate_cost(1, 1, 1.0, n_gpus=0)


def test_seconds_per_nfe_is_two_flops_per_parameter_and_token():
    assert math.isclose(seconds_per_nfe(400), 2 * 8.0e9 * 400 / A100_SUSTAINED_FLOPS)
    assert 0.05 < seconds_per_nfe(400) < 0.06  # the docs' 0.051 s
    with pytest.raises(ValueError):
        seconds_per_nfe(0)


def defaults(notebook):
    path = next(NOTEBOOKS.glob(f"{notebook}_*.ipynb"))
    return {name: d.default for name, d in declared_in(path).items()}


def test_notebook_nfe_bounds_follow_the_sweeps():
    three = {**defaults("03"), "fixed_k_block_size": 32}
    # ks 1/2/4: 256 + 128 + 64, twice (whole canvas and in blocks); 4 + 4 MED, 4 EB, 4 tau, 4 factor at <= 256 each
    assert notebook_nfe_per_problem("03", three, gen_length=256) == 2 * 448 + 20 * 256
    assert notebook_nfe_per_problem("03", {**three, "fixed_k_block_size": 0}, gen_length=256) == 448 + 20 * 256
    two = {**defaults("02"), "block_sizes": [1, 32, 128, 0]}
    assert notebook_nfe_per_problem("02", two, gen_length=256) == 256 * (1 + 4 * 4 + 1)
    four = defaults("04")  # history, entropy, 4 exits, MED, 4 MED exits, 2 Prophet
    assert notebook_nfe_per_problem("04", four, gen_length=256) == 256 * 13
    with pytest.raises(ValueError, match="07"):
        notebook_nfe_per_problem("07", {}, gen_length=256)


def test_the_trace_notebooks_bound_their_passes_and_their_fixed_fine_tuning_cost():
    five = defaults("05")  # 4 posterior samples, 3 seeds: free decode, samples, base and 3 arms x 3 seeds decoded
    assert (five["n_samples"], five["seeds"]) == (4, [0, 1, 2])
    assert notebook_nfe_per_problem("05", five, gen_length=256) == 256 * (1 + 4 + 1 + 9)
    # 400 base posterior samples of 256 passes; 3 arms x 3 seeds x 200 steps x 32 examples x 3 (forward + backward)
    assert notebook_fixed_nfe("05", five, gen_length=256) == 400 * 256 + 3 * 3 * 200 * 32 * 3
    six = {**defaults("06"), "max_steps": 5}  # 6 prefixes x (1 + 1 + 16 Monte-Carlo) and 5 masked steps, gold and corrupted
    assert notebook_nfe_per_problem("06", six, gen_length=256) == 2 * (6 * 18 + 5)
    assert notebook_nfe_per_problem("06", {**six, "methods": ["answer_loglik"]}, gen_length=256) == 2 * (6 + 5)
    assert all(notebook_fixed_nfe(n, {}, gen_length=256) == 0 for n in ("02", "03", "04", "06"))


def test_budget_keeps_the_problems_that_fit():
    per_problem_hours = 1000 * 0.036 / 3600  # 1000 NFE at 0.036 s = 0.01 GPU-hours
    assert problems_within_budget(1.0, 1000, 0.036, n_available=1319) == 100
    assert problems_within_budget(1.0 - 1e-9, 1000, 0.036, n_available=1319) == 99
    assert problems_within_budget(100.0, 1000, 0.036, n_available=1319) == 1319
    assert problems_within_budget(per_problem_hours / 10, 1000, 0.036, n_available=1319) == 1  # at least one
    with pytest.raises(ValueError, match="gpu_hours"):
        problems_within_budget(0, 1000, 0.036, n_available=10)
