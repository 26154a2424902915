"""Claims across training seeds (mdlm_study.experiments.seeds) with a fake evaluator whose accuracy per seed and
setting is known, so the pooled effects, the seeds a claim holds on and the transfer of seed 0's
setting against each seed's own choice are checked against hand computations."""

import math
from pathlib import Path

import pandas as pd
import pytest
from benchmark_helpers import run_script
from scipy.stats import spearmanr

from mdlm_study.core import paper, verdicts
from mdlm_study.core.stats import paired_difference_ci
from mdlm_study.engine import DecodeConfig
from mdlm_study.experiments import seeds
from mdlm_study.reporting import plots

N = 1000  # problems: with no discordant problem Tango's lower bound is -z^2/(N + z^2) = -0.38 points, inside the 1-point margin
K2_LOSS = {0: 20, 1: 0, 2: 12, 3: 3, 4: 16}  # problems fixed k = 2 gets wrong that k = 1 gets right, per seed
THRESHOLD = {0: 1.0, 1: 0.6, 2: 1.0, 3: 0.8, 4: 0.7}  # MED + exit loses accuracy once lambda + gamma exceeds it
SEED0_CHOICE = DecodeConfig("med", med_lambda=0.3, exit_gamma=0.5)  # speed-up 1 + 0.6 + 2 = 3.6x


def fake_evaluator(seed, calls=None):
    """A model of seed ``seed``: one-token entropy decoding gets the first 80% right; fixed k = 2 loses
    ``K2_LOSS[seed]`` of them over the whole canvas (nothing in blocks); MED + exit loses (lambda + gamma - THRESHOLD[seed]) when positive, at
    NFE 28 / (1 + 2 lambda + 4 gamma); everything else is as accurate as the reference."""
    def evaluate(problems, config):
        if calls is not None:
            calls.append((seed, config))
        n = len(problems)
        right, nfe = round(0.8 * n), 28 / config.tokens_per_step
        if config.sampler == "entropy" and config.tokens_per_step == 2 and config.block_size is None:
            right -= K2_LOSS[seed]
        if config.sampler == "med" and config.exit_rule:
            lam, gamma = config.med_lambda, config.exit_gamma
            right = round((0.8 - max(0.0, lam + gamma - THRESHOLD[seed])) * n)
            nfe = 28 / (1 + 2 * lam + 4 * gamma)
        elif config.exit_rule:
            nfe = 1 if math.isinf(config.exit_gamma) else 14
        elif config.sampler == "med":
            nfe = 13
        return pd.DataFrame({"correct": [i < right for i in range(n)], "nfe": [nfe] * n})
    return evaluate


def measured(calls=None):
    transferred = seeds.transferred_roles([("fastest_within_1_point", SEED0_CHOICE), ("most_accurate_at_3.5x", SEED0_CHOICE),
                                           ("fastest_within_1_point", SEED0_CHOICE.replace(block_size=8))])
    problems, dev = list(range(N)), list(range(N))
    states = []
    for seed in seeds.SEEDS:
        evaluate = fake_evaluator(seed, calls)
        state = {"seed": seed, "model": seeds.model_name(seed)}
        seeds.measure_seed(evaluate, problems, state, {**seeds.TEST_DECODINGS, **transferred})
        own = seeds.select_own(evaluate, dev, state, dev_sha256="dev")
        seeds.measure_seed(evaluate, problems, state, own)
        states.append(state)
    return states, transferred


@pytest.fixture(scope="module")
def states():
    return measured()[0]


@pytest.fixture(scope="module")
def results(states):
    return {r["claim"]: r for r in seeds.claim_results(states)}


def test_the_fixed_k_loss_pools_over_seeds_and_holds_where_it_is_significant(results):
    r = results["fixed_k2"]
    # fixed effect, for comparison: the Mantel-Haenszel difference with pairs as strata, (C - B) / N over all seeds
    assert r["fixed_effect"]["difference"] == pytest.approx(-sum(K2_LOSS.values()) / (5 * N))
    assert (r["fixed_effect"]["only_reference"], r["fixed_effect"]["only_this"], r["fixed_effect"]["n"]) == (51, 0, 5 * N)
    # the verdict of record: random effects over the seeds' paired differences, the seed as the unit
    interval, expected = verdicts.seed_pooled_difference([(N, K2_LOSS[s], 0) for s in seeds.SEEDS])
    assert (r["pooled"]["difference"], r["pooled"]["low"], r["pooled"]["high"]) == pytest.approx((interval.estimate, interval.low, interval.high))
    assert r["pooled"]["verdict"] == verdicts.against_effect(interval, paper.fixed_k_drop(2)).word
    assert r["pooled"]["prediction_low"] < r["pooled"]["low"] and r["pooled"]["n"] == 5 * N
    # per seed: the loss, and "worse" (upper bound below 0) holds when the loss is significant;
    # one-way discordance d gives the score statistic d / sqrt(d) = sqrt(d): 20, 12, 16 reject (> 1.96), 3 and 0 do not
    assert [s["difference"] for s in r["per_seed"]] == [-K2_LOSS[s] / N for s in seeds.SEEDS]
    assert r["holding"] == {"holding": 3, "total": 5, "which": [0, 2, 4], "seeds": [0, 2, 4]}
    for s in r["per_seed"]:
        ci = paired_difference_ci([i < 800 for i in range(N)], [i < 800 - K2_LOSS[s["seed"]] for i in range(N)])
        assert (s["low"], s["high"]) == (ci["low"], ci["high"]) and s["holds"] == (ci["high"] < 0)
    assert r["pooled"]["i2"] == pytest.approx(expected["i2"]) and r["pooled"]["i2"] > 0.5  # seeds 0 / 2 / 4 against 1 / 3 disagree
    assert r["speedup_range"] == [2.0, 2.0]


def test_the_control_seeds_are_those_where_fixed_k_loses_enough(states, results):
    assert seeds.losing_seeds(list(results.values()), "fixed_k2", loss_points=1.2) == [0, 2, 4]  # 2.0, 1.2, 1.6 points
    assert seeds.losing_seeds(list(results.values()), "fixed_k2", loss_points=1.5) == [0, 4]
    assert seeds.losing_seeds(list(results.values()), "fixed_k2", loss_points=1.7) == [0]
    assert seeds.losing_seeds(list(results.values())) == []  # nothing lost in blocks
    subset = seeds.claim_results([s for s in states if s["seed"] in (0, 4)], [c for c in seeds.CLAIMS if c.name == "fixed_k2"])
    assert subset[0]["fixed_effect"]["difference"] == pytest.approx(-(20 + 16) / (2 * N))
    with pytest.raises(ValueError, match="no claim 'nope'"):
        seeds.losing_seeds(list(results.values()), "nope")


def test_a_claim_with_no_effect_holds_nowhere_and_pools_to_zero(results):
    r = results["fixed_k2_blocks8"]  # the fake loses nothing in blocks
    assert r["pooled"]["difference"] == 0 and r["holding"]["holding"] == 0
    med = results["med_vs_entropy"]  # as accurate with 28 / 13 fewer NFE: non-inferior at 1 point and faster on every seed
    assert med["holding"]["holding"] == 5 and med["per_seed"][0]["speedup"] == pytest.approx(28 / 13)
    assert results["entropy_vs_l2r"]["holding"]["holding"] == 0  # "better" needs the lower bound above 0


def test_seed_0s_setting_is_transferred_unchanged_and_holds_where_the_seed_tolerates_it(results):
    r = results["med_exit_transferred_fastest_within_1_point"]
    assert {s["setting"] for s in r["per_seed"]} == {SEED0_CHOICE.label()}  # the same setting on every seed
    # lambda + gamma = 0.8: seed 1 (threshold 0.6) loses 0.2, seed 4 (0.7) loses 0.1, the others nothing
    assert [s["difference"] for s in r["per_seed"]] == pytest.approx([0, -0.2, 0, 0, -0.1])
    assert r["fixed_effect"]["difference"] == pytest.approx(-(200 + 100) / (5 * N))
    assert all(s["speedup"] == pytest.approx(3.6) for s in r["per_seed"])
    assert r["holding"]["seeds"] == [0, 2, 3]  # non-inferior at 1 point and >= 3.5x fewer NFE
    assert "med_exit_transferred:fastest_within_1_point" in r["this"]


def test_each_seed_chooses_its_own_setting_on_its_development_split(states, results):
    # the fewest NFE within 1 point: the largest 2 lambda + 4 gamma with lambda + gamma <= the seed's threshold
    expected = {0: (0.3, 0.7), 1: (0.3, 0.3), 2: (0.3, 0.7), 3: (0.3, 0.5), 4: (0.2, 0.5)}
    for state in states:
        chosen = state["selection"]["chosen"]["fastest_within_1_point"]["config"]
        assert (chosen["med_lambda"], chosen["exit_gamma"]) == expected[state["seed"]]
        assert state["selection"]["dev_n_problems"] == N and len(state["selection"]["dev_grid"]) == 30
    r = results["med_exit_own_fastest_within_1_point"]
    assert [s["setting"] for s in r["per_seed"]] == [DecodeConfig("med", med_lambda=lam, exit_gamma=g).label()
                                                     for lam, g in expected.values()]
    # every own choice is as accurate as the reference; speed-ups 1 + 2 lambda + 4 gamma: 4.4, 2.8, 4.4, 3.6, 3.4
    assert [s["speedup"] for s in r["per_seed"]] == pytest.approx([4.4, 2.8, 4.4, 3.6, 3.4])
    assert r["pooled"]["difference"] == 0 and r["holding"]["seeds"] == [0, 2, 3]  # seeds 1 and 4 chose settings under 3.5x


def test_a_setting_chosen_twice_is_decoded_once_and_blocks_are_not_transferred():
    calls = []
    states, transferred = measured(calls)
    assert list(transferred) == ["med_exit_transferred:fastest_within_1_point", "med_exit_transferred:most_accurate_at_3.5x"]
    for seed in seeds.SEEDS:
        test_calls = [c for s, c in calls if s == seed]
        # once on the development grid and once on test: both rules (and seed 3's own choice) share the test decoding
        assert test_calls.count(SEED0_CHOICE) == 2
    state = states[0]
    assert state["decodings"]["med_exit_transferred:most_accurate_at_3.5x"]["correct"] == \
        state["decodings"]["med_exit_transferred:fastest_within_1_point"]["correct"]
    before = len(calls)  # resuming measures nothing already there
    seeds.measure_seed(fake_evaluator(0, calls), list(range(N)), state, seeds.TEST_DECODINGS)
    assert len(calls) == before


def test_spearman_is_exact_over_all_orderings():
    assert seeds.spearman_exact([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == {"rho": 1.0, "p_value": pytest.approx(2 / 120), "n": 5}
    x, y = [0.3, 0.1, 0.5, 0.2, 0.4], [1.0, 3.0, 2.0, 5.0, 4.0]
    result = seeds.spearman_exact(x, y)
    assert result["rho"] == pytest.approx(spearmanr(x, y).statistic) and 0 < result["p_value"] <= 1
    with pytest.raises(ValueError):
        seeds.spearman_exact([1, 2], [1, 2])


def test_mechanism_table_reads_each_seed_and_correlates_across_seeds(states):
    for state, loss in zip(states, K2_LOSS.values(), strict=True):
        state["mechanism"] = {seeds.CORRUPTED: {"answer_is_conclusion": 0.5 + loss / 100}}
    table = seeds.mechanism_table(states)
    assert list(table["fixed_k2_loss"]) == pytest.approx([K2_LOSS[s] / N for s in seeds.SEEDS])
    assert list(table["blank_slot_accuracy"]) == [0.8] * 5
    correlations = {(c["mechanism"], c["effect"]): c for c in seeds.mechanism_correlations(table)}
    assert correlations[("follows_corrupted_conclusion", "med_exit_transferred_difference")]["n"] == 5
    assert correlations[("fixed_k2_loss", "med_exit_transferred_difference")]["rho"] == pytest.approx(
        spearmanr(table["fixed_k2_loss"], table["med_exit_transferred_difference"]).statistic)


def test_hypotheses_read_the_predicted_sign_and_the_exact_p_value():
    table = pd.DataFrame({"blank_slot_accuracy": [0.9, 0.8, 0.7, 0.6, 0.5], "fixed_k2_blocks8_loss": [0.0, 0.01, 0.02, 0.03, 0.04],
                          "follows_corrupted_conclusion": [0.5, 0.4, 0.6, 0.3, 0.7],
                          "med_exit_transferred_speedup": [7.0, 6.0, 3.0, 5.0, 4.0]})
    got = {(h["mechanism"], h["effect"]): h for h in seeds.check_hypotheses(table)}
    # a perfect inverse ranking: rho = -1, p = 2/120, as predicted; one of four hypotheses, Holm-adjusted 4 x 2/120
    assert got[("blank_slot_accuracy", "fixed_k2_blocks8_loss")] | {} == {
        "mechanism": "blank_slot_accuracy", "effect": "fixed_k2_blocks8_loss", "predicted": -1, "rho": -1.0,
        "p_value": pytest.approx(2 / 120), "p_holm": pytest.approx(4 * 2 / 120), "n": 5, "reading": "same direction, not significant"}
    # alone, the same ranking is supported: Holm's correction multiplies by the family's size
    alone = seeds.check_hypotheses(table, [("blank_slot_accuracy", "fixed_k2_blocks8_loss", -1)])[0]
    assert alone["p_holm"] == pytest.approx(2 / 120) and alone["reading"] == "supported"
    # rho = +0.7 as predicted, but not significant with five seeds
    speed = got[("blank_slot_accuracy", "med_exit_transferred_speedup")]
    assert speed["rho"] == pytest.approx(0.7) and speed["p_value"] > 0.05 and speed["reading"] == "same direction, not significant"
    assert got[("follows_corrupted_conclusion", "fixed_k2_blocks8_loss")]["reading"] == "same direction, not significant"  # rho 0.3
    assert got[("fixed_k2_blocks8_loss", "med_exit_transferred_speedup")]["reading"] == "same direction, not significant"  # rho -0.7
    flipped = table.assign(fixed_k2_blocks8_loss=table["fixed_k2_blocks8_loss"][::-1].to_numpy())
    assert seeds.check_hypotheses(flipped, [("blank_slot_accuracy", "fixed_k2_blocks8_loss", -1)])[0]["reading"] == "contradicted"
    short = table.head(2)
    assert {h["reading"] for h in seeds.check_hypotheses(short)} == {"not measured"}


def test_a_claim_some_seed_lacks_is_reported_missing(states):
    partial = [dict(s, decodings={k: v for k, v in s["decodings"].items() if k != "l2r"}) if s["seed"] == 3 else s for s in states]
    r = {x["claim"]: x for x in seeds.claim_results(partial)}
    assert r["entropy_vs_l2r"]["missing"] == ["default_seed3"] and r["fixed_k2"]["missing"] == []
    assert [s["seed"] for s in r["entropy_vs_l2r"]["per_seed"]] == [0, 1, 2, 4] and r["entropy_vs_l2r"]["pooled"]["n"] == 4 * N
    none = [dict(s, decodings={k: v for k, v in s["decodings"].items() if k != "l2r"}) for s in states]
    assert "pooled" not in {x["claim"]: x for x in seeds.claim_results(none)}["entropy_vs_l2r"]


def test_forest_plot_draws_every_seed_and_the_pooled_diamond(results):
    fig = plots.seeds_forest(list(results.values()))
    ax = fig.axes[0]
    drawn = [r for r in results.values() if "pooled" in r]  # the written-conclusion claims: the stand-in evaluator writes no reasoning
    assert len(drawn) == len(results) - 2 and {r["claim"] for r in results.values() if "pooled" not in r} == {"conclusion_fixed_k2", "conclusion_fixed_k4"}
    assert "difference" in ax.get_xlabel() and len(ax.get_yticklabels()) == len(drawn)
    assert len(ax.patches) == len(drawn)  # one diamond per claim
    # the paper's values: a cross on the seeds' scale, or an arrow at the edge with the value written when off it
    low, high = ax.get_xlim()
    notes = {t.get_text() for t in ax.texts}
    papers = {100 * r["paper"] for r in drawn if r["paper"] is not None}
    assert low > -43.4 and "paper -43.4" in notes  # the seeds' effects set the scale, not the paper's -43 points
    assert all((low <= x <= high) != (f"paper {x:+.1f}" in notes) for x in papers)


def test_claim_records_pair_every_decoding_with_its_references(states):
    state = states[0]
    records = {r["role"]: r for r in seeds.claim_records(state)}
    assert set(records) == set(state["decodings"])
    k2 = records["entropy_k2"]
    assert k2["paired_vs_entropy_k1"] == {"only_reference": K2_LOSS[0], "only_this": 0}  # the k = 2 loss, paired
    assert k2["paired_vs_block_k1"] == {"only_reference": K2_LOSS[0], "only_this": 0}  # blocks of 8 lose nothing at k = 1 here
    assert records["entropy_k1"]["paired_vs_entropy_k1"] == {"only_reference": 0, "only_this": 0}
    assert (k2["sampler"], k2["tokens_per_step"], k2["block_size"], k2["accuracy"]) == ("entropy", 2, None, 0.8 - K2_LOSS[0] / N)
    broken = dict(state, decodings={**state["decodings"], "l2r": dict(state["decodings"]["l2r"], correct="1" * (N - 1))})
    with pytest.raises(ValueError, match=f"l2r has {N - 1} problems, entropy_k1 {N}"):
        seeds.claim_records(broken)


def test_resolve_maps_released_names_and_training_layouts(tmp_path):
    assert seeds.resolve("default_seed3") == seeds.ROOT / "models" / "default_seed3"
    assert seeds.resolve("default_seed3", tmp_path) == tmp_path / "seed3" / "default"
    (tmp_path / "default").mkdir()
    assert seeds.resolve("default", tmp_path) == tmp_path / "default"


def test_the_seeds_cli_is_a_thin_script_over_the_package():
    out = run_script("bench_seeds", "--help")
    assert out.returncode == 0 and "--models-dir" in out.stdout and "--transfer" in out.stdout and "--decode-only" in out.stdout
    both = run_script("bench_seeds", "--analyse-only", "--decode-only")
    assert both.returncode == 2 and "--analyse-only and --decode-only exclude each other" in both.stderr


SUDOKU_ANY_ORDER_GAIN = {0: 300, 1: 250, 2: 280, 3: 320, 4: 260}  # puzzles entropy order solves that left to right does not, per seed


def sudoku_evaluator(seed):
    """A Sudoku model of seed ``seed``: entropy order at one token per step solves the first half of the
    puzzles, left to right ``SUDOKU_ANY_ORDER_GAIN[seed]`` fewer; two tokens per step lose 40 of them."""
    def evaluate(problems, config):
        n = len(problems)
        right = n // 2 - (SUDOKU_ANY_ORDER_GAIN[seed] if config.sampler == "l2r" else 0) - (40 if config.tokens_per_step == 2 else 0)
        return pd.DataFrame({"correct": [i < right for i in range(n)], "nfe": [16 // config.tokens_per_step] * n})
    return evaluate


def test_sudoku_claims_pool_the_sudoku_seeds_only(states):
    """Sudoku's claims read the Sudoku recipe's seeds (their records say ``recipe: sudoku``) and no other; the
    default recipe's claims ignore the Sudoku records, so one list of records serves both."""
    sudoku = []
    for seed in seeds.SEEDS:
        state = {"seed": seed, "recipe": "sudoku", "model": seeds.model_name(seed, "sudoku")}
        seeds.measure_seed(sudoku_evaluator(seed), list(range(1500)), state, seeds.SUDOKU_DECODINGS)
        sudoku.append(state)
    assert [s["model"] for s in sudoku] == ["sudoku", "sudoku_seed1", "sudoku_seed2", "sudoku_seed3", "sudoku_seed4"]
    mixed = {r["claim"]: r for r in seeds.claim_results(states + sudoku, seeds.CLAIMS + seeds.SUDOKU_CLAIMS)}
    alone = {r["claim"]: r for r in seeds.claim_results(states)}
    assert mixed["fixed_k2"]["pooled"] == alone["fixed_k2"]["pooled"] and mixed["fixed_k2"]["missing"] == []
    any_order = mixed["sudoku_any_order"]
    assert [s["seed"] for s in any_order["per_seed"]] == list(seeds.SEEDS) and any_order["missing"] == []
    assert [s["difference"] for s in any_order["per_seed"]] == pytest.approx([SUDOKU_ANY_ORDER_GAIN[s] / 1500 for s in seeds.SEEDS])
    assert any_order["pooled"]["verdict"] in verdicts.HOLDING  # a gain of 17-21 points on every seed, the paper's +54: smaller
    exception = mixed["sudoku_fixed_k2"]
    assert [s["difference"] for s in exception["per_seed"]] == pytest.approx([-40 / 1500] * 5)
    assert exception["pooled"]["verdict"] == verdicts.OPPOSITE and exception["holding"]["holding"] == 0  # k = 2 loses 2.7 points
    assert seeds.resolve("sudoku_seed2", "/runs") == Path("/runs/seed2/sudoku")


def test_held_out_puzzles_avoid_every_sudoku_split(tmp_path):
    from mdlm_study.tasks.data import held_out_puzzles, read_split, study_data, write_study_data

    write_study_data(study_data(smoke=True, tasks=("sudoku",)), tmp_path)
    taken = {p.puzzle for role in ("train", "test") for p in read_split("sudoku", tmp_path, role)}
    puzzles = held_out_puzzles(tmp_path, 60)
    assert len({p.puzzle for p in puzzles}) == 60 and not taken & {p.puzzle for p in puzzles}
    assert held_out_puzzles(tmp_path, 60) == puzzles and held_out_puzzles(tmp_path, 60, seed=1) != puzzles
    with pytest.raises(ValueError, match="n >= 1, got n=0"):
        held_out_puzzles(tmp_path, 0)


def test_written_conclusions_are_kept_with_new_decodings_and_added_to_old_ones(problems):
    """A decoding of arithmetic problems keeps whether each written reasoning's last result is the answer;
    records written before that get it by decoding the role again, which must reproduce the recorded answers."""
    chosen = problems[:4]
    # problem 0: right reasoning, right answer; 1: the last step's result wrong; 2: no equation; 3: answer wrong, reasoning right
    lines = [chosen[0].reasoning, chosen[1].reasoning.rsplit("=", 1)[0] + "= 99999", "no steps here", chosen[3].reasoning]
    table = pd.DataFrame({"correct": [True, True, False, False], "nfe": [28] * 4, "reasoning": lines,
                          "predicted": [chosen[0].answer, chosen[1].answer, "1", "1"]})
    assert seeds.written_conclusions(table, chosen) == "1001"
    assert seeds.written_conclusions(table[["correct", "nfe"]], chosen) is None  # no written reasoning
    state = {"model": "m", "decodings": {}}
    seeds.measure_seed(lambda p, c: table, chosen, state, {"entropy_k1": seeds.TEST_DECODINGS["entropy_k1"]})
    assert state["decodings"]["entropy_k1"]["conclusion"] == "1001"
    old = {"model": "m", "decodings": {role: {k: v for k, v in state["decodings"]["entropy_k1"].items() if k != "conclusion"}
                                       for role in ("entropy_k1", "entropy_k2")}}
    old["decodings"]["entropy_k2"].update(seeds.config_fields(seeds.TEST_DECODINGS["entropy_k2"]))
    seen = []
    seeds.measure_conclusions(lambda p, c: seen.append(c) or table, chosen, old, roles=("entropy_k1", "entropy_k2"))
    assert [c.tokens_per_step for c in seen] == [1, 2] and old["decodings"]["entropy_k2"]["conclusion"] == "1001"
    seeds.measure_conclusions(lambda p, c: pytest.fail("decoded again"), chosen, old, roles=("entropy_k1", "entropy_k2"))
    stale = {"model": "m", "decodings": {"entropy_k1": {**old["decodings"]["entropy_k1"], "correct": "0000"}}}
    del stale["decodings"]["entropy_k1"]["conclusion"]
    with pytest.raises(ValueError, match="decoded again differs from its record"):
        seeds.measure_conclusions(lambda p, c: table, chosen, stale, roles=("entropy_k1",))


def test_the_written_conclusion_claims_read_the_conclusion_bits():
    """conclusion_fixed_k2 pairs the written conclusions of k = 1 and k = 2, not their answer slots."""
    claim = seeds.CLAIM["conclusion_fixed_k2"]
    assert (claim.reading, claim.reference, claim.this, claim.paper) == ("conclusion", "entropy_k1", "entropy_k2", paper.fixed_k_drop(2))
    states = [{"seed": s, "model": seeds.model_name(s), "decodings": {
        "entropy_k1": {"correct": "1" * 100, "conclusion": "1" * 100, "mean_nfe": 28.0},
        "entropy_k2": {"correct": "1" * 100, "conclusion": "0" * (10 + s) + "1" * (90 - s), "mean_nfe": 14.0}}} for s in seeds.SEEDS]
    r = seeds.claim_results(states, [claim])[0]
    assert [x["difference"] for x in r["per_seed"]] == pytest.approx([-(10 + s) / 100 for s in seeds.SEEDS])
    no_bits = [{**s, "decodings": {k: {kk: vv for kk, vv in e.items() if kk != "conclusion"} for k, e in s["decodings"].items()}} for s in states]
    assert "pooled" not in seeds.claim_results(no_bits, [claim])[0]
