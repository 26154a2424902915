"""DecodeConfig: validation naming the value, exact round trips, variants, per-row seeds, and a rule
registered from outside the package running through ``generate`` unchanged."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mdlm_study.engine import RULES, DecodeConfig, Param, generate, register_rule
from mdlm_study.engine.rules import rule_param_names
from tests.toy_denoisers import ChainDenoiser

VOCAB, MASK = 12, 11


def _chain(rows=3, length=10):
    targets = torch.randint(1, 10, (rows + 1, length), generator=torch.Generator().manual_seed(0))
    model = ChainDenoiser(targets, VOCAB, MASK)
    ids = torch.full((rows, length), MASK)
    ids[:, 0] = torch.arange(rows)  # the key of each row
    return model, ids


CONFIGS = [
    DecodeConfig(),
    DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1, block_size=32),
    DecodeConfig("entropy", tokens_per_step=4, temperature=0.7, seed=3, suppress_token_ids=[5, 2, 5]),
    DecodeConfig("eb", eb_gamma=0.5, exit_rule="prophet"),
    DecodeConfig("fast_threshold", tau=0.9, answer_last=False),
    DecodeConfig("random", tokens_per_step=2, exit_gamma=float("inf")),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.label())
def test_to_dict_from_dict_round_trips_exactly_through_json(config):
    data = json.loads(json.dumps(config.to_dict()))
    assert DecodeConfig.from_dict(data) == config
    assert DecodeConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_rule_parameters_sit_at_the_top_level_and_other_rules_read_none():
    config = DecodeConfig("med", med_lambda=0.3)
    assert config.to_dict()["med_lambda"] == 0.3 and config.med_lambda == 0.3
    assert config.eb_gamma is None and config.tau is None
    assert config.params == {"med_lambda": 0.3}
    with pytest.raises(AttributeError, match="no attribute 'lamda'"):
        config.lamda  # noqa: B018


def test_a_record_with_every_rule_parameter_as_none_reads_back():
    record = {**DecodeConfig("eb", eb_gamma=0.1).to_dict(), **{name: None for name in rule_param_names() if name != "eb_gamma"}}
    assert DecodeConfig.from_dict(record) == DecodeConfig("eb", eb_gamma=0.1)


def test_replace_derives_validated_variants():
    base = DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1)
    assert base.replace(med_lambda=0.5).med_lambda == 0.5 and base.med_lambda == 0.2  # frozen original
    assert base.replace(sampler="entropy") == DecodeConfig("entropy", exit_gamma=0.1)  # old rule's λ dropped
    assert base.replace(sampler="eb", eb_gamma=1.0).params == {"eb_gamma": 1.0}
    with pytest.raises(ValueError, match="med_lambda must be >= 0, got -1"):
        base.replace(med_lambda=-1)


def test_exit_gamma_alone_means_the_entropy_exit_and_infinity_is_allowed():
    assert DecodeConfig(exit_gamma=0.1).exit_rule == "entropy"
    assert math.isinf(DecodeConfig(exit_gamma=float("inf")).exit_gamma)
    assert DecodeConfig(exit_rule="prophet").prophet_thresholds is not None


def test_numpy_integers_are_accepted_and_stored_as_python_ints():
    np = pytest.importorskip("numpy")
    config = DecodeConfig(block_size=np.int64(32), tokens_per_step=np.int32(2), seed=np.int64(4))
    assert (config.block_size, config.tokens_per_step, config.seed) == (32, 2, 4)
    assert type(config.block_size) is int


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampler="medd"), "unknown sampler 'medd'"),
    (dict(sampler="med"), "needs med_lambda=..."),
    (dict(sampler="med", med_lambda=-0.1), "med_lambda must be >= 0, got -0.1"),
    (dict(sampler="med", med_lambda=float("nan")), "med_lambda must be a real number"),
    (dict(sampler="med", med_lambda="0.2"), "med_lambda must be a real number"),
    (dict(sampler="entropy", med_lambda=0.2), r"unknown rule parameter\(s\) \['med_lambda'\] for sampler 'entropy'"),
    (dict(sampler="fast_threshold", tau=1.5), r"tau must be in \(0, 1\], got 1.5"),
    (dict(sampler="fast_factor", factor=0), "factor must be > 0, got 0"),
    (dict(sampler="med", med_lambda=0.2, tokens_per_step=2), "tokens_per_step=2 only applies to the fixed-count rules"),
    (dict(tokens_per_step=0), "tokens_per_step must be an int >= 1, got 0"),
    (dict(tokens_per_step=2.0), "tokens_per_step must be an int >= 1, got 2.0"),
    (dict(block_size=0), "block_size must be an int >= 1, got 0"),
    (dict(block_size=True), "block_size must be an int >= 1, got True"),
    (dict(temperature=-1), "temperature must be a finite number >= 0, got -1"),
    (dict(temperature=float("inf")), "temperature must be a finite number >= 0"),
    (dict(exit_gamma=-0.5), "exit_gamma must be a number >= 0, got -0.5"),
    (dict(exit_gamma=float("nan")), "exit_gamma must be a number >= 0, got nan"),
    (dict(exit_rule="entropy"), "needs exit_gamma"),
    (dict(exit_rule="sometimes"), "unknown exit_rule 'sometimes'"),
    (dict(exit_rule="prophet", exit_gamma=0.1), "exit_gamma=0.1 only applies to exit_rule='entropy'"),
    (dict(exit_rule="prophet", prophet_thresholds=(1, 2)), "prophet_thresholds must be three finite numbers"),
    (dict(prophet_thresholds=(1, 2, 3)), "only apply to exit_rule='prophet'"),
    (dict(answer_last="no"), "answer_last must be True or False, got 'no'"),
    (dict(suppress_token_ids=5), "suppress_token_ids must be a sequence of token ids, got 5"),
    (dict(suppress_token_ids=[1, -2]), r"suppress_token_ids must hold ints >= 0, got \[-2\]"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
    (dict(seed=1.5), "seed must be an int >= 0, got 1.5"),
])
def test_bad_settings_raise_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecodeConfig(**kwargs)


def test_from_dict_refuses_unknown_keys_by_name():
    with pytest.raises(ValueError, match=r"unknown DecodeConfig key\(s\) \['block'\]"):
        DecodeConfig.from_dict({"sampler": "entropy", "block": 8})


@pytest.mark.parametrize("config", [DecodeConfig("med", med_lambda=0.4), DecodeConfig("entropy", tokens_per_step=2, block_size=4),
                                    DecodeConfig("eb", eb_gamma=1.0), DecodeConfig("l2r")], ids=lambda c: c.label())
def test_generate_with_config_equals_generate_with_keywords(config):
    model, ids = _chain()
    by_config = generate(model, ids, mask_id=MASK, config=config)
    keywords = {k: v for k, v in config.to_dict().items() if k in ("sampler", "tokens_per_step", "block_size") or k in config.params}
    by_keywords = generate(model, ids, mask_id=MASK, **keywords)
    assert torch.equal(by_config.sequences, by_keywords.sequences) and torch.equal(by_config.nfe, by_keywords.nfe)


def test_config_and_decoding_keywords_together_are_refused():
    model, ids = _chain()
    with pytest.raises(ValueError, match="either config= or decoding keywords"):
        generate(model, ids, mask_id=MASK, config=DecodeConfig(), block_size=4)
    with pytest.raises(ValueError, match="config must be a DecodeConfig, got dict"):
        generate(model, ids, mask_id=MASK, config={"sampler": "entropy"})


def test_config_seed_gives_each_row_its_own_stream_whatever_the_batch():
    """Row r's random stream depends on (seed, r) only: decoding rows together or alone agrees when
    rows keep their index, and another seed changes the samples."""
    model, ids = _chain(rows=4)
    config = DecodeConfig("entropy", temperature=1.0, seed=7)
    together = generate(model, ids, mask_id=MASK, config=config).sequences
    again = generate(model, ids, mask_id=MASK, config=config).sequences
    assert torch.equal(together, again)
    first_two = generate(model, ids[:2], mask_id=MASK, config=config).sequences
    assert torch.equal(first_two, together[:2])
    other = generate(model, ids, mask_id=MASK, config=config.replace(seed=8)).sequences
    assert not torch.equal(other, together)


def test_a_rule_registered_outside_the_package_runs_through_generate_and_the_config():
    """Adding a rule is one decorated function: its parameter is validated by the config and
    reaches the rule. This rule commits the rightmost ``count`` masked positions."""
    import mdlm_study.engine.rules as rules

    @register_rule("rightmost_test", params=[Param("count", lambda v: v >= 1 and v == int(v), "an integer >= 1")])
    def rightmost(stats, eligible, *, k, params):
        return rules._top(stats["position"].to(torch.float64), eligible, rules._count(int(params["count"]), eligible))

    try:
        model, ids = _chain(rows=2, length=7)
        out = generate(model, ids, mask_id=MASK, config=DecodeConfig("rightmost_test", count=2), return_history=True)
        assert out.nfe.tolist() == [3, 3]  # 6 masks, 2 per step
        first = out.history[0]["committed"]
        assert first[:, -2:].all() and first.sum().item() == 4
        with pytest.raises(ValueError, match="count must be an integer >= 1, got 0.5"):
            DecodeConfig("rightmost_test", count=0.5)
        with pytest.raises(ValueError, match="rule name must be a new identifier"):
            register_rule("rightmost_test")
    finally:
        RULES.pop("rightmost_test", None)
