"""The claims table: every claim of the paper, the paper's number, ours with its interval, a verdict.

One function per claim reads the notebooks' records (:class:`Study`: the JSON summaries, the CSV
tables, and optionally per-seed decoding records) and returns a row; the verdict comes from one of
the tests of :mod:`mdlm_study.verdicts`, whose words ``docs/verdicts.md`` defines. Notebook 07's
table, each notebook's conclusion cell (:mod:`mdlm_study.conclusions`) and ``docs/results.md`` are
all this table, so they cannot disagree.

Where a notebook records the paired counts of a comparison (``<prefix>_only_reference`` and
``<prefix>_only_this`` in its summary: ``med``, ``med_exit``, ``best_any_order``, ``med_vs_k<k>``), its
interval is paired; otherwise it is the unpaired, wider one. A claim whose inputs are not recorded is *missing*; a claim measured on one trained model says
"1 seed", and one with per-seed records says on how many seeds it holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mdlm_study import verdicts as v
from mdlm_study.seeds import (
    PAPER_TABLE_A,
    PAPER_TABLE_B,
    SPEED_TARGET,
    TOLERANCE,
    TRANSFERRED,
    claim_records,
    discordant,
    unbits,
)

TABLES = ("01_training", "02_any_order_vs_l2r", "03_parallel_decoding", "04_early_exit", "05_finetuning", "05_filtering", "06_step_scoring")
S1, A, S3, S4, S5, F5, S6 = TABLES
COLUMNS = ("notebook", "claim", "paper", "ours", "test", "verdict", "reason", "seeds", "pooled")


@dataclass
class Study:
    """What the claims read: ``summaries`` (table name -> the JSON summary a notebook wrote), ``tables``
    (table name -> its CSV) and ``seed_records`` (a label such as "seed 1" -> the decoding records of
    one training seed, ``benchmarks/bench_decoding.py``'s format or :func:`mdlm_study.seeds.claim_records`')."""

    summaries: dict
    tables: dict = field(default_factory=dict)
    seed_records: dict = field(default_factory=dict)

    def get(self, table: str, key: str) -> float:
        value = self.summaries.get(table, {}).get(key)
        if value is None:
            raise LookupError(f"{table}.json has no {key!r}")
        return float(value)

    def n(self, table: str, key: str = "n_problems") -> int:
        return int(self.get(table, key))

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise LookupError(f"no table {name}.csv")
        return self.tables[name]


def load_study(out_dir: str | Path, seed_records: dict[str, str | Path] | None = None, *, tables: tuple[str, ...] = TABLES) -> Study:
    """The summaries and CSVs of ``tables`` under ``<out_dir>/figures/tables`` (those that exist), and
    the decoding records of ``seed_records`` (label -> path: a ``benchmarks/bench_decoding.py`` record,
    or a ``benchmarks/bench_seeds.py`` seed record, read with :func:`mdlm_study.seeds.claim_records`)."""
    from mdlm_study.figures import load_summary  # deferred: figures loads matplotlib

    folder = Path(out_dir) / "figures" / "tables"
    summaries = {name: load_summary(name, out_dir) for name in tables if (folder / f"{name}.json").exists()}
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in tables if (folder / f"{name}.csv").exists()}
    records = {}
    for label, path in (seed_records or {}).items():
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and "decodings" in data:
            records[label] = claim_records(data)
        else:
            records[label] = data["records"] if isinstance(data, dict) else data
    return Study(summaries, frames, records)


# ---------------------------------------------------------------------------------------------------
# Per-seed records


def _record(records: list[dict], sampler: str, *, k: int = 1, med_lambda=None, exit_gamma=None, block_size=None) -> dict:
    for r in records:
        if (r.get("sampler"), r.get("tokens_per_step", 1), r.get("med_lambda"), r.get("exit_gamma"), r.get("block_size")) == (
                sampler, k, med_lambda, exit_gamma, block_size):
            return r
    raise LookupError(f"no record for {sampler} k={k} λ={med_lambda} γ={exit_gamma} block={block_size}")


def _paired(record: dict, key: str = "paired_vs_entropy_k1", *, swap: bool = False, level: float = v.LEVEL) -> v.Interval:
    c = record[key]
    ref, this = (c["only_this"], c["only_reference"]) if swap else (c["only_reference"], c["only_this"])
    return v.paired_difference(int(record["n_problems"]), ref, this, level=level)


def _between(reference: dict, this: dict, *, level: float = v.LEVEL) -> v.Interval:
    """This decoding minus the reference: paired on their per-problem ``correct`` when both keep it
    (the same problems), else unpaired on their accuracies."""
    if "correct" in reference and "correct" in this and len(reference["correct"]) == len(this["correct"]):
        counts = discordant(unbits(reference["correct"]), unbits(this["correct"]))
        return v.paired_difference(len(reference["correct"]), counts["only_reference"], counts["only_this"], level=level)
    return v.unpaired_difference(reference["accuracy"], reference["n_problems"], this["accuracy"], this["n_problems"], level=level)


def _decoding_key(record: dict) -> tuple:
    return record.get("sampler"), record.get("tokens_per_step", 1), record.get("med_lambda"), record.get("exit_gamma"), record.get("block_size")


def pool_seeds(seed_records: dict[str, list[dict]]) -> list[dict]:
    """Every seed's records concatenated, decoding by decoding (the decodings every seed has): one
    paired experiment over all seeds' problems. Its paired difference, (C - B) / N on the summed
    discordant counts, is the Mantel-Haenszel risk difference stratified by seed, and its interval
    Tango's on those counts, as :func:`mdlm_study.stats.cmh_paired` computes them; accuracy and mean
    NFE are weighted by problems."""
    per_seed = [{_decoding_key(r): r for r in reversed(records)} for records in seed_records.values()]
    if not per_seed:
        return []
    pooled = []
    for key in per_seed[0]:
        rows = [seed[key] for seed in per_seed if key in seed]
        if len(rows) < len(per_seed):
            continue
        n = sum(int(r["n_problems"]) for r in rows)
        row = {**rows[0], "n_problems": n, "accuracy": sum(r["accuracy"] * int(r["n_problems"]) for r in rows) / n}
        if all("mean_nfe" in r for r in rows):
            row["mean_nfe"] = sum(r["mean_nfe"] * int(r["n_problems"]) for r in rows) / n
        for paired in ("paired_vs_entropy_k1", "paired_vs_block_k1"):
            row.pop(paired, None)
            if all(paired in r for r in rows):
                row[paired] = {side: sum(int(r[paired][side]) for r in rows) for side in ("only_reference", "only_this")}
        row.pop("correct", None)
        if all("correct" in r for r in rows):
            row["correct"] = "".join(r["correct"] for r in rows)
        pooled.append(row)
    return pooled


def _points(iv: v.Interval) -> str:
    return f"{100 * iv.estimate:+.1f} [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]"


def _seeds(study: Study, judge: Callable[[list[dict]], v.Verdict] | None, what: str,
           effect: Callable[[list[dict]], list[tuple[str, v.Interval]]] | None = None) -> dict:
    """The claim across training seeds, when per-seed records are given and the claim has a per-seed
    reading: ``seeds``, on how many seeds ``judge`` (the claim's own test, on one seed's records)
    holds, each seed's word and effect, then the same test on every seed's problems pooled
    (:func:`pool_seeds`) with the pooled effect; ``pooled``, the pooled effect and the count alone (the
    README's column: points, word, seeds holding of seeds measured). ``effect`` gives the claim's comparisons (label,
    interval) from records, in the order the claim names them (k = 2 / 4)."""
    if judge is None or not study.seed_records:
        return {"seeds": "1 seed", "pooled": ""}
    words, effects = {}, {}
    for label, records in study.seed_records.items():
        try:
            words[label] = judge(records).word
            effects[label] = effect(records) if effect else []
        except LookupError:
            continue
    if not words:
        return {"seeds": "1 seed", "pooled": ""}
    holding = [label for label, word in words.items() if word in v.HOLDING]
    detail = ", ".join(f"{label}: {word}" + (f" ({' / '.join(f'{100 * iv.estimate:+.1f}' for _, iv in effects[label])})" if effects[label] else "")
                       for label, word in words.items())
    count = f"{len(holding)} of {len(words)} seeds"
    text = f"holds on {count} ({what}; {detail})"
    if len(words) < len(study.seed_records):
        return {"seeds": text, "pooled": f"{len(holding)}/{len(words)}"}
    try:
        pooled = pool_seeds(study.seed_records)
        word, parts = judge(pooled).word, effect(pooled) if effect else []
    except LookupError:
        return {"seeds": text, "pooled": f"{len(holding)}/{len(words)}"}
    shown = " / ".join(f"{label}{_points(iv)}" for label, iv in parts)
    return {"seeds": f"{text}; pooled over the {len(words)} seeds: {word}" + (f", {shown} points" if shown else ""),
            "pooled": (f"{shown}, " if shown else "") + f"{word}, {len(holding)}/{len(words)}"}


# ---------------------------------------------------------------------------------------------------
# The claims

CLAIMS: list[tuple[str, str, str, Callable[[Study], dict]]] = []


def claim(notebook: str, text: str, paper: str):
    def register(fn):
        CLAIMS.append((notebook, text, paper, fn))
        return fn
    return register


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _counts(s: Study, table: str, prefix: str) -> tuple[int, int] | None:
    """The paired discordant counts a notebook recorded as ``<prefix>_only_reference`` and
    ``<prefix>_only_this`` (problems right only under the reference / only under this decoding), if any."""
    found = s.summaries.get(table, {})
    keys = (f"{prefix}_only_reference", f"{prefix}_only_this")
    return (int(found[keys[0]]), int(found[keys[1]])) if all(found.get(k) is not None for k in keys) else None


def _no_loss(n, reference, this, *, denied, counts=None):
    iv95 = v.recorded_difference(n, reference, this, counts=counts)
    iv90 = v.recorded_difference(n, reference, this, counts=counts, level=v.TOST_LEVEL)
    return v.no_loss(iv95, iv90, denied=denied)


def _no_loss_paired(record, *, denied, key="paired_vs_entropy_k1", swap=False):
    return v.no_loss(_paired(record, key, swap=swap), _paired(record, key, swap=swap, level=v.TOST_LEVEL), denied=denied)


HELD_OUT = "decoding records of each training seed"


def _entropy_minus_l2r(records: list[dict]) -> list[tuple[str, v.Interval]]:
    return [("", _paired(_record(records, "l2r"), swap=True))]


@claim("01", "Reasoning helps: the answer-only model is worse (a check of our model)", "—")
def _reasoning_helps(s: Study) -> dict:
    exact, answer_only, n = s.get(S1, "exact_answer_accuracy"), s.get(S1, "answer_only_accuracy"), s.n(S1)
    verdict = v.direction(v.unpaired_difference(answer_only, n, exact, n))
    return {"ours": f"reasoning {_pct(exact)} vs answer-only {_pct(answer_only)} (n = {n})", "test": "direction", "verdict": verdict}


@claim("02", "Any-order decoding does not beat left-to-right on math (Table A)", "GSM8K / LLaDA: L2R 76.95% = block 32 76.95%")
def _any_order_not_better(s: Study) -> dict:
    l2r, best, n = s.get(A, "l2r_accuracy"), s.get(A, "best_any_order_accuracy"), s.n(A)
    verdict = _no_loss(n, l2r, best, denied=+1, counts=_counts(s, A, "best_any_order"))
    name = s.summaries[A].get("best_any_order", "best any-order")
    verdict = v.Verdict(verdict.word, f"{verdict.reason}; the best of the any-order configurations ({name}), so the gain is biased upward")
    return {"ours": f"L2R {_pct(l2r)}, best any-order ({name}) {_pct(best)} (n = {n})", "test": "equivalence (TOST)", "verdict": verdict,
            **_seeds(s, lambda r: _no_loss_paired(_record(r, "l2r"), denied=+1, swap=True), f"entropy over the whole canvas against L2R, {HELD_OUT}",
                     _entropy_minus_l2r)}


@claim("02", "Whole-canvas any-order decoding hurts (Table A, block 128)", "GSM8K / LLaDA: 76.95% → 53.44% (−23.5 points)")
def _whole_canvas_hurts(s: Study) -> dict:
    l2r, whole, n = s.get(A, "l2r_accuracy"), s.get(A, "whole_canvas_entropy_accuracy"), s.n(A)
    paper = PAPER_TABLE_A
    verdict = v.against_effect(v.unpaired_difference(l2r, n, whole, n), paper)
    return {"ours": f"L2R {_pct(l2r)} → entropy over the whole canvas {_pct(whole)} (n = {n})", "test": "effect ratio", "verdict": verdict,
            **_seeds(s, lambda r: v.against_effect(_paired(_record(r, "l2r"), swap=True), paper), f"entropy over the whole canvas against L2R, {HELD_OUT}",
                     _entropy_minus_l2r)}


@claim("02", "Any-order rules mostly commit the leftmost mask (the paper's analysis)", "~50% leftmost, mean distance ~3 tokens (block 32)")
def _leftmost(s: Study) -> dict:
    frac, dist, n = s.get(A, "fraction_leftmost"), s.get(A, "mean_distance"), s.n(A)
    verdict = v.against_value(v.wilson(frac, n), 0.5 * (1 - v.APPROXIMATE), 0.5 * (1 + v.APPROXIMATE))
    reason = (f"{verdict.reason} (the paper's ~50% read as ±{100 * v.APPROXIMATE:.0f}%; interval over the {n} problems, each problem's "
              f"commits counted as one observation); mean distance {dist:.2f} tokens against ~3; decoded over the whole canvas with the "
              f"answer slot among the candidates, unlike the accuracy sweep")
    return {"ours": f"{_pct(frac)} leftmost, mean distance {dist:.2f} tokens", "test": "paper's range", "verdict": v.Verdict(verdict.word, reason)}


@claim("02", "Sudoku: any-order beats left-to-right (Table A)", "Sudoku / LLaDA: L2R 36.13% → block 128 47.64% (+11.5 points)")
def _sudoku(s: Study) -> dict:
    l2r, best, n = s.get(A, "sudoku_l2r"), s.get(A, "sudoku_best_any_order"), s.n(A)
    verdict = v.against_effect(v.unpaired_difference(l2r, n, best, n), 0.4764 - 0.3613)
    return {"ours": f"L2R {_pct(l2r)} → best any-order {_pct(best)} of puzzles solved (n = {n})", "test": "effect ratio", "verdict": verdict}


def _fixed_k(prefix: str, setting: str, record_key: str | None, block_size=None):
    def judge(s: Study) -> dict:
        n, k1 = s.n(S3), s.get(S3, f"{prefix}k1_accuracy")
        parts, drops = [], []
        for k, paper in PAPER_TABLE_B.items():
            drop, p = s.get(S3, f"{prefix}k{k}_drop_points") / 100, s.get(S3, f"{prefix}k{k}_p_value")
            parts.append(v.against_effect(v.recorded_difference(n, k1, k1 + drop, p), paper))
            drops.append(f"{100 * drop:+.1f}")
        out = {"ours": f"k = 2 / 4: {' / '.join(drops)} points against k = 1 ({_pct(k1)}; n = {n})", "test": "effect ratio",
               "verdict": v.worst(*parts, labels=["k = 2", "k = 4"])}
        if record_key:
            def fixed(records):
                return [("", _paired(_record(records, "entropy", k=k, block_size=block_size), record_key)) for k in PAPER_TABLE_B]
            out.update(_seeds(s, lambda r: v.worst(*(v.against_effect(iv, paper) for (_, iv), paper in zip(fixed(r), PAPER_TABLE_B.values(), strict=True))),
                              f"{setting}, {HELD_OUT}", fixed))
        return out
    return judge


for _prefix, _setting, _key, _block in (("", "answer slot, whole canvas", "paired_vs_entropy_k1", None),
                                        ("block_", "answer slot, blocks of 8 (Table B's setting)", "paired_vs_block_k1", 8),
                                        ("conclusion_", "the written reasoning's conclusion", None, None),
                                        ("sudoku_", "4x4 Sudoku", None, None)):
    claim("03", f"Fixed k = 2 / 4 lose accuracy (Table B): {_setting}", "GSM8K / LLaDA: −14.6 / −43.4 points")(
        _fixed_k(_prefix, _setting, _key, _block))


@claim("03", "MED keeps accuracy with ~2.7x fewer steps (Table C)", "256 → 94 NFE (2.72x), 79.4% → 79.9%")
def _med_keeps(s: Study) -> dict:
    k1, med, n, speedup = s.get(S3, "k1_accuracy"), s.get(S3, "med_accuracy"), s.n(S3), s.get(S3, "med_speedup")
    return {"ours": f"{speedup:.2f}x fewer NFE ({speedup / (256 / 94):.2f} of the paper's speed-up), {_pct(k1)} → {_pct(med)} (n = {n})",
            "test": "equivalence (TOST)", "verdict": _no_loss(n, k1, med, denied=-1, counts=_counts(s, S3, "med")),
            **_seeds(s, lambda r: _no_loss_paired(_record(r, "med", med_lambda=0.2), denied=-1), f"MED λ = 0.2, {HELD_OUT}",
                     lambda r: [("", _paired(_record(r, "med", med_lambda=0.2)))])}


def _matched_k(s: Study, prefix: str = "") -> int:
    """The fixed k with the fewest forward passes still at least MED's (the fair comparison for MED)."""
    nfe1, med_nfe = s.get(S3, "k1_nfe"), s.get(S3, "med_nfe")
    ks = [k for k in PAPER_TABLE_B if f"{prefix}k{k}_drop_points" in s.summaries.get(S3, {}) and nfe1 / k >= med_nfe]
    if not ks:
        raise LookupError("no fixed k uses as many forward passes as MED")
    return max(ks)


@claim("03", "MED beats fixed k at matched NFE (Tables B, C)",
       "MED 79.9% at 94 NFE; k = 2 62.31% at 128 NFE (two settings)")
def _med_vs_fixed_k(s: Study) -> dict:
    k = _matched_k(s)
    n, med, nfe1 = s.n(S3), s.get(S3, "med_accuracy"), s.get(S3, "k1_nfe")
    fixed = s.get(S3, "k1_accuracy") + s.get(S3, f"k{k}_drop_points") / 100
    counts = _counts(s, S3, f"med_vs_k{k}")
    verdict = v.direction(v.paired_difference(n, *counts) if counts else v.unpaired_difference(fixed, n, med, n))

    def med_minus_fixed(records):
        return [("", _between(_record(records, "entropy", k=k), _record(records, "med", med_lambda=0.2)))]
    return {"ours": f"MED {_pct(med)} at {s.get(S3, 'med_nfe'):.1f} NFE vs fixed k = {k} {_pct(fixed)} at {nfe1 / k:.1f} NFE (n = {n})",
            "test": "direction", "verdict": verdict,
            **_seeds(s, lambda r: v.direction(med_minus_fixed(r)[0][1]), f"MED λ = 0.2 against fixed k = {k}, {HELD_OUT}", med_minus_fixed)}


@claim("04", "MED + early exit: ~3.3x fewer steps at −0.1 point (Table C)", "256 → 77 NFE (3.32x), 79.4% → 79.3%")
def _med_exit(s: Study) -> dict:
    ref, acc, n, speedup = s.get(S4, "entropy_accuracy"), s.get(S4, "med_exit_accuracy"), s.n(S4), s.get(S4, "med_exit_speedup")
    return {"ours": f"{speedup:.2f}x fewer NFE ({speedup / (256 / 77):.2f} of the paper's speed-up), {_pct(ref)} → {_pct(acc)} (n = {n})",
            "test": "equivalence (TOST)", "verdict": _no_loss(n, ref, acc, denied=-1, counts=_counts(s, S4, "med_exit")),
            **_seeds(s, lambda r: _no_loss_paired(_record(r, "med", med_lambda=0.2, exit_gamma=0.1), denied=-1), f"MED λ = 0.2 + exit γ = 0.1, {HELD_OUT}",
                     lambda r: [("", _paired(_record(r, "med", med_lambda=0.2, exit_gamma=0.1)))])}


TRANSFER_RULE = "most_accurate_at_3.5x"  # the selection rule of the speed target (mdlm_study.selection)
FIXED_K_CONTROL = 0.05  # a seed "where fixed k loses": k = 2 in blocks of 8 costs at least 5 points


def _role(records: list[dict], role: str) -> dict:
    for r in records:
        if r.get("role") == role:
            return r
    raise LookupError(f"no {role!r} decoding in the seed records")


def _transferred(records: list[dict]) -> tuple[v.Interval, float, dict]:
    """MED + exit at seed 0's setting minus one token per step (paired), its speed-up, its record."""
    reference, this = _role(records, "entropy_k1"), _role(records, TRANSFERRED + TRANSFER_RULE)
    return _between(reference, this), reference["mean_nfe"] / this["mean_nfe"], this


def _speed_target(records: list[dict]) -> v.Verdict:
    iv, speedup, _ = _transferred(records)
    return v.faster_within(iv, speedup, min_speedup=SPEED_TARGET, margin=TOLERANCE)


def _fixed_k_loses(records: list[dict]) -> bool:
    record = _record(records, "entropy", k=2, block_size=8)
    counts = record["paired_vs_block_k1"]
    return (counts["only_reference"] - counts["only_this"]) / record["n_problems"] >= FIXED_K_CONTROL - 1e-9


@claim("04", "Our speed target: MED + exit at seed 0's chosen (λ, γ), ≥ 3.5x fewer NFE within 1 point",
       "256 → 77 NFE (3.32x), 79.4% → 79.3% (one model)")
def _med_exit_transferred(s: Study) -> dict:
    if "seed 0" not in s.seed_records:
        raise LookupError("no training-seed records of the study's default model (benchmarks/bench_seeds.py)")
    iv, speedup, this = _transferred(s.seed_records["seed 0"])
    out = {"ours": f"{this.get('label', 'MED + exit')}: {speedup:.2f}x fewer NFE, {_points(iv)} points against k = 1 (n = {this['n_problems']:,})",
           "test": "speed target", "verdict": _speed_target(s.seed_records["seed 0"]),
           **_seeds(s, _speed_target, f"the same setting on every seed, {HELD_OUT}", lambda r: [("", _transferred(r)[0])])}
    speedups = ", ".join(f"{label}: {_transferred(r)[1]:.1f}x" for label, r in s.seed_records.items())
    losing = {label: r for label, r in s.seed_records.items() if _fixed_k_loses(r)}
    control = "no seed"
    if losing:
        pooled = pool_seeds(losing)
        iv_l, speed_l, _ = _transferred(pooled)
        holding = sum(_speed_target(r).word in v.HOLDING for r in losing.values())
        control = (f"{', '.join(losing)}: pooled {_points(iv_l)} points at {speed_l:.1f}x fewer NFE, {_speed_target(pooled).word}, "
                   f"holds on {holding} of {len(losing)}")
    out["seeds"] += (f"; speed-up per seed: {speedups}; where fixed k = 2 loses ≥ {100 * FIXED_K_CONTROL:g} points in blocks of 8 "
                     f"(the control works) — {control}")
    return out


@claim("05", "Posterior traces are often correct where free decoding failed (Table D)", "0.36–0.43 of traces (GPT-4o judge)")
def _posterior(s: Study) -> dict:
    frac, traces, problems = s.get(F5, "fraction_correct"), s.n(F5, "n"), s.n(F5, "n_failed_sampled")
    verdict = v.against_value(v.wilson(frac, problems), 0.36, 0.43)
    reason = f"{verdict.reason}; the {traces} traces come from {problems} problems, so the interval counts each problem once (the worst case of their correlation)"
    return {"ours": f"{frac:.3f} of {traces} traces fully correct (exact step check)", "test": "paper's range", "verdict": v.Verdict(verdict.word, reason)}


@claim("05", "Log-probability filtering improves posterior traces (appendix)", "+1.4 points")
def _filtering(s: Study) -> dict:
    overall, gain, n = s.get(S5, "posterior_fraction_correct_overall"), s.get(S5, "filter_gain_keep_0.5"), s.n(S5)
    verdict = v.against_effect(v.unpaired_difference(overall, n, overall + gain, n), 0.014)
    return {"ours": f"{100 * gain:+.1f} points keeping the top half ({overall:.3f} of all traces fully correct; {n} problems)",
            "test": "effect ratio", "verdict": verdict}


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


@claim("05", "Fine-tuning on posterior traces is on par with gold traces (Table E)", "gold 64.6% vs posterior 66.1%")
def _finetune_on_par(s: Study) -> dict:
    arms, seeds = _arms(s)
    n = s.n(S5)
    iv95, iv90 = (v.seeded_difference(arms["gold"], arms["posterior"], n, level=level) for level in (v.LEVEL, v.TOST_LEVEL))
    mean = {arm: sum(x) / len(x) for arm, x in arms.items()}
    return {"ours": f"gold {_pct(mean['gold'])} vs posterior {_pct(mean['posterior'])} ({seeds}, n = {n})", "test": "equivalence (TOST)",
            "verdict": v.no_loss(iv95, iv90, denied=-1), "seeds": _arm_seeds(s, _on_par)}


def _improves(acc: dict, n: int) -> v.Verdict:
    return v.worst(*(v.against_effect(v.unpaired_difference(acc["base"], n, acc[arm], n), paper) for arm, paper in (("gold", 0.134), ("posterior", 0.149))),
                   labels=["gold", "posterior"])


@claim("05", "Fine-tuning on traces improves the base model (Table E)", "51.2% → gold 64.6% (+13.4), posterior 66.1% (+14.9)")
def _finetune_improves(s: Study) -> dict:
    arms, seeds = _arms(s)
    n = s.n(S5)
    parts = [v.against_effect(v.seeded_difference(arms["base"], arms[arm], n), paper) for arm, paper in (("gold", 0.134), ("posterior", 0.149))]
    mean = {arm: sum(x) / len(x) for arm, x in arms.items()}
    return {"ours": f"base {_pct(mean['base'])} → gold {_pct(mean['gold'])}, posterior {_pct(mean['posterior'])} ({seeds}, n = {n})",
            "test": "effect ratio", "verdict": v.worst(*parts, labels=["gold", "posterior"]), "seeds": _arm_seeds(s, _improves)}


def _both_best(acc: dict, n: int) -> v.Verdict:
    best = max(("gold", "posterior"), key=lambda arm: acc[arm])
    return v.against_effect(v.unpaired_difference(acc[best], n, acc["both"], n), 0.673 - 0.661)


@claim("05", "Gold + posterior traces together are best (Table E)", "67.3% vs 64.6% / 66.1% (+1.2 over the better arm)")
def _finetune_both(s: Study) -> dict:
    arms, seeds = _arms(s)
    n = s.n(S5)
    mean = {arm: sum(x) / len(x) for arm, x in arms.items()}
    best = max(("gold", "posterior"), key=lambda arm: mean[arm])
    verdict = v.against_effect(v.seeded_difference(arms[best], arms["both"], n), 0.673 - 0.661)
    return {"ours": f"both {_pct(mean['both'])} vs {best} {_pct(mean[best])} ({seeds}, n = {n})", "test": "effect ratio", "verdict": verdict,
            "seeds": _arm_seeds(s, _both_best)}


def _score_row(s: Study, score: str) -> pd.Series:
    rows = s.table(S6)
    if score not in set(rows["score"]):
        raise LookupError(f"06_step_scoring.csv has no {score!r} row")
    return rows[rows["score"] == score].iloc[0]


@claim("06", "Step scoring tells correct from flawed traces", "no number reported")
def _auroc(s: Study) -> dict:
    ours = v.Interval(s.get(S6, "auroc_answer_loglik"), s.get(S6, "auroc_low"), s.get(S6, "auroc_high"), "bootstrap")
    base = _score_row(s, "trace_pll")
    baseline = v.Interval(float(base["auroc"]), float(base["auroc_low"]), float(base["auroc_high"]), "bootstrap")
    n = s.n(S6, "n_scored")
    return {"ours": f"AUROC {ours.estimate:.3f} ({ours.low:.3f}–{ours.high:.3f}) on {n} gold and {n} corrupted traces", "test": "chance and baseline",
            "verdict": v.against_baseline(ours, chance=0.5, baseline=baseline, name="trace pseudo-log-likelihood baseline")}


@claim("06", "Step scores locate the first wrong step", "no number reported")
def _localisation(s: Study) -> dict:
    main, base = _score_row(s, "answer_loglik"), _score_row(s, "trace_pll")
    ours = v.Interval(float(main["loc_accuracy"]), float(main["loc_low"]), float(main["loc_high"]), "Wilson")
    baseline = v.Interval(float(base["loc_accuracy"]), float(base["loc_low"]), float(base["loc_high"]), "Wilson")
    return {"ours": f"first wrong step found in {_pct(ours.estimate)} ({_pct(ours.low)}–{_pct(ours.high)}) of {s.n(S6, 'n_scored')} corrupted traces",
            "test": "chance and baseline",
            "verdict": v.against_baseline(ours, chance=float(main["loc_chance"]), baseline=baseline, name="trace pseudo-log-likelihood baseline")}


# ---------------------------------------------------------------------------------------------------


def claims_table(study: Study | dict, notebook: str | None = None) -> pd.DataFrame:
    """One row per claim (of one notebook, when ``notebook`` is given, e.g. "03"): the columns of
    :data:`COLUMNS`. ``study`` may be a bare dict of summaries (claims that need a CSV are then missing)."""
    if not isinstance(study, Study):
        study = Study(study)
    rows = []
    for nb, text, paper, judge in CLAIMS:
        if notebook is not None and nb != notebook:
            continue
        row = {"notebook": nb, "claim": text, "paper": paper}
        try:
            out = judge(study)
        except (LookupError, ValueError) as missing:  # not written, or written empty (e.g. no failed problem to sample)
            row.update(ours="not measured", test="", verdict=v.MISSING, reason=f"not recorded: {missing}", seeds="", pooled="")
        else:
            verdict = out.pop("verdict")
            row.update(ours=out["ours"], test=out["test"], verdict=verdict.word, reason=verdict.reason, seeds=out.get("seeds", "1 seed"),
                       pooled=out.get("pooled", ""))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdict_counts(table: pd.DataFrame) -> dict:
    """How many claims got each verdict word (every word of :data:`verdicts.VERDICTS`, zeros included)."""
    return {"n_claims": len(table), **{f"n_{word.replace(' ', '_')}": int((table["verdict"] == word).sum()) for word in v.VERDICTS}}
