"""The claims registry: every claim of the paper (and our own target, and a check of our model), each
one function that reads the notebooks' records and returns what we measured, the test and a verdict.

:func:`claim` registers a function in :data:`CLAIMS` with the notebook that measures the claim, its
text, the paper's number (printed from :mod:`mdlm_study.core.paper`) and its kind. The function reads
a :class:`~mdlm_study.reporting.study.Study` and returns ``ours``, the ``test`` and the ``verdict`` of
one of the tests of :mod:`mdlm_study.core.verdicts`, whose words ``docs/verdicts.md`` defines; the
claims table (:func:`mdlm_study.reporting.summary.claims_table`) runs them all.

Where a notebook records the paired counts of a comparison (``<prefix>_only_reference`` and
``<prefix>_only_this`` in its summary: ``med``, ``med_exit``, ``best_any_order``, ``med_vs_k<k>``), its
interval is paired; otherwise it is the unpaired, wider one. A decoding claim with the training seeds'
records takes its verdict from the seeds pooled (:func:`decoding_claim`), and says on how many seeds it
holds; a claim measured on one trained model says "1 seed".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from mdlm_study.core import paper
from mdlm_study.core import verdicts as v
from mdlm_study.core.clustered_stats import each_cluster_once_ci
from mdlm_study.core.pooling import paired_auroc_difference
from mdlm_study.experiments.seeds import CLAIM as SEED_CLAIMS
from mdlm_study.experiments.seeds import SPEED_TARGET, TOLERANCE, claim_results
from mdlm_study.experiments.trace_seeds import pooled_interval, trace_claims
from mdlm_study.reporting.study import F5, S1, S3, S4, S5, S6, A, Study
from mdlm_study.training.finetune import ARMS
from mdlm_study.training.finetune_seeds import (
    COMPARISON_WORDS,
    COMPARISONS,
    TRACE_ARMS,
    arm_means,
    better_arm,
    finetune_claims,
)

PAPER_CLAIM, OWN_TARGET, MODEL_CHECK = "the paper's claim", "our own target", "a check of our model"


# ---------------------------------------------------------------------------------------------------
# Decoding claims: the verdict of record from the training seeds


def _seed_results(study: Study, names: tuple[str, ...]) -> list[dict] | None:
    """The seeds study's results (:func:`mdlm_study.experiments.seeds.claim_results`) for the claims ``names`` of
    :data:`mdlm_study.experiments.seeds.CLAIMS`, when every seed record has their decodings; else None."""
    states = list(study.seed_records.values())
    if not states:
        return None
    results = claim_results(states, [SEED_CLAIMS[name] for name in names])
    return None if any(r["missing"] or "pooled" not in r for r in results) else results


def _pooled_text(r: dict) -> str:
    p = r["pooled"]
    text = f"{_pts(p['difference'])} [{_pts(p['low'])}, {_pts(p['high'])}] points"
    if p.get("prediction_low") is not None:
        text += f" (a new seed: {_pts(p['prediction_low'])} to {_pts(p['prediction_high'])}; I² {p['i2']:.2f})"
    if r.get("paper_speedup") or r.get("own"):
        text += f", {p['speedup']:.2f}x fewer NFE ({p['speedup_low']:.2f}–{p['speedup_high']:.2f})"
    return text


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _seed_detail(r: dict) -> str:
    h = r["holding"]
    detail = ", ".join(f"seed {x['seed']}: {x['verdict']} ({_pts(x['difference'])})" for x in r["per_seed"])
    return f"{r['text']}: holds on {h['holding']} of {h['total']} seeds ({detail})"


def _pooled_verdict(results: list[dict], labels: tuple[str, ...] = ()) -> v.Verdict:
    """The verdict of record of one or more seed claims' pooled results: the one, or the least favourable
    of several (:func:`~mdlm_study.core.verdicts.worst`, naming the part by ``labels`` or the claims' texts)."""
    parts = [v.Verdict(r["pooled"]["verdict"], r["pooled"]["reason"], r["pooled"].get("decided_by", "")) for r in results]
    return parts[0] if len(parts) == 1 else v.worst(*parts, labels=list(labels or [r["text"] for r in results]))


def decoding_claim(study: Study, names: tuple[str, ...], run: Callable[[Study], tuple[str, v.Verdict]], *, labels: tuple[str, ...] = ()) -> dict:
    """A decoding claim's row. With the training seeds' records, the verdict of record is each named
    seed claim's pooled verdict (:func:`mdlm_study.experiments.seeds.pooled_result`: random effects over the seeds,
    the claim's own test), the least favourable of them when there are several; the notebook's own,
    smaller run (``run``: its description and the same test's verdict on it) is shown as that run,
    not as a second verdict. Without seed records (another model, a smoke run), the notebook's run is
    the largest evidence and gives the verdict."""
    results = _seed_results(study, names)
    try:
        run_text, run_verdict = run(study)
    except LookupError as missing:
        if results is None:
            raise
        run_text, run_verdict = f"not in this notebook's records ({missing})", None
    if results is None:
        return {"evidence": "this notebook's run", "ours": run_text, "verdict": run_verdict, "run": "", "seeds": "1 seed"}
    verdict = _pooled_verdict(results, labels)
    n_seeds, n = len(results[0]["per_seed"]), results[0]["per_seed"][0]["n"]
    ours = " / ".join(_pooled_text(r) for r in results)
    if run_verdict is not None:
        run_text = f"{run_text} (this run alone: {run_verdict.word})"
    return {"evidence": f"{n_seeds} training seeds × {n:,} problems, pooled (random effects)", "ours": ours, "verdict": verdict,
            "run": run_text, "seeds": "; ".join(_seed_detail(r) for r in results), **deep_regime(study, names, labels)}


def deep_regime(study: Study, names: tuple[str, ...], labels: tuple[str, ...] = ()) -> dict:
    """The same claim in the deep regime (docs/decisions.md, "Two regimes"): the chains recipe's seeds
    (:data:`mdlm_study.experiments.seeds.CHAINS_CLAIMS`, the same tests), pooled the same way, when the study
    holds their records: ``deep_regime`` (the verdict word) and ``deep_ours``; empty when it does not, or
    when the claim has no twin there (our own speed target)."""
    twins = tuple(f"chains_{name}" for name in names)
    results = _seed_results(study, twins) if all(t in SEED_CLAIMS for t in twins) else None
    if results is None:
        return {"deep_regime": "", "deep_ours": ""}
    verdict = _pooled_verdict(results, labels)
    n_seeds, n = len(results[0]["per_seed"]), results[0]["per_seed"][0]["n"]
    return {"deep_regime": verdict.word,
            "deep_ours": f"{' / '.join(_pooled_text(r) for r in results)} ({n_seeds} chains seeds × {n:,} chains)"}


def _trace_results(study: Study) -> dict | None:
    """Every trace measure pooled over the training seeds (:func:`mdlm_study.experiments.trace_seeds.trace_claims`),
    when the study holds the trace records of the seeds; else None."""
    states = [s for s in study.seed_records.values() if "traces" in s]
    return trace_claims(states) if states else None


def trace_claim(study: Study, measure: str, judge: Callable[[v.Interval, dict], tuple[str, v.Verdict]],
                run: Callable[[Study], tuple[str, v.Verdict]]) -> dict:
    """A trace claim's row, as :func:`decoding_claim` for decoding claims: with the training seeds' trace
    records, the verdict of record is ``judge`` on the ``measure`` pooled over the seeds (random effects,
    the seed as the unit), and the notebook's own run (``run``) is shown as that run; without them (another
    model, a smoke run) the notebook's run gives the verdict."""
    results = _trace_results(study)
    run_text, run_verdict = run(study)
    if results is None:
        return {"evidence": "this notebook's run", "ours": run_text, "verdict": run_verdict, "run": "", "seeds": "1 seed"}
    r = results[measure]
    iv = pooled_interval(r)
    text, verdict = judge(iv, r)
    spread = "" if r["prediction_low"] is None else f" (a new seed: {r['prediction_low']:.3f} to {r['prediction_high']:.3f}; I² {r['i2']:.2f})"
    per_seed = ", ".join(f"seed {x['seed']}: {x['estimate']:.3f}" for x in r["per_seed"])
    return {"evidence": f"{r['k']} training seeds × {r['n_problems'] // r['k']:,} problems, pooled (random effects)",
            "ours": f"{text}{spread}", "verdict": verdict,
            "run": f"{run_text} (this run alone: {run_verdict.word})", "seeds": f"per seed ({per_seed})"}


def _judge(name: str, iv95: v.Interval, iv90: v.Interval, speedup: float | None = None) -> v.Verdict:
    return SEED_CLAIMS[name].judge(iv95, iv90, v.speedup_interval([speedup or 1.0]))


# ---------------------------------------------------------------------------------------------------
# The claims

CLAIMS: list[tuple[str, str, str, str, Callable[[Study], dict]]] = []


def claim(notebook: str, text: str, paper: str, kind: str = PAPER_CLAIM):
    """Register a claim: the notebook that measures it, its text, the paper's number, and its kind
    (:data:`PAPER_CLAIM`, :data:`OWN_TARGET` or :data:`MODEL_CHECK`: only the paper's claims count in
    the tally of verdicts)."""
    def register(fn):
        CLAIMS.append((notebook, text, paper, kind, fn))
        return fn
    return register


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# The paper's numbers as the claims print them (mdlm_study.core.paper: GSM8K / LLaDA unless said)
_A, _SUDOKU, _B, _C, _E = paper.TABLE_A_GSM8K, paper.TABLE_A_SUDOKU, paper.TABLE_B_GSM8K, paper.TABLE_C, paper.TABLE_E
_TABLE_B_KS = tuple(k for k in _B if k != 1)  # Table B's k > 1


def _paper_pct(x: float) -> str:
    return f"{paper.percent(x):g}%"


def _paper_points(x: float) -> str:
    return f"{100 * x:+.1f}".replace("-", "−")


def _table_c(rule: str) -> str:
    """A Table C row against one token per step: both NFE, the speed-up, both accuracies."""
    row = _C.rule(rule)
    return (f"{_C.entropy.nfe} → {row.nfe} NFE ({_C.speedup(rule):.2f}x), {_paper_pct(_C.entropy.accuracy)} → "
            f"{_paper_pct(row.accuracy)}")


def _counts(s: Study, table: str, prefix: str) -> tuple[int, int] | None:
    """The paired discordant counts a notebook recorded as ``<prefix>_only_reference`` and
    ``<prefix>_only_this`` (problems right only under the reference / only under this decoding), if any."""
    found = s.summaries.get(table, {})
    keys = (f"{prefix}_only_reference", f"{prefix}_only_this")
    return (int(found[keys[0]]), int(found[keys[1]])) if all(found.get(k) is not None for k in keys) else None


def _intervals(n: int, reference: float, this: float, counts=None, p_value=None) -> tuple[v.Interval, v.Interval]:
    """The notebook run's 95% and 90% intervals of ``this - reference`` (paired when the records allow)."""
    return (v.recorded_difference(n, reference, this, p_value, counts),
            v.recorded_difference(n, reference, this, p_value, counts, level=v.TOST_LEVEL))


def _reasoning_helps_run(s: Study) -> tuple[str, v.Verdict]:
    exact, answer_only, n = s.get(S1, "exact_answer_accuracy"), s.get(S1, "answer_only_accuracy"), s.n(S1)
    return f"reasoning {_pct(exact)} vs answer-only {_pct(answer_only)} (n = {n})", v.direction(v.unpaired_difference(answer_only, n, exact, n))


@claim("01", "Reasoning helps: the answer-only model is worse", "—", MODEL_CHECK)
def _reasoning_helps(s: Study) -> dict:
    """Each seed's left-to-right decoding against its answer-only twin's on the same problems, pooled
    (:data:`mdlm_study.experiments.seeds.MODEL_CHECKS`); notebook 01's run (unpaired) is shown as that run."""
    return {"test": "direction", **decoding_claim(s, ("reasoning_helps",), _reasoning_helps_run)}


def _any_order_run(s: Study) -> tuple[str, v.Verdict]:
    l2r, best, n = s.get(A, "l2r_accuracy"), s.get(A, "best_any_order_accuracy"), s.n(A)
    name = s.summaries[A].get("best_any_order", "best any-order")
    iv95, iv90 = _intervals(n, l2r, best, _counts(s, A, "best_any_order"))
    text = f"L2R {_pct(l2r)}, the best of the any-order configurations ({name}, chosen on these problems: biased up) {_pct(best)} (n = {n})"
    return text, _judge("entropy_blocks8_vs_l2r", iv95, iv90)


@claim("02", "Any-order decoding does not beat left-to-right on math (Table A)",
       f"GSM8K / LLaDA: L2R {_paper_pct(_A.l2r)} = block 32 {_paper_pct(_A.block_32)}")
def _any_order_not_better(s: Study) -> dict:
    return {"test": "equivalence (TOST)", **decoding_claim(s, ("entropy_blocks8_vs_l2r",), _any_order_run)}


def _whole_canvas_run(s: Study) -> tuple[str, v.Verdict]:
    l2r, whole, n = s.get(A, "l2r_accuracy"), s.get(A, "whole_canvas_entropy_accuracy"), s.n(A)
    iv95, iv90 = _intervals(n, l2r, whole)
    return f"L2R {_pct(l2r)} → entropy over the whole canvas {_pct(whole)} (n = {n})", _judge("entropy_vs_l2r", iv95, iv90)


@claim("02", "Whole-canvas any-order decoding hurts (Table A, block 128)",
       f"GSM8K / LLaDA: {_paper_pct(_A.l2r)} → {_paper_pct(_A.block_128)} ({_paper_points(_A.block_128 - _A.l2r)} points)")
def _whole_canvas_hurts(s: Study) -> dict:
    return {"test": "effect ratio", **decoding_claim(s, ("entropy_vs_l2r",), _whole_canvas_run)}


def _leftmost_verdict(iv: v.Interval, distance: float, n: int) -> v.Verdict:
    target = paper.LEFTMOST
    verdict = v.against_value(iv, target.fraction * (1 - v.APPROXIMATE), target.fraction * (1 + v.APPROXIMATE))
    return v.Verdict(verdict.word, f"{verdict.reason}; the paper's ~{100 * target.fraction:.0f}% read as ±{100 * v.APPROXIMATE:.0f}%, the "
                                   f"interval over the {n} problems, each problem's commits counted as one observation; mean distance "
                                   f"{distance:.2f} tokens against ~{target.mean_distance:g}; decoded over the whole canvas with the answer slot "
                                   "among the candidates, unlike the accuracy sweep")


def _leftmost_run(s: Study) -> tuple[str, v.Verdict]:
    frac, dist, n = s.get(A, "fraction_leftmost"), s.get(A, "mean_distance"), s.n(A)
    return f"{_pct(frac)} leftmost, mean distance {dist:.2f} tokens", _leftmost_verdict(v.wilson(frac, n), dist, n)


def _leftmost_pooled(iv: v.Interval, r: dict) -> tuple[str, v.Verdict]:
    distance = sum(x["mean_distance"] for x in r["per_seed"]) / r["k"]
    return (f"{_pct(iv.estimate)} [{_pct(iv.low)}, {_pct(iv.high)}] leftmost, mean distance {distance:.2f} tokens",
            _leftmost_verdict(iv, distance, r["units"]))


@claim("02", "Any-order rules mostly commit the leftmost mask (the paper's analysis)",
       f"~{100 * paper.LEFTMOST.fraction:.0f}% leftmost, mean distance ~{paper.LEFTMOST.mean_distance:g} tokens (block {paper.BLOCK_SIZE})")
def _leftmost(s: Study) -> dict:
    return {"test": "paper's range", **trace_claim(s, "leftmost", _leftmost_pooled, _leftmost_run)}


def _sudoku_run(s: Study) -> tuple[str, v.Verdict]:
    l2r, best, n = s.get(A, "sudoku_l2r"), s.get(A, "sudoku_best_any_order"), s.n(A)
    verdict = v.against_effect(v.unpaired_difference(l2r, n, best, n), _SUDOKU.block_128 - _SUDOKU.l2r)
    return (f"L2R {_pct(l2r)} → the best of the any-order configurations (chosen on these puzzles: biased up) {_pct(best)} "
            f"of puzzles solved (n = {n})", verdict)


@claim("02", "Sudoku: any-order beats left-to-right (Table A)",
       f"Sudoku / LLaDA: L2R {_paper_pct(_SUDOKU.l2r)} → block 128 {_paper_pct(_SUDOKU.block_128)} "
       f"({_paper_points(_SUDOKU.block_128 - _SUDOKU.l2r)} points)")
def _sudoku(s: Study) -> dict:
    return {"test": "effect ratio", **decoding_claim(s, ("sudoku_any_order",), _sudoku_run)}


def _fixed_k_run(s: Study, prefix: str) -> tuple[str, v.Verdict]:
    n, k1 = s.n(S3), s.get(S3, f"{prefix}k1_accuracy")
    parts, drops = [], []
    for k in _TABLE_B_KS:
        drop, p = s.get(S3, f"{prefix}k{k}_drop_points") / 100, s.get(S3, f"{prefix}k{k}_p_value")
        parts.append(v.against_effect(v.recorded_difference(n, k1, k1 + drop, p), paper.fixed_k_drop(k)))
        drops.append(f"{100 * drop:+.1f}")
    ks = " / ".join(map(str, _TABLE_B_KS))
    return f"k = {ks}: {' / '.join(drops)} points against k = 1 ({_pct(k1)}; n = {n})", v.worst(*parts, labels=[f"k = {k}" for k in _TABLE_B_KS])


for _prefix, _setting, _names in (("", "answer slot, whole canvas", ("fixed_k2", "fixed_k4")),
                                  ("block_", "answer slot, blocks of 8 (Table B's setting)", ("fixed_k2_blocks8", "fixed_k4_blocks8")),
                                  ("conclusion_", "the written reasoning's conclusion", ("conclusion_fixed_k2", "conclusion_fixed_k4"))):
    def _fixed(s: Study, prefix=_prefix, names=_names) -> dict:
        return {"test": "effect ratio", **decoding_claim(s, names, lambda st: _fixed_k_run(st, prefix), labels=("k = 2", "k = 4"))}
    claim("03", f"Fixed k = 2 / 4 lose accuracy (Table B): {_setting}",
          f"GSM8K / LLaDA: {' / '.join(_paper_points(paper.fixed_k_drop(k)) for k in _TABLE_B_KS)} points")(_fixed)


def _sudoku_exception_run(s: Study) -> tuple[str, v.Verdict]:
    n, k1 = s.n(S3), s.get(S3, "sudoku_k1_accuracy")
    drop2, p2 = s.get(S3, "sudoku_k2_drop_points") / 100, s.get(S3, "sudoku_k2_p_value")
    iv95, iv90 = _intervals(n, k1, k1 + drop2, p_value=p2)
    drop4 = s.get(S3, "sudoku_k4_drop_points")
    return f"k = 2: {100 * drop2:+.1f} points against k = 1 ({_pct(k1)} of puzzles; n = {n}); k = 4: {drop4:+.1f}", v.no_loss(iv95, iv90, denied=-1)


@claim("03", "Sudoku is the exception: two tokens per step do not hurt", "\"except for Sudoku\", k = 2 causes a significant drop (no number)")
def _sudoku_exception(s: Study) -> dict:
    return {"test": "equivalence (TOST)", **decoding_claim(s, ("sudoku_fixed_k2",), _sudoku_exception_run)}


def _med_run(s: Study) -> tuple[str, v.Verdict]:
    k1, med, n, speedup = s.get(S3, "k1_accuracy"), s.get(S3, "med_accuracy"), s.n(S3), s.get(S3, "med_speedup")
    iv95, iv90 = _intervals(n, k1, med, _counts(s, S3, "med"))
    return f"{speedup:.2f}x fewer NFE, {_pct(k1)} → {_pct(med)} (n = {n})", _judge("med_vs_entropy", iv95, iv90, speedup)


@claim("03", f"MED keeps accuracy with ~{_C.speedup('med'):.1f}x fewer steps (Table C)", _table_c("med"))
def _med_keeps(s: Study) -> dict:
    return {"test": "equivalence (TOST) and speed-up", **decoding_claim(s, ("med_vs_entropy",), _med_run)}


def _med_vs_k2_run(s: Study) -> tuple[str, v.Verdict]:
    n, med, nfe1 = s.n(S3), s.get(S3, "med_accuracy"), s.get(S3, "k1_nfe")
    fixed = s.get(S3, "k1_accuracy") + s.get(S3, "k2_drop_points") / 100
    iv95, iv90 = _intervals(n, fixed, med, _counts(s, S3, "med_vs_k2"))
    return (f"MED {_pct(med)} at {s.get(S3, 'med_nfe'):.1f} NFE vs fixed k = 2 {_pct(fixed)} at {nfe1 / 2:.1f} NFE (n = {n})",
            _judge("med_vs_fixed_k2", iv95, iv90))


@claim("03", "MED beats fixed k = 2 (Tables B, C)", f"MED {_paper_pct(_C.med.accuracy)} at {_C.med.nfe} NFE; k = 2 {_paper_pct(_B[2])} at "
       f"{paper.GEN_LENGTH // 2} NFE ({_paper_points(_C.med.accuracy - _B[2])} points)")
def _med_vs_fixed_k(s: Study) -> dict:
    return {"test": "effect ratio", **decoding_claim(s, ("med_vs_fixed_k2",), _med_vs_k2_run)}


def _not_in_notebook(what: str) -> Callable[[Study], tuple[str, v.Verdict]]:
    def run(s: Study) -> tuple[str, v.Verdict]:
        raise LookupError(f"{what} is measured by the seeds study only")
    return run


@claim("04", f"Early exit alone keeps accuracy with ~{_C.speedup('exit'):.1f}x fewer steps (Table C)", _table_c("exit"))
def _exit_alone(s: Study) -> dict:
    return {"test": "equivalence (TOST) and speed-up", **decoding_claim(s, ("entropy_exit",), _not_in_notebook("entropy k = 1 + exit"))}


def _med_exit_run(s: Study) -> tuple[str, v.Verdict]:
    ref, acc, n, speedup = s.get(S4, "entropy_accuracy"), s.get(S4, "med_exit_accuracy"), s.n(S4), s.get(S4, "med_exit_speedup")
    iv95, iv90 = _intervals(n, ref, acc, _counts(s, S4, "med_exit"))
    return f"{speedup:.2f}x fewer NFE, {_pct(ref)} → {_pct(acc)} (n = {n})", _judge("med_exit", iv95, iv90, speedup)


@claim("04", f"MED + early exit: ~{_C.speedup('med_exit'):.1f}x fewer steps at {_paper_points(_C.change('med_exit'))} point (Table C)",
       _table_c("med_exit"))
def _med_exit(s: Study) -> dict:
    return {"test": "equivalence (TOST) and speed-up", **decoding_claim(s, ("med_exit",), _med_exit_run)}


SPEED_TARGET_CLAIMS = tuple(c.name for c in SEED_CLAIMS.values() if c.own)  # every candidate rule, transferred and own


@claim("04", f"MED + exit reaches ≥ {SPEED_TARGET:g}x fewer NFE within {100 * TOLERANCE:g} point, under every candidate setting rule",
       f"{_table_c('med_exit')} (one model)", OWN_TARGET)
def _speed_target(s: Study) -> dict:
    return {"test": "speed target, every candidate rule", **decoding_claim(s, SPEED_TARGET_CLAIMS, _not_in_notebook("the speed target"))}


TABLE_D_PRECISION = 0.05  # Table D's fraction is pinned down when its 95% interval is within ±5 points


def table_d_interval(fraction: float, problems: int) -> v.Interval:
    """Table D's interval: the traces' fraction with each of the ``problems`` counted once (the worst case
    of their correlation, :func:`~mdlm_study.core.clustered_stats.each_cluster_once_ci`), the interval
    :func:`~mdlm_study.experiments.posterior.posterior_on_failures` records for notebook 05's headline."""
    low, high = each_cluster_once_ci(fraction, problems)
    return v.Interval(fraction, low, high, f"Wilson, each of the {problems} problems counted once")


def table_d_problems_needed(precision: float = TABLE_D_PRECISION) -> int:
    """The problems (each counted once) a 95% interval of ±``precision`` needs in the worst case, p = 1/2."""
    if not 0 < precision < 1:
        raise ValueError(f"precision must be in (0, 1), got {precision!r}")
    return math.ceil(0.25 * v.stats._z(v.LEVEL) ** 2 / precision**2)


def _table_d_size(iv: v.Interval, problems: int, word: str) -> str:
    """How the sample's size bears on Table D's verdict ``word``: the interval's half-width against the
    precision, and whether an interval that wide still decides (it does when clear of the paper's range)."""
    half = (iv.high - iv.low) / 2
    if half <= TABLE_D_PRECISION:
        return f"±{100 * half:.0f} points on {problems} problems pins the fraction down (±{100 * TABLE_D_PRECISION:.0f} asked)"
    size = (f"±{100 * half:.0f} points on {problems} problems is too wide to pin the fraction down: ±{100 * TABLE_D_PRECISION:.0f} "
            f"would need about {table_d_problems_needed()} problems")
    return size if word == v.INCONCLUSIVE else f"{size}, but the interval lies clear of the paper's range, so it decides all the same"


def _table_d_verdict(iv: v.Interval, traces: int, problems: int) -> v.Verdict:
    verdict = v.against_value(iv, paper.TABLE_D.low, paper.TABLE_D.high, precision=TABLE_D_PRECISION)
    return v.Verdict(verdict.word, f"{verdict.reason}; the {traces} traces come from {problems} problems, so the interval counts each "
                                   f"problem once (the worst case of their correlation); {_table_d_size(iv, problems, verdict.word)}")


def _posterior_run(s: Study) -> tuple[str, v.Verdict]:
    frac, traces, problems = s.get(F5, "fraction_correct"), s.n(F5, "n"), s.n(F5, "n_failed_sampled")
    return (f"{frac:.3f} of {traces} traces fully correct (exact step check, {problems} problems)",
            _table_d_verdict(table_d_interval(frac, problems), traces, problems))


def _posterior_pooled(iv: v.Interval, r: dict) -> tuple[str, v.Verdict]:
    traces = sum(x["n_traces"] for x in r["per_seed"])
    return (f"{iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}] of {traces} traces fully correct ({r['units']} failed problems)",
            _table_d_verdict(iv, traces, r["units"]))


@claim("05", "Posterior traces are often correct where free decoding failed (Table D)",
       f"{paper.TABLE_D.low:g}–{paper.TABLE_D.high:g} of traces (GPT-4o judge)")
def _posterior(s: Study) -> dict:
    """*inconclusive* when the interval overlaps the paper's range but is wider than :data:`TABLE_D_PRECISION`;
    an interval clear of the range decides (smaller or larger) whatever its width."""
    return {"test": "paper's range", **trace_claim(s, "table_d", _posterior_pooled, _posterior_run)}


def _filtering_run(s: Study) -> tuple[str, v.Verdict]:
    overall, gain, n = s.get(S5, "posterior_fraction_correct_overall"), s.get(S5, "filter_gain_keep_0.5"), s.n(S5)
    verdict = v.against_effect(v.unpaired_difference(overall, n, overall + gain, n), paper.FILTERING_GAIN)
    return f"{100 * gain:+.1f} points keeping the top half ({overall:.3f} of all traces fully correct; {n} problems)", verdict


def _filtering_pooled(iv: v.Interval, r: dict) -> tuple[str, v.Verdict]:
    overall = sum(x["overall"] for x in r["per_seed"]) / r["k"]
    return (f"{100 * iv.estimate:+.1f} [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}] points keeping the top half (all traces: {overall:.3f} fully correct; "
            f"{r['units']} problems)", v.against_effect(iv, paper.FILTERING_GAIN))


@claim("05", "Log-probability filtering improves posterior traces (appendix)", f"{_paper_points(paper.FILTERING_GAIN)} points")
def _filtering(s: Study) -> dict:
    return {"test": "effect ratio", **trace_claim(s, "filtering_gain", _filtering_pooled, _filtering_run)}


def _arms(s: Study) -> tuple[dict, str]:
    """Each fine-tuning arm's per-seed accuracies (from the CSV; the summary's means when it is absent)."""
    if S5 in s.tables:
        runs = s.tables[S5]
        n_seeds = int((runs["seed"].drop_duplicates() >= 0).sum())
        return {arm: list(rows["accuracy"]) for arm, rows in runs.groupby("arm", sort=False)}, f"means of {n_seeds} fine-tuning seeds"
    return {arm: [s.get(S5, f"finetune_{arm}")] for arm in ("base", "gold", "posterior", "both")}, "seed spread not recorded"


def _arm_seeds(s: Study, judge: Callable[[dict, int], v.Verdict]) -> str:
    """On how many fine-tuning seeds ``judge`` (arm -> that seed's accuracy, n) holds; the base model has no seed."""
    if S5 not in s.tables:
        return "1 seed"
    runs, n = s.tables[S5], s.n(S5)
    base = float(runs.loc[runs["arm"] == "base", "accuracy"].iloc[0])
    seeds = sorted(int(x) for x in runs["seed"].unique() if x >= 0)
    words = []
    for seed in seeds:
        rows = runs[runs["seed"] == seed]
        words.append(judge({"base": base, **dict(zip(rows["arm"], rows["accuracy"].astype(float), strict=True))}, n).word)
    return f"holds on {sum(w in v.HOLDING for w in words)} of {len(seeds)} fine-tuning seeds ({', '.join(words)})"


def _on_par(acc: dict, n: int) -> v.Verdict:
    return v.no_loss(v.unpaired_difference(acc["gold"], n, acc["posterior"], n),
                     v.unpaired_difference(acc["gold"], n, acc["posterior"], n, level=v.TOST_LEVEL), denied=-1)


_GAIN = {arm: _E[arm] - _E["base"] for arm in TRACE_ARMS}  # Table E: fine-tuning's gain over the base model
_BOTH_GAIN = _E["both"] - max(_E[arm] for arm in TRACE_ARMS)  # Table E: both traces over the better arm


def _improves(acc: dict, n: int) -> v.Verdict:
    return v.worst(*(v.against_effect(v.unpaired_difference(acc["base"], n, acc[arm], n), _GAIN[arm]) for arm in TRACE_ARMS),
                   labels=list(TRACE_ARMS))


def _both_best(acc: dict, n: int) -> v.Verdict:
    best = max(TRACE_ARMS, key=lambda arm: acc[arm])
    return v.against_effect(v.unpaired_difference(acc[best], n, acc["both"], n), _BOTH_GAIN)


# Table E's judges on one comparison's interval (95%, 90%): the same for a training seed and for the pooled seeds
def _on_par_judge(iv95: v.Interval, iv90: v.Interval) -> v.Verdict:
    return v.no_loss(iv95, iv90, denied=-1)


def _gain_judge(arm: str) -> Callable[[v.Interval, v.Interval], v.Verdict]:
    return lambda iv95, iv90: v.against_effect(iv95, _GAIN[arm])


def _both_judge(iv95: v.Interval, iv90: v.Interval) -> v.Verdict:
    return v.against_effect(iv95, _BOTH_GAIN)


def _finetune_results(study: Study) -> dict | None:
    """Table E's comparisons pooled over the training seeds (:func:`mdlm_study.training.finetune_seeds.finetune_claims`),
    when the study holds the seeds' fine-tuning records; else None."""
    states = [s for s in study.seed_records.values() if "finetune" in s]
    return finetune_claims(states) if states else None


def _intervals_of(entry: dict, critical90: float | None = None) -> tuple[v.Interval, v.Interval]:
    return (v.Interval(entry["estimate"], entry["low"], entry["high"], entry.get("method", "normal"), v.LEVEL, entry.get("critical")),
            v.Interval(entry["estimate"], entry["low90"], entry["high90"], entry.get("method", "normal"), v.TOST_LEVEL, critical90))


def _points(entry: dict) -> str:
    return f"{100 * entry['estimate']:+.1f} [{100 * entry['low']:+.1f}, {100 * entry['high']:+.1f}] points"


def finetune_claim(study: Study, judges: Mapping[str, Callable[[v.Interval, v.Interval], v.Verdict]], run: Callable[[Study], dict]) -> dict:
    """A Table E claim's row, as :func:`trace_claim`: with the training seeds' fine-tuning records
    (``benchmarks/bench_finetune_seeds.py``), the verdict of record is the worst of ``judges`` (comparison ->
    judge) on the comparisons pooled over the seeds, the same judges give each seed's verdict, and the
    notebook's own run (``run``) is shown as that run; without them, the notebook's run gives the verdict."""
    own = run(study)
    results = _finetune_results(study)
    if results is None:
        return own
    labels = [COMPARISON_WORDS[name] for name in judges]
    verdict = v.worst(*(judge(*_intervals_of(results[name], results[name]["critical90"])) for name, judge in judges.items()), labels=labels)
    first = results[next(iter(judges))]
    k, n = first["k"], first["n_problems"] // first["k"]
    per_seed = [v.worst(*(judge(*_intervals_of(results[name]["per_seed"][i])) for name, judge in judges.items()), labels=labels).word
                for i in range(k)]
    named = {arm for name in judges for arm in COMPARISONS[name]}  # the arms the comparisons name (the better arm varies by seed)
    involved = [arm for arm in ("base", *ARMS) if arm in named]
    arms = ", ".join(f"{arm} {_pct(sum(a[arm] for a in results['arms'].values()) / k)}" for arm in involved)
    spread = "; ".join(f"{COMPARISON_WORDS[name]}: {_points(results[name])}" for name in judges)  # a new seed's range: docs/seeds.md
    return {"evidence": f"{k} training seeds × {n:,} problems, pooled (random effects)", "ours": f"{spread} (means over seeds: {arms})",
            "verdict": verdict, "test": own["test"], "run": f"{own['ours']} (this run alone: {own['verdict'].word})",
            "seeds": f"holds on {sum(w in v.HOLDING for w in per_seed)} of {k} training seeds ({', '.join(per_seed)})"}


@claim("05", "Fine-tuning on posterior traces is on par with gold traces (Table E)",
       f"gold {_paper_pct(_E['gold'])} vs posterior {_paper_pct(_E['posterior'])}")
def _finetune_on_par(s: Study) -> dict:
    return finetune_claim(s, {"on_par": _on_par_judge}, _on_par_run)


def _run_arms(s: Study) -> tuple[dict, str, int, dict]:
    """Notebook 05's run: each arm's accuracies per fine-tuning seed, how many seeds, the problems, each arm's mean."""
    arms, seeds = _arms(s)
    return arms, seeds, s.n(S5), arm_means(arms)


def _on_par_run(s: Study) -> dict:
    arms, seeds, n, mean = _run_arms(s)
    iv95, iv90 = (v.seeded_difference(arms["gold"], arms["posterior"], n, level=level) for level in (v.LEVEL, v.TOST_LEVEL))
    return {"ours": f"gold {_pct(mean['gold'])} vs posterior {_pct(mean['posterior'])} ({seeds}, n = {n})", "test": "equivalence (TOST)",
            "verdict": _on_par_judge(iv95, iv90), "seeds": _arm_seeds(s, _on_par)}


@claim("05", "Fine-tuning on traces improves the base model (Table E)",
       f"{_paper_pct(_E['base'])} → " + ", ".join(f"{arm} {_paper_pct(_E[arm])} ({_paper_points(_GAIN[arm])})"
                                                  for arm in TRACE_ARMS))
def _finetune_improves(s: Study) -> dict:
    return finetune_claim(s, {f"gain_{arm}": _gain_judge(arm) for arm in TRACE_ARMS}, _improves_run)


def _improves_run(s: Study) -> dict:
    arms, seeds, n, mean = _run_arms(s)
    parts = [v.against_effect(v.seeded_difference(arms["base"], arms[arm], n), _GAIN[arm]) for arm in TRACE_ARMS]
    return {"ours": f"base {_pct(mean['base'])} → gold {_pct(mean['gold'])}, posterior {_pct(mean['posterior'])} ({seeds}, n = {n})",
            "test": "effect ratio", "verdict": v.worst(*parts, labels=["gold", "posterior"]), "seeds": _arm_seeds(s, _improves)}


@claim("05", "Gold + posterior traces together are best (Table E)",
       f"{_paper_pct(_E['both'])} vs {' / '.join(_paper_pct(_E[arm]) for arm in TRACE_ARMS)} ({_paper_points(_BOTH_GAIN)} over the better arm)")
def _finetune_both(s: Study) -> dict:
    return finetune_claim(s, {"both_over_better": _both_judge}, _both_run)


def _both_run(s: Study) -> dict:
    arms, seeds, n, mean = _run_arms(s)
    best = better_arm(arms)
    verdict = v.against_effect(v.seeded_difference(arms[best], arms["both"], n), _BOTH_GAIN)
    return {"ours": f"both {_pct(mean['both'])} vs {best} {_pct(mean[best])} ({seeds}, n = {n})", "test": "effect ratio", "verdict": verdict,
            "seeds": _arm_seeds(s, _both_best)}


def _score_row(s: Study, score: str) -> pd.Series:
    rows = s.table(S6)
    if score not in set(rows["score"]):
        raise LookupError(f"06_step_scoring.csv has no {score!r} row")
    return rows[rows["score"] == score].iloc[0]


def _baseline_sentence(s: Study, main: str, baseline: str) -> str:
    """The comparison with the baseline score on the same traces: DeLong's paired test when the notebook
    recorded per-trace scores (``scores_<name>_gold`` / ``scores_<name>_corrupted`` in its summary), else
    the baseline's AUROC with the reason no test is made (two separate intervals are not a test)."""
    found = s.summaries.get(S6, {})
    keys = [f"scores_{name}_{side}" for name in (baseline, main) for side in ("gold", "corrupted")]
    if all(isinstance(found.get(k), list) for k in keys):
        r = paired_auroc_difference(*(found[k] for k in keys))
        return (f"against the {baseline} baseline on the same traces (DeLong, paired): {r['difference']:+.3f} "
                f"({r['low']:+.3f} to {r['high']:+.3f}), p = {r['p_value']:.3g}")
    base = found.get(f"auroc_baseline_{baseline}")
    shown = f" {float(base):.3f}" if base is not None else ""
    return f"the {baseline} baseline's AUROC{shown} on the same traces is not compared: per-trace scores, needed for a paired test, were not recorded"


def _auroc_run(s: Study) -> tuple[str, v.Verdict]:
    ours = v.Interval(s.get(S6, "auroc_answer_loglik"), s.get(S6, "auroc_low"), s.get(S6, "auroc_high"), "bootstrap")
    n = s.n(S6, "n_scored")
    return (f"AUROC {ours.estimate:.3f} ({ours.low:.3f}–{ours.high:.3f}) on {n} gold and {n} corrupted traces",
            v.above_chance(ours, chance=0.5, baseline=_baseline_sentence(s, "answer_loglik", "trace_pll")))


@claim("06", "Step scoring tells correct from flawed traces", "no number reported")
def _auroc(s: Study) -> dict:
    def pooled(iv: v.Interval, r: dict) -> tuple[str, v.Verdict]:
        return (f"AUROC {iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}] on {r['units']} gold and {r['units']} corrupted traces",
                v.above_chance(iv, chance=0.5, baseline=_baseline_sentence(s, "answer_loglik", "trace_pll")))
    return {"test": "chance", **trace_claim(s, "auroc", pooled, _auroc_run)}


def _localisation_run(s: Study) -> tuple[str, v.Verdict]:
    main = _score_row(s, "answer_loglik")
    ours = v.Interval(float(main["loc_accuracy"]), float(main["loc_low"]), float(main["loc_high"]), "Wilson")
    return (f"first wrong step found in {_pct(ours.estimate)} ({_pct(ours.low)}–{_pct(ours.high)}) of {s.n(S6, 'n_scored')} corrupted traces",
            v.above_chance(ours, chance=float(main["loc_chance"])))


def _localisation_pooled(iv: v.Interval, r: dict) -> tuple[str, v.Verdict]:
    return (f"first wrong step found in {_pct(iv.estimate)} [{_pct(iv.low)}, {_pct(iv.high)}] of {r['units']} corrupted traces",
            v.above_chance(iv, chance=r["chance"]))


@claim("06", "Step scores locate the first wrong step", "no number reported")
def _localisation(s: Study) -> dict:
    return {"test": "chance", **trace_claim(s, "localisation", _localisation_pooled, _localisation_run)}
