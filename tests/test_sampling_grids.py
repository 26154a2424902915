"""The decoding grids: notebook 03's sweep comes from the rules' registrations (values, labels,
opt-in, overrides), a rule registered anywhere reaches the sweep and the GPU-hour estimate, and
every registration carries a valid example."""

import pytest
import torch
from rule_registry import scratch_rules

from mdlm_study.engine import (
    RULES,
    DecodeConfig,
    Param,
    load_rule_modules,
    register_rule,
    rule_grids,
    rule_sweep,
    rule_sweep_size,
)
from mdlm_study.models.paper_setting import notebook_nfe_per_problem

RULE_FILE = '''
from mdlm_study.engine import Param, register_rule


@register_rule("toy_lowest", params=[Param("toy_delta", lambda v: v >= 0, ">= 0", "nats", sweep=(0.1, 0.3), symbol="δ")])
def toy_lowest(stats, eligible, *, k, params):
    entropy = stats["entropy"].masked_fill(~eligible, float("inf"))
    return eligible & (entropy <= entropy.min(dim=1, keepdim=True).values + params["toy_delta"])
'''


def test_the_registered_sweep_is_notebook_03s_grid_with_its_labels():
    base = DecodeConfig("entropy", block_size=8)
    expected = {**{f"med λ={v}": base.replace(sampler="med", med_lambda=v) for v in (0.05, 0.2, 0.5, 1.0)},
                **{f"med_budget λ={v}": base.replace(sampler="med_budget", med_lambda=v) for v in (0.05, 0.2, 0.5, 1.0)},
                **{f"eb γ={v}": base.replace(sampler="eb", eb_gamma=v) for v in (0.05, 0.2, 0.5, 1.0)},
                **{f"fast τ={v}": base.replace(sampler="fast_threshold", tau=v) for v in (0.99, 0.9, 0.7, 0.5)},
                **{f"fast f={v}": base.replace(sampler="fast_factor", factor=v) for v in (0.5, 1.0, 2.0, 4.0)}}
    sweep = rule_sweep(rule_grids(), base)
    assert list(sweep) == list(expected) and sweep == expected
    assert rule_sweep_size(rule_grids()) == 20


def test_overrides_replace_a_grid_and_an_empty_list_leaves_its_rules_out():
    grids = rule_grids({"med_lambda": [0.2], "tau": [], "factor": [2]})
    assert grids == {"med_lambda": [0.2], "eb_gamma": [0.05, 0.2, 0.5, 1.0], "factor": [2]}
    assert list(rule_sweep(grids))[:2] == ["med λ=0.2", "med_budget λ=0.2"] and "fast f=2" in rule_sweep(grids)
    assert not any(label.startswith("fast τ") for label in rule_sweep(grids))
    assert list(rule_sweep(grids, rules=["med"])) == ["med λ=0.2"]
    assert rule_sweep_size(grids) == 1 + 1 + 4 + 1
    with pytest.raises(ValueError, match=r"unknown rule\(s\) \['mde'\]"):
        rule_sweep(grids, rules=["mde"])


@pytest.mark.parametrize("overrides, match", [
    ({"lambda": [0.2]}, r"unknown rule parameter\(s\) \['lambda'\]"),
    ({"med_lambda": [-0.1]}, r"med_lambda must be >= 0, got -0\.1"),
    ({"tau": "[0.9]"}, r"sweeps\['tau'\] must be a list"),
])
def test_bad_overrides_name_the_value(overrides, match):
    with pytest.raises(ValueError, match=match):
        rule_grids(overrides)


def test_a_rule_without_sweep_values_is_opt_in():
    with scratch_rules():
        register_rule("quiet", params=[Param("quiet_delta", lambda v: v >= 0, ">= 0", example=0.1)])(lambda *a, **k: None)
        assert "quiet_delta" not in rule_grids() and rule_sweep_size(rule_grids()) == 20
        assert list(rule_sweep(rule_grids({"quiet_delta": [0.1]}), rules=["quiet"])) == ["quiet quiet_delta=0.1"]


def test_a_rule_file_reaches_the_sweep_and_the_cost_estimate_from_its_registration(tmp_path):
    path = tmp_path / "toy_rules.py"
    path.write_text(RULE_FILE)
    params = {"ks": [1, 2, 4], "fixed_k_block_size": 0, "sweeps": {}}
    before = notebook_nfe_per_problem("03", params, gen_length=32)
    with scratch_rules():
        assert load_rule_modules([str(path)]) == ["toy_lowest"]
        assert load_rule_modules([str(path)]) == []  # imported once
        grids = rule_grids()
        assert grids["toy_delta"] == [0.1, 0.3]
        sweep = rule_sweep(grids)
        assert sweep["toy_lowest δ=0.3"] == DecodeConfig("toy_lowest", toy_delta=0.3)
        assert notebook_nfe_per_problem("03", params, gen_length=32) == before + 2 * 32
        stats = {"entropy": torch.tensor([[0.05, 0.10, 0.50, 0.12]])}
        assert RULES["toy_lowest"](stats, torch.ones(1, 4, dtype=torch.bool), k=1, params={"toy_delta": 0.1}).tolist() == [
            [True, True, False, True]]
    assert "toy_lowest" not in RULES


def test_a_missing_rule_module_is_named():
    with pytest.raises(ValueError, match="rule module 'no_such_rules_module' cannot be imported"):
        load_rule_modules(["no_such_rules_module"])


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_registered_rule_has_valid_example_values(name):
    rule = RULES[name]
    assert DecodeConfig(name, **rule.example_params()).sampler == name


def test_a_registration_without_an_example_or_with_a_bad_one_is_refused():
    with pytest.raises(ValueError, match="tau must be in"):
        Param("tau", lambda v: 0 < v <= 1, "in (0, 1]", example=2.0)
    with scratch_rules():
        register_rule("no_example", params=[Param("ne", lambda v: v > 0, "> 0")])(lambda *a, **k: None)
        with pytest.raises(ValueError, match="rule 'no_example': parameter 'ne' has no example value"):
            RULES["no_example"].example_params()


def test_fixed_k_is_one_grid_everywhere():
    """Notebook 03's ``ks`` default (a literal: papermill needs one) and the benchmarks read FIXED_KS."""
    from mdlm_study.core.parameters import NOTEBOOKS, declared_in
    from mdlm_study.engine import FIXED_KS
    from mdlm_study.experiments import faithfulness, selection

    assert declared_in(NOTEBOOKS / "03_parallel_decoding_med.ipynb")["ks"].default == list(FIXED_KS)
    fixed = [c.tokens_per_step for c in selection.CONFIGS if c.sampler == "entropy" and c.exit_gamma is None and c.block_size is None]
    assert fixed == list(FIXED_KS)
    assert [c.tokens_per_step for c in faithfulness.DECODINGS if c.sampler == "entropy"] == list(FIXED_KS)
