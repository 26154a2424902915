"""The claims table of notebook 07: every claim of the paper, its number, ours, and a verdict.

Each claim is a small function of the notebooks' JSON summaries returning a verdict:
- "holds": our measurement points the way the paper's claim does, beyond the noise;
- "differs": it points the other way beyond the noise, or misses a size the claim states
  (a speed-up, a fraction of correct traces);
- "inconclusive": the difference the claim is about is inside the 95% noise band of our sample;
- "missing": the notebook that measures it did not run.

The noise band of a difference between two accuracies a and b, each measured on the same n
problems, is 1.96·sqrt((a(1-a) + b(1-b)) / n) (normal approximation, treating the two as
independent, which is conservative for paired decodings of the same problems). The fixed-k claims
(Table B), whose notebook decodes the same problems at every k and reports paired p-values, use the
exact McNemar test instead: a difference counts when p < 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

HOLDS, DIFFERS, INCONCLUSIVE, MISSING = "holds", "differs", "inconclusive", "missing"
VERDICTS = (HOLDS, DIFFERS, INCONCLUSIVE, MISSING)


def noise_band(a: float, b: float, n: int) -> float:
    """Half-width of the 95% band of a - b for two accuracies on n problems each."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return 1.96 * math.sqrt((a * (1 - a) + b * (1 - b)) / n)


def compare(a: float, b: float, n: int) -> int:
    """+1 when a > b beyond the noise band, -1 when a < b beyond it, 0 inside it."""
    band = noise_band(a, b, n)
    return 1 if a - b > band else -1 if a - b < -band else 0


def _direction(sign: int) -> str:
    return {1: HOLDS, -1: DIFFERS, 0: INCONCLUSIVE}[sign]


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if pct else f"{value:.3g}"


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    keys: tuple[tuple[str, str], ...]  # (table, key) of every value the verdict reads
    verdict: Callable[..., str]  # values..., n -> verdict
    describe: Callable[..., str]  # values... -> our number in words
    n_table: str = ""  # the table whose n_problems sets the noise band
    inconclusive: str | Callable[..., str] = ""  # why, when the verdict is inconclusive (text, or values..., n -> text;
    # default: the accuracy noise band)


def _not_better(l2r, best, n):
    return DIFFERS if compare(best, l2r, n) > 0 else HOLDS


PAIRED_ALPHA = 0.05


def _both_lose_paired(k1, drop2, drop4, p2, p4, n):
    """Both drops negative with paired p < 0.05: holds; either positive with p < 0.05: differs."""
    pairs = ((drop2, p2), (drop4, p4))
    if all(drop < 0 and p < PAIRED_ALPHA for drop, p in pairs):
        return HOLDS
    return DIFFERS if any(drop > 0 and p < PAIRED_ALPHA for drop, p in pairs) else INCONCLUSIVE


def _both_lose_paired_inconclusive(k1, drop2, drop4, p2, p4, n):
    return f"exact paired McNemar p = {p2:.2g} (k = 2) / {p4:.2g} (k = 4), not both below {PAIRED_ALPHA}, at n = {n} problems"


def _speedup_keeps_accuracy(min_speedup):
    def verdict(speedup, accuracy, reference, n):
        return HOLDS if speedup >= min_speedup and compare(accuracy, reference, n) >= 0 else DIFFERS
    return verdict


def _fraction_at_least(threshold):
    def verdict(fraction, ci_high, n):
        return HOLDS if fraction >= threshold else DIFFERS if ci_high < threshold else INCONCLUSIVE
    return verdict


def _filtering(overall, gain, n):
    """The kept traces' fraction correct against all traces', beyond the noise band of n problems
    (conservative: the kept traces outnumber the problems, but traces of one problem are correlated)."""
    return INCONCLUSIVE if overall == 0 else _direction(compare(overall + gain, overall, n))


def _filtering_inconclusive(overall, gain, n):
    if overall == 0:
        return "no posterior trace is fully correct, so filtering has nothing to select"
    return f"inside the 95% noise band (±{100 * noise_band(overall + gain, overall, n):.1f} points at n = {n} problems)"


def _on_par(gold, posterior, n):
    return DIFFERS if compare(posterior, gold, n) < 0 else HOLDS


def _improves(base, gold, posterior, n):
    return _direction(compare(max(gold, posterior), base, n))


def _best(both, gold, posterior, n):
    return _direction(compare(both, max(gold, posterior), n))


def _auroc(auroc, low, high, n):
    return HOLDS if low > 0.5 else DIFFERS if high < 0.5 else INCONCLUSIVE


def _beats(a, b, n):
    return _direction(compare(a, b, n))


A, S3, S4, S5, S6, S1 = "02_any_order_vs_l2r", "03_parallel_decoding", "04_early_exit", "05_finetuning", "06_step_scoring", "01_training"


def _fixed_k_claim(claim: str, paper: str, prefix: str, solved: str = "") -> Claim:
    """A Table B claim read from notebook 03's ``<prefix>k1_accuracy``, ``<prefix>k{2,4}_drop_points``
    and ``<prefix>k{2,4}_p_value``, judged by the paired test (:func:`_both_lose_paired`)."""
    keys = tuple((S3, f"{prefix}{key}") for key in ("k1_accuracy", "k2_drop_points", "k4_drop_points", "k2_p_value", "k4_p_value"))
    return Claim(claim, paper, keys, _both_lose_paired,
                 lambda k1, d2, d4, p2, p4: f"{d2:+.1f} / {d4:+.1f} points (k = 1: {_fmt(k1, True)}{solved}; paired p = {p2:.2g} / {p4:.2g})",
                 S3, _both_lose_paired_inconclusive)


CLAIMS = [
    Claim("Any-order decoding does not beat left-to-right on math (Table A)", "GSM8K/LLaDA: L2R 76.95 = block 32 76.95",
          ((A, "l2r_accuracy"), (A, "best_any_order_accuracy")), _not_better,
          lambda a, b: f"L2R {_fmt(a, True)}, best any-order {_fmt(b, True)}", A),
    Claim("Whole-canvas any-order decoding hurts (Table A, block 128)", "76.95 → 53.44",
          ((A, "whole_canvas_entropy_accuracy"), (A, "l2r_accuracy")), lambda whole, l2r, n: _direction(compare(l2r, whole, n)),
          lambda whole, l2r: f"L2R {_fmt(l2r, True)} → whole canvas {_fmt(whole, True)}", A),
    Claim("Any-order rules mostly pick near the leftmost mask (§10)", "~50% leftmost, mean distance ~3",
          ((A, "fraction_leftmost"), (A, "mean_distance")), lambda frac, dist, n: HOLDS if frac >= 0.3 else DIFFERS,
          lambda frac, dist: f"{_fmt(frac, True)} leftmost, mean distance {_fmt(dist)}", A),
    Claim("Sudoku: any-order beats left-to-right (Table A)", "LLaDA 36.13 → 47.64",
          ((A, "sudoku_best_any_order"), (A, "sudoku_l2r")), _beats,
          lambda best, l2r: f"L2R {_fmt(l2r, True)} → best any-order {_fmt(best, True)}", A),
    _fixed_k_claim("Fixed 2 / 4 tokens per step lose accuracy (Table B)", "−14.6 / −43.4 points", ""),
    _fixed_k_claim("Fixed 2 / 4 tokens per step lose accuracy, inside semi-autoregressive blocks (Table B's decoding setting)",
                   "−14.6 / −43.4 points", "block_"),
    _fixed_k_claim("Fixed 2 / 4 tokens per step lose accuracy, reading the answer off the written reasoning (Table B reads generated text)",
                   "−14.6 / −43.4 points", "conclusion_"),
    _fixed_k_claim("Fixed 2 / 4 tokens per step lose accuracy, on Sudoku (Table B's effect where decoded cells constrain each other)",
                   "−14.6 / −43.4 points (GSM8K)", "sudoku_", " of puzzles solved"),
    Claim("MED keeps accuracy with ~2.7x fewer steps (Table C)", "256 → 94 NFE, 79.4 → 79.9%",
          ((S3, "med_speedup"), (S3, "med_accuracy"), (S3, "k1_accuracy")), _speedup_keeps_accuracy(2.0),
          lambda sp, acc, k1: f"{sp:.2f}x fewer NFE, {_fmt(k1, True)} → {_fmt(acc, True)}", S3),
    Claim("MED + early exit: ~3.3x fewer steps, −0.1 point (Table C)", "256 → 77 NFE, 79.4 → 79.3%",
          ((S4, "med_exit_speedup"), (S4, "med_exit_accuracy"), (S4, "entropy_accuracy")), _speedup_keeps_accuracy(2.5),
          lambda sp, acc, k1: f"{sp:.2f}x fewer NFE, {_fmt(k1, True)} → {_fmt(acc, True)}", S4),
    Claim("Posterior traces are often correct where free decoding failed (Table D)", "0.36–0.43 of traces",
          ((S5, "posterior_fraction_correct_on_failures"), (S5, "failures_ci_high")), _fraction_at_least(0.2),
          lambda frac, high: f"{_fmt(frac)} of traces fully correct (exact step check; 95% CI up to {_fmt(high)})", S5,
          "the 95% CI of the fraction includes 0.2"),
    Claim("Log-probability filtering improves posterior traces", "+1.4% (appendix)",
          ((S5, "posterior_fraction_correct_overall"), (S5, "filter_gain_keep_0.5")), _filtering,
          lambda overall, gain: f"{gain:+.3f} keeping the top half ({_fmt(overall)} of all traces fully correct)", S5,
          _filtering_inconclusive),
    Claim("Fine-tuning on posterior traces is on par with gold traces (Table E)", "gold 64.6 vs posterior 66.1",
          ((S5, "finetune_gold"), (S5, "finetune_posterior")), _on_par,
          lambda gold, post: f"gold {_fmt(gold, True)} vs posterior {_fmt(post, True)}", S5),
    Claim("Fine-tuning on traces improves the base model (Table E)", "51.2 → 64.6-67.3",
          ((S5, "finetune_base"), (S5, "finetune_gold"), (S5, "finetune_posterior")), _improves,
          lambda base, gold, post: f"base {_fmt(base, True)} → gold {_fmt(gold, True)}, posterior {_fmt(post, True)}", S5),
    Claim("Gold + posterior is best (Table E)", "67.3 vs 64.6 / 66.1",
          ((S5, "finetune_both"), (S5, "finetune_gold"), (S5, "finetune_posterior")), _best,
          lambda both, gold, post: f"both {_fmt(both, True)} vs gold {_fmt(gold, True)} / posterior {_fmt(post, True)}", S5),
    Claim("Step scoring without rollouts separates correct from flawed reasoning", "no number reported",
          ((S6, "auroc_answer_loglik"), (S6, "auroc_low"), (S6, "auroc_high")), _auroc,
          lambda auc, low, high: f"AUROC {_fmt(auc)} (95% CI {_fmt(low)}–{_fmt(high)})", S6,
          "the AUROC's 95% CI includes 0.5 (chance)"),
    Claim("Reasoning helps: the answer-only model is worse (issue 6)", "—",
          ((S1, "exact_answer_accuracy"), (S1, "answer_only_accuracy")), _beats,
          lambda a, b: f"reasoning {_fmt(a, True)} vs answer-only {_fmt(b, True)}", S1),
]


def _note(c: Claim, verdict: str, values: tuple, n: int, summaries: dict) -> str:
    if verdict == INCONCLUSIVE and callable(c.inconclusive):
        return c.inconclusive(*values, n)
    if verdict == INCONCLUSIVE:
        return c.inconclusive or f"inside the 95% noise band (±{100 * noise_band(values[0], values[0], n):.1f} points at n = {n} problems)"
    if verdict == HOLDS and c.verdict in (_not_better, _on_par):  # a claim of no difference holds by not finding one
        return f"no difference beyond the 95% noise band (±{100 * noise_band(values[0], values[1], n):.1f} points at n = {n} problems)"
    if verdict == DIFFERS:
        accuracy = summaries.get(S1, {}).get("exact_answer_accuracy")
        level = f"our model answers {100 * accuracy:.0f}% of 3-step problems" if accuracy is not None else "our model is a tiny MDLM"
        return f"{level}; the paper's LLaDA-8B is at ~80% on GSM8K"
    return ""


def claims_table(summaries: dict) -> pd.DataFrame:
    """One row per claim: claim, paper, ours, verdict, note (why, when it does not hold)."""
    rows = []
    for c in CLAIMS:
        values = tuple(summaries.get(table, {}).get(key) for table, key in c.keys)
        n = summaries.get(c.n_table, {}).get("n_problems")
        if any(v is None for v in values) or not n:
            rows.append({"claim": c.claim, "paper": c.paper, "ours": "not measured", "verdict": MISSING, "note": "its notebook did not write it"})
            continue
        values = tuple(float(v) for v in values)
        verdict = c.verdict(*values, int(n))
        rows.append({"claim": c.claim, "paper": c.paper, "ours": c.describe(*values), "verdict": verdict, "note": _note(c, verdict, values, int(n), summaries)})
    return pd.DataFrame(rows)
