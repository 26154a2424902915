"""Each notebook's headline, typed: the numbers its table's JSON ``summary`` records.

A builder per notebook reads the tables the notebook made and returns a frozen dataclass;
:meth:`Headline.as_dict` is the ``summary`` that :func:`mdlm_study.runner.notebook.close_notebook`
writes with the notebook's table (:func:`~mdlm_study.reporting.figures.save_table`) and that the claims
(:mod:`mdlm_study.reporting.summary`, ``Study.get(table, key)``) read: its keys, their order and their
values are the schema of those records. In a notebook a headline shows as that dict
(:meth:`Headline.shown`: 06 leaves out its per-trace score lists).

=================  ==========================  =============================
notebook           builder                     table
=================  ==========================  =============================
01 training        :func:`training_headline`        ``01_training``
02 any order       :func:`any_order_headline`       ``02_any_order_vs_l2r``
03 parallel / MED  :func:`parallel_decoding_headline`  ``03_parallel_decoding``
04 early exit      :func:`early_exit_headline`      ``04_early_exit``
05 posterior       :func:`posterior_headline`       ``05_finetuning``
06 step scoring    :func:`step_scoring_headline`    ``06_step_scoring``
=================  ==========================  =============================

Notebook 07's summary is :func:`mdlm_study.reporting.summary.verdict_counts`; notebook 05's second
table (``05_filtering``) records :func:`mdlm_study.experiments.posterior.posterior_on_failures` as it is.

Paired counts (``<prefix>_only_reference`` / ``<prefix>_only_this``: problems only the reference or
only the compared decoding gets right) give the claims their paired intervals (:class:`PairedCounts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mdlm_study.core import paper
from mdlm_study.core.stats import paired_vs_reference
from mdlm_study.experiments.scoring import per_trace_scores

MED_LAMBDA = paper.MED_LAMBDA  # notebook 03's headline reports the MED row at Table C's λ when swept
EXIT_GAMMA = paper.EXIT_GAMMA  # notebook 04's headline: MED + exit at Table C's γ
FILTER_KEEP = 0.5  # our choice, not the paper's: notebook 05's headline reports the filter that keeps the better half


class Headline:
    """A notebook's headline (module docstring); subclasses are frozen dataclasses declared with
    ``repr=False``, so that a notebook (IPython's pretty printer, which takes the first ``__repr__``
    or ``_repr_pretty_`` along the classes) shows the summary dict, and ``repr`` names the class."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown()!r})"

    def as_dict(self) -> dict:
        """The JSON ``summary``: string keys, in the order the records have them."""
        raise NotImplementedError

    def shown(self) -> dict:
        """What the notebook displays (the whole summary unless a subclass leaves some out)."""
        return self.as_dict()

    def _repr_pretty_(self, p, cycle) -> None:  # IPython: a notebook cell ending with a headline shows the dict
        p.pretty(self.shown())


@dataclass(frozen=True)
class PairedCounts:
    """Of the same problems, how many only the reference decoding gets right and how many only the
    compared one (:func:`~mdlm_study.core.stats.paired_vs_reference`)."""

    only_reference: int
    only_this: int

    @classmethod
    def of(cls, reference: Sequence[bool], this: Sequence[bool]) -> PairedCounts:
        counts = paired_vs_reference(reference, this)
        return cls(counts["only_reference"], counts["only_this"])

    def as_dict(self, prefix: str) -> dict:
        return {f"{prefix}_only_reference": self.only_reference, f"{prefix}_only_this": self.only_this}


@dataclass(frozen=True)
class Drop:
    """One decoding against a reference on the same problems: accuracy change in points (negative: a
    loss) and the exact McNemar p-value of that paired difference."""

    drop_points: float
    p_value: float


# --- 01 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TrainingHeadline(Headline):
    """Notebook 01: the default model's targets (docs/decisions.md, "Study targets"), greedy left to
    right, and the training throughput. A model not trained in this run leaves its fields ``None``
    (and out of the summary)."""

    train_tokens_per_s: float  # the first trained model's mean throughput
    n_problems: int  # test problems decoded
    exact_answer_accuracy: float | None = None  # the default model
    trace_accuracy: float | None = None
    step_accuracy: float | None = None
    train_seconds: float | None = None  # the default model's training time
    answer_only_accuracy: float | None = None  # the answer-only baseline

    def as_dict(self) -> dict:
        out = {}
        if self.exact_answer_accuracy is not None:
            out.update(exact_answer_accuracy=self.exact_answer_accuracy, trace_accuracy=self.trace_accuracy, step_accuracy=self.step_accuracy,
                       train_seconds=self.train_seconds)
        if self.answer_only_accuracy is not None:
            out["answer_only_accuracy"] = self.answer_only_accuracy
        return {**out, "train_tokens_per_s": self.train_tokens_per_s, "n_problems": self.n_problems}


def training_headline(records: Mapping[str, Mapping], summary: pd.DataFrame, n_problems: int, *, default: Mapping | None = None,
                      answer_only: Mapping | None = None) -> TrainingHeadline:
    """Notebook 01's headline from the training ``records`` (recipe -> record), the training
    ``summary`` table (its first row's throughput), the number of test problems, and the
    :func:`~mdlm_study.experiments.evaluate.summarize` of the default and answer-only models' greedy
    decodings (``None``: that model was not trained in this run)."""
    scores = {}
    if default is not None:
        scores.update(exact_answer_accuracy=default["accuracy"], trace_accuracy=default["trace_accuracy"], step_accuracy=default["step_accuracy"],
                      train_seconds=records["default"]["train_seconds"])
    if answer_only is not None:
        scores["answer_only_accuracy"] = answer_only["accuracy"]
    return TrainingHeadline(float(summary["tokens_per_s"].iloc[0]), n_problems, **scores)


# --- 02 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class AnyOrderHeadline(Headline):
    """Notebook 02: any-order against left-to-right decoding (Table A) and where the any-order rules commit."""

    fraction_leftmost: float  # commits at the leftmost mask (whole canvas, entropy)
    mean_distance: float  # mean distance of a commit from the leftmost mask
    eos_first_rate: float
    answer_before_reasoning_rate: float
    l2r_accuracy: float
    best_any_order: str  # the label of the most accurate any-order configuration
    best_any_order_accuracy: float
    whole_canvas_entropy_accuracy: float
    best_any_order_counts: PairedCounts  # against L2R
    sudoku_l2r: float | None = None  # None: no Sudoku panel
    sudoku_best_any_order: float | None = None
    regime: Mapping[str, object] | None = None  # experiments.regime.diagnose of the reference decoding (None: not measured)

    def as_dict(self) -> dict:
        out = {"fraction_leftmost": self.fraction_leftmost, "mean_distance": self.mean_distance, "eos_first_rate": self.eos_first_rate,
               "answer_before_reasoning_rate": self.answer_before_reasoning_rate, "l2r_accuracy": self.l2r_accuracy,
               "best_any_order": self.best_any_order, "best_any_order_accuracy": self.best_any_order_accuracy,
               "whole_canvas_entropy_accuracy": self.whole_canvas_entropy_accuracy}
        if self.sudoku_l2r is not None:
            out.update(sudoku_l2r=self.sudoku_l2r, sudoku_best_any_order=self.sudoku_best_any_order)
        return {**out, **self.best_any_order_counts.as_dict("best_any_order"), **regime_fields(self.regime)}


def regime_fields(regime: Mapping[str, object] | None) -> dict:
    """A headline's ``regime_*`` fields: :func:`~mdlm_study.experiments.regime.regime_diagnostics` of its
    reference decoding without ``n_problems`` and ``mean_nfe`` (the table has them), nothing when not measured."""
    return {} if regime is None else {f"regime_{k}": v for k, v in regime.items() if k not in ("n_problems", "mean_nfe", "by_group")}


def any_order_headline(table: pd.DataFrame, per_problem: Mapping[str, pd.DataFrame], sudoku: pd.DataFrame,
                       order_stats: Mapping[str, float], regime: Mapping[str, object] | None = None) -> AnyOrderHeadline:
    """Notebook 02's headline from its sweep ``table`` (with the ``block`` column, 0: whole canvas),
    the sweep's ``per_problem`` tables (label -> table), the Sudoku sweep (empty: no panel), the
    leftmost-distance statistics of the whole-canvas entropy decode and the ``regime`` the reference decoding is in."""
    best = table[table["sampler"] != "l2r"].sort_values("accuracy").iloc[-1]
    sudoku_scores = {}
    if len(sudoku):
        sudoku_scores = {"sudoku_l2r": float(sudoku.loc[sudoku["sampler"] == "l2r", "accuracy"].iloc[0]),
                         "sudoku_best_any_order": float(sudoku[sudoku["sampler"] != "l2r"]["accuracy"].max())}
    return AnyOrderHeadline(
        order_stats["fraction_leftmost"], order_stats["mean_distance"], order_stats["eos_first_rate"],
        order_stats["answer_before_reasoning_rate"], float(table.loc[table["sampler"] == "l2r", "accuracy"].iloc[0]), best["label"],
        float(best["accuracy"]), float(table.loc[(table["sampler"] == "entropy") & (table["block"] == 0), "accuracy"].iloc[0]),
        PairedCounts.of(per_problem["l2r"]["correct"], per_problem[best["label"]]["correct"]), **sudoku_scores, regime=regime)


# --- 03 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedKBlocks:
    """Fixed k inside semi-autoregressive blocks (Table B's own setting), against k = 1 in the same blocks."""

    block_size: int
    k1_accuracy: float
    drops: Mapping[int, Drop]  # k (not 1) -> its drop

    def as_dict(self) -> dict:
        return {"fixed_k_block_size": self.block_size, "block_k1_accuracy": self.k1_accuracy,
                **{f"block_k{k}_{what}": value for k, d in self.drops.items()
                   for what, value in (("drop_points", d.drop_points), ("p_value", d.p_value))}}


@dataclass(frozen=True)
class SudokuFixedK:
    """Fixed k on 4x4 Sudoku, against k = 1."""

    k1_accuracy: float
    drops: Mapping[int, Drop]  # every k (1 included) -> its drop

    def as_dict(self) -> dict:
        return {"sudoku_k1_accuracy": self.k1_accuracy, **{f"sudoku_k{k}_drop_points": d.drop_points for k, d in self.drops.items()},
                **{f"sudoku_k{k}_p_value": d.p_value for k, d in self.drops.items()}}


@dataclass(frozen=True)
class WrittenReasoning:
    """Fixed k read two ways (arithmetic): the answer slot and the written reasoning's conclusion."""

    conclusion_k1_accuracy: float
    answer: Mapping[int, Drop]  # k (not 1) -> the answer slot's drop
    conclusion: Mapping[int, Drop]  # k (not 1) -> the conclusion's drop

    def as_dict(self) -> dict:
        out = {"conclusion_k1_accuracy": self.conclusion_k1_accuracy}
        for k in self.answer:
            for name, drop in (("answer", self.answer[k]), ("conclusion", self.conclusion[k])):
                out.update({f"{name}_k{k}_drop_points": drop.drop_points, f"{name}_k{k}_p_value": drop.p_value})
        return out


@dataclass(frozen=True, repr=False)
class ParallelDecodingHeadline(Headline):
    """Notebook 03: fixed k tokens per step against k = 1 (Table B) and MED's accuracy and speed."""

    k1_accuracy: float
    k1_nfe: float
    fixed_k: Mapping[int, Drop]  # every k of the sweep (1 included) -> its drop against k = 1
    med_lambda: float
    med_accuracy: float
    med_nfe: float
    med_speedup: float  # k = 1's mean NFE over MED's
    dependency_depth: float | None  # the problems' mean dependency depth (None: no step labels)
    paired: Mapping[str, PairedCounts]  # "med" against k = 1, "med_vs_k<k>" against fixed k
    blocks: FixedKBlocks | None = None  # None: fixed_k_block_size = 0
    sudoku: SudokuFixedK | None = None  # None: no Sudoku panel
    written: WrittenReasoning | None = None  # None: not the arithmetic task
    regime: Mapping[str, object] | None = None  # experiments.regime.diagnose of the reference decoding (None: not measured)

    def as_dict(self) -> dict:
        out = {"k1_accuracy": self.k1_accuracy, "k1_nfe": self.k1_nfe,
               **{f"k{k}_drop_points": d.drop_points for k, d in self.fixed_k.items()},
               **{f"k{k}_p_value": d.p_value for k, d in self.fixed_k.items()},
               "med_lambda": self.med_lambda, "med_accuracy": self.med_accuracy, "med_nfe": self.med_nfe, "med_speedup": self.med_speedup,
               "dependency_depth": self.dependency_depth}
        for part in (self.blocks, self.sudoku, self.written):
            if part is not None:
                out.update(part.as_dict())
        for prefix, counts in self.paired.items():
            out.update(counts.as_dict(prefix))
        return {**out, **regime_fields(self.regime)}


def _drops(frame: pd.DataFrame, drop: str, p_value: str, *, skip_k1: bool) -> dict[int, Drop]:
    """k -> :class:`Drop` from a table indexed by ``tokens_per_step``."""
    return {int(k): Drop(float(frame.loc[k, drop]), float(frame.loc[k, p_value])) for k in frame.index if not (skip_k1 and k == 1)}


def parallel_decoding_headline(table: pd.DataFrame, fixed: pd.DataFrame, per_problem: Mapping[str, pd.DataFrame], *,
                               grids: Mapping[str, Sequence[float]], ks: Sequence[int], depth: float | None,
                               block_fixed: pd.DataFrame, fixed_k_block_size: int, sudoku_fixed: pd.DataFrame,
                               readings: pd.DataFrame, regime: Mapping[str, object] | None = None) -> ParallelDecodingHeadline:
    """Notebook 03's headline from its sweep ``table``, the fixed-k drops (``fixed``, with
    ``paired_p_value``), the sweep's ``per_problem`` tables, the rule ``grids``, ``ks``, the problems'
    dependency ``depth``, and the optional parts (empty tables: not run): fixed k in blocks of
    ``fixed_k_block_size`` (``block_fixed``), the Sudoku drops (``sudoku_fixed``) and the written-reasoning
    ``readings``, and the ``regime`` the reference decoding is in. MED is the λ = :data:`MED_LAMBDA` row when
    swept, else the first MED row."""
    k1 = table[(table["sampler"] == "entropy") & (table["tokens_per_step"] == 1)].iloc[0]
    med_rows = table[table["sampler"] == "med"]
    med = med_rows[med_rows["med_lambda"] == MED_LAMBDA].iloc[0] if MED_LAMBDA in grids.get("med_lambda", []) else med_rows.iloc[0]
    fixed_k = {int(r.tokens_per_step): Drop(float(r.drop_vs_k1_points), float(r.paired_p_value)) for r in fixed.itertuples()}
    blocks = sudoku = written = None
    if len(block_fixed):
        by_k = block_fixed.set_index("tokens_per_step")
        blocks = FixedKBlocks(fixed_k_block_size, float(by_k.loc[1, "accuracy"]), _drops(by_k, "drop_points", "p_value", skip_k1=True))
    if len(sudoku_fixed):
        sudoku = SudokuFixedK(float(sudoku_fixed["accuracy"].iloc[0]),
                              {int(r.tokens_per_step): Drop(float(r.drop_vs_k1_points), float(r.paired_p_value)) for r in sudoku_fixed.itertuples()})
    if len(readings):
        by_k = readings.set_index("tokens_per_step")
        written = WrittenReasoning(float(by_k.loc[1, "conclusion_accuracy"]), _drops(by_k, "answer_drop_points", "answer_p_value", skip_k1=True),
                                   _drops(by_k, "conclusion_drop_points", "conclusion_p_value", skip_k1=True))
    references = [("med", "entropy k=1")] + [(f"med_vs_k{k}", f"entropy k={k}") for k in ks if k != 1]
    paired = {name: PairedCounts.of(per_problem[reference]["correct"], per_problem[med["label"]]["correct"]) for name, reference in references}
    return ParallelDecodingHeadline(float(k1["accuracy"]), float(k1["mean_nfe"]), fixed_k, float(med["med_lambda"]), float(med["accuracy"]),
                                    float(med["mean_nfe"]), float(k1["mean_nfe"] / med["mean_nfe"]), depth, paired, blocks, sudoku, written,
                                    regime)


# --- 04 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class EarlyExitHeadline(Headline):
    """Notebook 04: MED + early exit at γ = :data:`EXIT_GAMMA` against one-token entropy decoding
    (Table C), the answer entropy at the end of decoding, and the regime the decoding is in. The MED +
    exit fields are ``None`` when that γ was not swept."""

    entropy_accuracy: float
    entropy_nfe: float
    med_exit_accuracy: float | None
    med_exit_nfe: float | None
    h_ub_final_median_correct: float | None  # median final H_UB of the problems answered right (None: none)
    regime: Mapping[str, object]  # experiments.regime.regime_diagnostics, without n_problems and mean_nfe
    med_exit_counts: PairedCounts | None = None

    def as_dict(self) -> dict:
        acc0, nfe0, acc, nfe = self.entropy_accuracy, self.entropy_nfe, self.med_exit_accuracy, self.med_exit_nfe
        out = {"entropy_accuracy": acc0, "entropy_nfe": nfe0, "med_exit_gamma": EXIT_GAMMA if acc is not None else None, "med_exit_accuracy": acc,
               "med_exit_nfe": nfe, "med_exit_speedup": nfe0 / nfe if nfe else None,
               "med_exit_accuracy_change_points": 100 * (acc - acc0) if acc is not None else None,
               "h_ub_final_median_correct": self.h_ub_final_median_correct, **regime_fields(self.regime)}
        return {**out, **(self.med_exit_counts.as_dict("med_exit") if self.med_exit_counts is not None else {})}


def early_exit_headline(table: pd.DataFrame, per_problem: Mapping[str, pd.DataFrame], h_ub: np.ndarray, correct: np.ndarray,
                        regime: Mapping[str, object]) -> EarlyExitHeadline:
    """Notebook 04's headline from its Table C sweep (``table`` and its ``per_problem`` tables), the
    answer-entropy trajectories ``h_ub`` [problems, steps] with which problems were ``correct``, and
    :func:`~mdlm_study.experiments.regime.regime_diagnostics`. Says so when γ = :data:`EXIT_GAMMA` was not swept."""
    def row(label):
        r = table[table["label"] == label]
        return (float(r["accuracy"].iloc[0]), float(r["mean_nfe"].iloc[0])) if len(r) else (None, None)

    label = f"med + exit γ={EXIT_GAMMA}"
    acc, nfe = row(label)
    if acc is None:
        print(f"γ = {EXIT_GAMMA} is not among the gammas: the MED + exit headline (the paper's setting) is reported as missing")
    counts = PairedCounts.of(per_problem["entropy k=1"]["correct"], per_problem[label]["correct"]) if label in per_problem else None
    return EarlyExitHeadline(*row("entropy k=1"), acc, nfe, float(np.nanmedian(h_ub[correct, -1])) if correct.any() else None,
                             {k: v for k, v in regime.items() if k not in ("n_problems", "mean_nfe")}, counts)


# --- 05 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PosteriorHeadline(Headline):
    """Notebook 05: posterior traces on the problems the model fails, filtering, and fine-tuning (Table E)."""

    fraction_correct_on_failures: float
    n_failure_traces: int | None
    failures_ci_low: float  # each problem counted once (posterior_on_failures): the interval the Table D claim judges
    failures_ci_high: float
    fraction_correct_overall: float
    filter_gain: float | None  # keeping the better FILTER_KEEP of the traces by log-probability (None: not measured)
    finetune: Mapping[str, float]  # arm -> mean accuracy over the fine-tuning seeds

    def as_dict(self) -> dict:
        return {"posterior_fraction_correct_on_failures": self.fraction_correct_on_failures, "n_failure_traces": self.n_failure_traces,
                "failures_ci_low": self.failures_ci_low, "failures_ci_high": self.failures_ci_high,
                "posterior_fraction_correct_overall": self.fraction_correct_overall, f"filter_gain_keep_{FILTER_KEEP}": self.filter_gain,
                **{f"finetune_{arm}": accuracy for arm, accuracy in self.finetune.items()}}


def posterior_headline(failures: Mapping, overall: float, gain: pd.DataFrame, arms: pd.DataFrame) -> PosteriorHeadline:
    """Notebook 05's headline from :func:`~mdlm_study.experiments.posterior.posterior_on_failures`, the
    overall fraction of fully correct posterior traces, :func:`~mdlm_study.experiments.posterior.filtering_gain`
    and :func:`~mdlm_study.training.finetune.summarize_arms`."""
    kept = gain["keep"] == FILTER_KEEP
    return PosteriorHeadline(failures["fraction_correct"], failures.get("n", None), failures["ci_low"], failures["ci_high"], overall,
                             float(gain.loc[kept, "gain"].iloc[0]) if kept.any() else None,
                             {r.arm: float(r.accuracy_mean) for r in arms.itertuples()})


# --- 06 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class StepScoringHeadline(Headline):
    """Notebook 06: telling gold traces from corrupted ones by the answer's log-likelihood, and locating the error."""

    auroc: float  # answer_loglik
    auroc_low: float
    auroc_high: float
    localisation_accuracy: float
    localisation_chance: float
    auroc_baseline: float | None  # the trace's own pseudo-log-likelihood (None: not scored)
    n_problems: int
    n_scored: int
    scores: Mapping[str, list[float]]  # scores_<name>_<gold|corrupted> -> final scores per trace, for the paired DeLong test

    def as_dict(self) -> dict:
        return {"auroc_answer_loglik": self.auroc, "auroc_low": self.auroc_low, "auroc_high": self.auroc_high,
                "localisation_accuracy": self.localisation_accuracy, "localisation_chance": self.localisation_chance,
                "auroc_baseline_trace_pll": self.auroc_baseline, "n_problems": self.n_problems, "n_scored": self.n_scored, **self.scores}

    def shown(self) -> dict:
        return {k: v for k, v in self.as_dict().items() if not k.startswith("scores_")}


def step_scoring_headline(summary: pd.DataFrame, table: pd.DataFrame, n_problems: int) -> StepScoringHeadline:
    """Notebook 06's headline from :func:`~mdlm_study.experiments.scoring.summarize_step_scoring`, the
    per-prefix score ``table`` and the number of problems scored."""
    main = summary[summary["score"] == "answer_loglik"].iloc[0]
    base = summary[summary["score"] == "trace_pll"].iloc[0] if (summary["score"] == "trace_pll").any() else None
    return StepScoringHeadline(float(main["auroc"]), float(main["auroc_low"]), float(main["auroc_high"]), float(main["loc_accuracy"]),
                               float(main["loc_chance"]), float(base["auroc"]) if base is not None else None, n_problems,
                               int(table["uid"].nunique()), per_trace_scores(table, ["answer_loglik", "trace_pll"]))
