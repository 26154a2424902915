"""mdlm_study.reporting.headlines: each notebook's typed headline gives, as a dict, exactly the summary
the notebook's hand-written headline cell gave (same keys, order and values: the same JSON bytes),
with every optional part present and absent. The old cells are kept here verbatim (as functions of
their inputs) on small made-up tables."""

import json

import numpy as np
import pandas as pd
import pytest

from mdlm_study.core.stats import paired_vs_reference
from mdlm_study.experiments.analysis import fixed_k_drops, paired_drops
from mdlm_study.experiments.scoring import per_trace_scores
from mdlm_study.reporting.headlines import (
    any_order_headline,
    early_exit_headline,
    parallel_decoding_headline,
    posterior_headline,
    step_scoring_headline,
    training_headline,
)

RNG = np.random.default_rng(0)


def same(headline, old: dict) -> None:
    """The same dict, and the same bytes in a sidecar (``save_table`` writes ``default=str`` JSON)."""
    new = headline.as_dict()
    assert list(new) == list(old) and new == old
    assert json.dumps(new, indent=2, default=str) == json.dumps(old, indent=2, default=str)


def correct(n: int = 30, p: float = 0.7) -> pd.DataFrame:
    return pd.DataFrame({"correct": RNG.random(n) < p})


# --- 01 -------------------------------------------------------------------------------------------


def old_01(records, summary, default, answer_only, test):
    targets = {}
    if "default" in records:
        s = default
        targets.update(exact_answer_accuracy=s["accuracy"], trace_accuracy=s["trace_accuracy"], step_accuracy=s["step_accuracy"],
                       train_seconds=records["default"]["train_seconds"])
    if "answer_only" in records:
        targets["answer_only_accuracy"] = answer_only["accuracy"]
    targets["train_tokens_per_s"] = float(summary["tokens_per_s"].iloc[0])
    targets["n_problems"] = len(test)
    return targets


@pytest.mark.parametrize("trained", [("default", "answer_only", "sudoku"), ("default",), ("answer_only",), ("sudoku",)])
def test_01(trained):
    records = {name: {"train_seconds": 12.5 + i} for i, name in enumerate(trained)}
    summary = pd.DataFrame({"model": list(trained), "tokens_per_s": [1000.0 + i for i in range(len(trained))]})
    default = {"accuracy": 0.9, "trace_accuracy": 0.8, "step_accuracy": 0.95} if "default" in records else None
    answer_only = {"accuracy": 0.4} if "answer_only" in records else None
    test = list(range(48))
    same(training_headline(records, summary, len(test), default=default, answer_only=answer_only),
         old_01(records, summary, default, answer_only, test))


# --- 02 -------------------------------------------------------------------------------------------


def old_02(table, per_problem, stable, order_stats):
    l2r_acc = float(table.loc[table["sampler"] == "l2r", "accuracy"].iloc[0])
    best_any = table[table["sampler"] != "l2r"].sort_values("accuracy").iloc[-1]
    headline = {**order_stats, "l2r_accuracy": l2r_acc, "best_any_order": best_any["label"], "best_any_order_accuracy": float(best_any["accuracy"]),
                "whole_canvas_entropy_accuracy": float(table.loc[(table["sampler"] == "entropy") & (table["block"] == 0), "accuracy"].iloc[0])}
    if len(stable):
        headline.update(sudoku_l2r=float(stable.loc[stable["sampler"] == "l2r", "accuracy"].iloc[0]),
                        sudoku_best_any_order=float(stable[stable["sampler"] != "l2r"]["accuracy"].max()))
    counts = paired_vs_reference(per_problem["l2r"]["correct"], per_problem[best_any["label"]]["correct"])
    headline.update(best_any_order_only_reference=counts["only_reference"], best_any_order_only_this=counts["only_this"])
    return headline


@pytest.mark.parametrize("with_sudoku", [True, False])
def test_02(with_sudoku):
    labels = ["l2r", "random b=1", "random b=all", "entropy b=1", "entropy b=all"]
    per_problem = {label: correct() for label in labels}
    table = pd.DataFrame({"label": labels, "sampler": [label.split()[0] for label in labels],
                          "accuracy": [float(per_problem[label]["correct"].mean()) for label in labels], "block": [0, 1, 0, 1, 0]})
    stable = pd.DataFrame({"sampler": ["l2r", "entropy", "random"], "accuracy": [0.3, 0.5, 0.4]}) if with_sudoku else pd.DataFrame()
    order_stats = {"fraction_leftmost": 0.8, "mean_distance": 1.5, "eos_first_rate": 0.0, "answer_before_reasoning_rate": 0.1}
    same(any_order_headline(table, per_problem, stable, order_stats), old_02(table, per_problem, stable, order_stats))


# --- 03 -------------------------------------------------------------------------------------------


def old_03(table, fixed, per_problem, grids, ks, depth, block_fixed, fixed_k_block_size, sfixed, readings):
    k1 = table[(table["sampler"] == "entropy") & (table["tokens_per_step"] == 1)].iloc[0]
    med02 = table[(table["sampler"] == "med") & (table["med_lambda"] == 0.2)].iloc[0] if 0.2 in grids.get("med_lambda", []) else table[table["sampler"] == "med"].iloc[0]
    headline = {"k1_accuracy": float(k1["accuracy"]), "k1_nfe": float(k1["mean_nfe"]),
                **{f"k{int(r.tokens_per_step)}_drop_points": float(r.drop_vs_k1_points) for r in fixed.itertuples()},
                **{f"k{int(r.tokens_per_step)}_p_value": float(r.paired_p_value) for r in fixed.itertuples()},
                "med_lambda": float(med02["med_lambda"]), "med_accuracy": float(med02["accuracy"]), "med_nfe": float(med02["mean_nfe"]),
                "med_speedup": float(k1["mean_nfe"] / med02["mean_nfe"]), "dependency_depth": depth}
    if len(block_fixed):
        by_block_k = block_fixed.set_index("tokens_per_step")
        headline.update(fixed_k_block_size=fixed_k_block_size, block_k1_accuracy=float(by_block_k.loc[1, "accuracy"]),
                        **{f"block_k{k}_{what}": float(by_block_k.loc[k, what]) for k in by_block_k.index if k != 1
                           for what in ("drop_points", "p_value")})
    if len(sfixed):
        headline.update(sudoku_k1_accuracy=float(sfixed["accuracy"].iloc[0]),
                        **{f"sudoku_k{int(r.tokens_per_step)}_drop_points": float(r.drop_vs_k1_points) for r in sfixed.itertuples()},
                        **{f"sudoku_k{int(r.tokens_per_step)}_p_value": float(r.paired_p_value) for r in sfixed.itertuples()})
    if len(readings):
        by_k = readings.set_index("tokens_per_step")
        headline.update(conclusion_k1_accuracy=float(by_k.loc[1, "conclusion_accuracy"]),
                        **{f"{name}_k{k}_{what}": float(by_k.loc[k, f"{name}_{what}"]) for k in by_k.index if k != 1
                           for name in ("answer", "conclusion") for what in ("drop_points", "p_value")})
    med_label = med02["label"]
    for name, reference in [("med", "entropy k=1")] + [(f"med_vs_k{k}", f"entropy k={k}") for k in ks if k != 1]:
        counts = paired_vs_reference(per_problem[reference]["correct"], per_problem[med_label]["correct"])
        headline.update({f"{name}_only_reference": counts["only_reference"], f"{name}_only_this": counts["only_this"]})
    return headline


def fixed_k_sweep(ks, lambdas):
    """A sweep table and its per-problem tables: entropy with k tokens per step, MED with each λ."""
    per_problem = {**{f"entropy k={k}": correct(p=0.9 / k) for k in ks}, **{f"med λ={lam}": correct(p=0.85) for lam in lambdas}}
    rows = [{"label": f"entropy k={k}", "sampler": "entropy", "tokens_per_step": k, "med_lambda": np.nan, "mean_nfe": 40.0 / k} for k in ks]
    rows += [{"label": f"med λ={lam}", "sampler": "med", "tokens_per_step": np.nan, "med_lambda": lam, "mean_nfe": 9.0 + lam} for lam in lambdas]
    table = pd.DataFrame(rows)
    table["accuracy"] = [float(per_problem[label]["correct"].mean()) for label in table["label"]]
    fixed = fixed_k_drops(table)
    fixed["paired_p_value"] = paired_drops({k: per_problem[f"entropy k={k}"] for k in ks})["p_value"].to_numpy()
    return table, fixed, per_problem


@pytest.mark.parametrize("parts", [("blocks", "sudoku", "readings"), ("blocks",), ("sudoku",), ("readings",), ()])
@pytest.mark.parametrize("lambdas", [[0.1, 0.2], [0.5]])
def test_03(parts, lambdas):
    ks = [1, 2, 4]
    table, fixed, per_problem = fixed_k_sweep(ks, lambdas)
    grids = {"med_lambda": lambdas, "tau": [0.9]}
    block_fixed = paired_drops({k: correct(p=0.9 / k) for k in ks}) if "blocks" in parts else pd.DataFrame()
    if len(block_fixed):
        block_fixed["mean_nfe"], block_fixed["block_size"] = [40.0, 20.0, 10.0], 8
    sfixed = fixed_k_sweep(ks, [0.2])[1] if "sudoku" in parts else pd.DataFrame()
    readings = pd.DataFrame({"tokens_per_step": ks, "conclusion_accuracy": [0.8, 0.6, 0.3], "answer_drop_points": [0.0, -5.0, -20.0],
                             "answer_p_value": [1.0, 0.2, 0.01], "conclusion_drop_points": [0.0, -20.0, -50.0],
                             "conclusion_p_value": [1.0, 0.001, 1e-6]}) if "readings" in parts else pd.DataFrame()
    depth = 3.0 if parts else None
    new = parallel_decoding_headline(table, fixed, per_problem, grids=grids, ks=ks, depth=depth, block_fixed=block_fixed, fixed_k_block_size=8,
                                     sudoku_fixed=sfixed, readings=readings)
    same(new, old_03(table, fixed, per_problem, grids, ks, depth, block_fixed, 8, sfixed, readings))


# --- 04 -------------------------------------------------------------------------------------------


def old_04(table, per_problem, h_ub, correct, regime):
    def row(label):
        """(accuracy, mean NFE) of a configuration, or (None, None) when it was not run."""
        r = table[table["label"] == label]
        return (float(r["accuracy"].iloc[0]), float(r["mean_nfe"].iloc[0])) if len(r) else (None, None)
    acc0, nfe0 = row("entropy k=1")
    acc_me, nfe_me = row("med + exit γ=0.1")
    headline = {"entropy_accuracy": acc0, "entropy_nfe": nfe0, "med_exit_gamma": 0.1 if acc_me is not None else None, "med_exit_accuracy": acc_me,
                "med_exit_nfe": nfe_me, "med_exit_speedup": nfe0 / nfe_me if nfe_me else None,
                "med_exit_accuracy_change_points": 100 * (acc_me - acc0) if acc_me is not None else None,
                "h_ub_final_median_correct": float(np.nanmedian(h_ub[correct, -1])) if correct.any() else None,
                **{f"regime_{k}": v for k, v in regime.items() if k not in ("n_problems", "mean_nfe")}}
    if "med + exit γ=0.1" in per_problem:
        counts = paired_vs_reference(per_problem["entropy k=1"]["correct"], per_problem["med + exit γ=0.1"]["correct"])
        headline.update(med_exit_only_reference=counts["only_reference"], med_exit_only_this=counts["only_this"])
    return headline


@pytest.mark.parametrize("gammas", [[0.1, 1.0], [0.05, 0.5]])
@pytest.mark.parametrize("any_correct", [True, False])
def test_04(gammas, any_correct):
    labels = ["entropy k=1", *[f"entropy + exit γ={g}" for g in gammas], "med λ=0.2", *[f"med + exit γ={g}" for g in gammas]]
    per_problem = {label: correct() for label in labels}
    table = pd.DataFrame({"label": labels, "accuracy": [float(per_problem[label]["correct"].mean()) for label in labels],
                          "mean_nfe": [40.0 - i for i in range(len(labels))]})
    h_ub = RNG.random((30, 12))
    right = per_problem["entropy k=1"]["correct"].to_numpy() & any_correct
    regime = {"n_problems": 30, "mean_nfe": 40.0, "answer_settles_at": 4.5, "name": "computes early", "exit_saves": 0.45}
    same(early_exit_headline(table, per_problem, h_ub, right, regime), old_04(table, per_problem, h_ub, right, regime))


# --- 05 -------------------------------------------------------------------------------------------


def old_05(failures, overall, gain, arms):
    return {"posterior_fraction_correct_on_failures": failures["fraction_correct"], "n_failure_traces": failures.get("n", None),
            "failures_ci_low": failures["ci_low"], "failures_ci_high": failures["ci_high"], "posterior_fraction_correct_overall": overall,
            "filter_gain_keep_0.5": float(gain.loc[gain["keep"] == 0.5, "gain"].iloc[0]) if (gain["keep"] == 0.5).any() else None,
            **{f"finetune_{r.arm}": float(r.accuracy_mean) for r in arms.itertuples()}}


@pytest.mark.parametrize("keeps", [[0.25, 0.5, 1.0], [0.25, 1.0]])
@pytest.mark.parametrize("with_n", [True, False])
def test_05(keeps, with_n):
    failures = {"n_failed_problems": 5, "n_failed_sampled": 5, "fraction_correct": 0.4, "ci_low": 0.2, "ci_high": 0.6, **({"n": 10} if with_n else {})}
    gain = pd.DataFrame({"keep": keeps, "gain": np.linspace(0.1, 0.0, len(keeps))})
    arms = pd.DataFrame({"arm": ["base", "gold", "posterior", "both"], "accuracy_mean": [0.5, 0.6, 0.62, 0.65]})
    same(posterior_headline(failures, 0.55, gain, arms), old_05(failures, 0.55, gain, arms))


# --- 06 -------------------------------------------------------------------------------------------


def old_06(summary, table, problems):
    main = summary[summary["score"] == "answer_loglik"].iloc[0]
    base = summary[summary["score"] == "trace_pll"].iloc[0] if (summary["score"] == "trace_pll").any() else None
    return {"auroc_answer_loglik": float(main["auroc"]), "auroc_low": float(main["auroc_low"]), "auroc_high": float(main["auroc_high"]),
            "localisation_accuracy": float(main["loc_accuracy"]), "localisation_chance": float(main["loc_chance"]),
            "auroc_baseline_trace_pll": float(base["auroc"]) if base is not None else None, "n_problems": len(problems), "n_scored": int(table["uid"].nunique()),
            **per_trace_scores(table, ["answer_loglik", "trace_pll"])}


@pytest.mark.parametrize("scores", [["answer_loglik", "answer_entropy", "trace_pll"], ["answer_loglik"]])
def test_06(scores):
    summary = pd.DataFrame({"score": scores, "auroc": np.linspace(0.9, 0.6, len(scores)), "auroc_low": 0.5, "auroc_high": 0.95,
                            "loc_accuracy": 0.7, "loc_chance": 0.25})
    table = pd.DataFrame({"uid": [3, 1, 2, 3, 1, 2], "kind": ["gold"] * 3 + ["corrupted"] * 3, **{name: RNG.random(6) for name in scores}})
    new = step_scoring_headline(summary, table, 4)
    same(new, old_06(summary, table, range(4)))
    assert new.shown() == {k: v for k, v in old_06(summary, table, range(4)).items() if not k.startswith("scores_")}


def test_a_notebook_shows_a_headline_as_its_summary():
    """A cell ending with a headline shows the dict the notebook's cell showed (IPython's pretty printer)."""
    from IPython.lib.pretty import pretty

    summary = pd.DataFrame({"score": ["answer_loglik"], "auroc": [0.9], "auroc_low": 0.8, "auroc_high": 0.95, "loc_accuracy": 0.7, "loc_chance": 0.25})
    table = pd.DataFrame({"uid": [1, 1], "kind": ["gold", "corrupted"], "answer_loglik": [0.0, -1.0]})
    headline = step_scoring_headline(summary, table, 1)
    assert pretty(headline) == pretty(headline.shown()) and "scores_" not in pretty(headline)
    assert repr(headline).startswith("StepScoringHeadline({'auroc_answer_loglik': 0.9")
