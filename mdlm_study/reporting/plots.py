"""The study's figures, one function each, from the tables the notebooks build.

Conventions every function follows: every rate carries its 95% interval (Wilson over problems, or
:func:`~mdlm_study.core.clustered_stats.each_cluster_once_ci` when several samples share a problem, or seeds and problems
together); a rate axis that does not start at 0 is marked as cut (:func:`mark_cut_axis`); every
paper point has its own legend entry; legends sit outside the data (below the axes); no line is
called a bound unless it is one. The notebooks call these and save the result with
:func:`figures.save_figure`.
"""

from __future__ import annotations

import inspect
import math
import re
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mdlm_study.core import paper, stats
from mdlm_study.core.clustered_stats import each_cluster_once_ci
from mdlm_study.core.frontier import pareto_frontier
from mdlm_study.training.recipes import curve_eval_fn

PAPER_MARKERS = ("*", "P", "X", "D", "s", "^")  # one shape per paper point, all black
PAPER = {"color": "black", "s": 120, "zorder": 6}
CURVE_EVAL_N = inspect.signature(curve_eval_fn).parameters["n"].default  # problems behind each training-curve accuracy
# What a figure calls a decoding rule and a step score (the tables keep the code names).
RULE_NAMES = {"l2r": "left to right", "random": "random order", "confidence": "confidence order", "margin": "margin order",
              "entropy": "entropy order (k per pass)", "med": "MED", "med_budget": "MED (budget)", "eb": "EB-Sampler",
              "fast_threshold": "Fast-dLLM threshold", "fast_factor": "Fast-dLLM factor", "wino": "WINO", "klass": "KLASS",
              "pc_sampler": "PC-Sampler", "local_leap": "LocalLeap"}
LABEL_RULES = {"entropy": "entropy order", "fast": "Fast-dLLM"}  # a setting label's first word, where it differs from RULE_NAMES
# Where a point's label may sit, in points from the point, tried in this order (dx, dy, ha, va).
LABEL_OFFSETS = ((5, 5, "left", "bottom"), (5, -5, "left", "top"), (-5, 5, "right", "bottom"), (-5, -5, "right", "top"),
                 (0, 10, "center", "bottom"), (0, -10, "center", "top"), (10, 0, "left", "center"), (-10, 0, "right", "center"),
                 (5, 16, "left", "bottom"), (5, -16, "left", "top"), (-5, 16, "right", "bottom"), (-5, -16, "right", "top"))
SCORE_NAMES = {"answer_loglik": "answer log-likelihood", "answer_entropy": "answer entropy (negated)",
               "mc_loglik": "Monte-Carlo answer log-likelihood", "trace_pll": "trace pseudo-log-likelihood (baseline)"}


def rule_name(sampler: str) -> str:
    """The words a figure uses for a rule (its code name when it has none)."""
    return RULE_NAMES.get(sampler, sampler)


def setting_text(label: str) -> str:
    """A point's setting without its rule's name (a sweep label is ``"<rule> <settings>"``):
    ``"med λ=0.2"`` -> ``"λ=0.2"``, ``"fast τ=0.9"`` -> ``"τ=0.9"``; ``""`` for a bare rule (``"l2r"``)."""
    return label.split(" ", 1)[1] if " " in label else ""


def setting_name(label: str) -> str:
    """A setting's label (``DecodeConfig.label``, a sweep's key) in words: ``"l2r"`` -> ``"left to right"``,
    ``"entropy b=all"`` -> ``"entropy order, whole canvas"``, ``"random b=4"`` -> ``"random order, blocks of 4"``,
    ``"entropy k=1"`` -> ``"entropy order, 1 per pass"``, ``"med λ=0.2 + exit γ=0.1"`` -> ``"MED λ=0.2 + exit γ=0.1"``."""
    head, *rest = label.split(" + ")
    rule, _, settings = head.partition(" ")
    settings = re.sub(r"\bb=all\b", ", whole canvas", settings)
    settings = re.sub(r"\bb=(\d+)", r", blocks of \1", settings)
    settings = re.sub(r"\bk=(\d+)", r", \1 per pass", settings)
    text = f"{LABEL_RULES.get(rule, decoder_name(rule))} {settings}".strip().replace(" ,", ",")
    return " + ".join([text, *(decoder_name(part) for part in rest)])


def label_points(ax, points: Sequence[tuple[float, float, str, str]], *, fontsize: float = 7) -> list:
    """Write each (x, y, text, color) beside its point, at the first of :data:`LABEL_OFFSETS` where it
    stays inside the axes and overlaps no text already there; a label with no such place is left out.
    Call it once the axes' limits are final. Returns the labels written."""
    renderer = ax.figure.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # settles the autoscaled limits
    inside = ax.get_window_extent(renderer)
    written, boxes = [], [t.get_window_extent(renderer) for t in ax.texts]
    for x, y, text, color in points:
        for dx, dy, ha, va in LABEL_OFFSETS:
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va, fontsize=fontsize, color=color,
                               bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7}, zorder=7)
            box = note.get_window_extent(renderer).expanded(1.05, 1.1)
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if fits and not any(box.overlaps(other) for other in boxes):
                written.append(note)
                boxes.append(box)
                break
            note.remove()
    return written


def wilson_errors(rates: Sequence[float], n: Sequence[float] | float) -> np.ndarray:
    """[2, N] distances below and above each rate to its Wilson 95% bounds (matplotlib's ``yerr``)."""
    rates = np.asarray(rates, dtype=float)
    ns = np.broadcast_to(np.asarray(n, dtype=float), rates.shape)
    bounds = np.array([stats.wilson_interval(r * k, k) for r, k in zip(rates, ns, strict=True)]).reshape(-1, 2)
    return np.clip(np.stack([rates - bounds[:, 0], bounds[:, 1] - rates]), 0, None)


def legend_below(ax, ncol: int = 2, **kwargs) -> None:
    """The legend under the axes, where it cannot cover data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, fontsize=9, frameon=False, **kwargs)


def mark_cut_axis(ax, axis: str = "y") -> bool:
    """When a rate axis does not start at 0, draw a break mark at its origin and say where it starts.
    Returns whether the axis is cut."""
    low = ax.get_ylim()[0] if axis == "y" else ax.get_xlim()[0]
    if low <= 0:
        return False
    kw = {"transform": ax.transAxes, "color": "black", "clip_on": False, "lw": 1.2}
    if axis == "y":
        for dy in (-0.012, 0.012):
            ax.plot([-0.015, 0.015], [0.03 + dy - 0.01, 0.03 + dy + 0.01], **kw)
        ax.text(0.035, 0.01, f"axis cut: starts at {low:.2f}", transform=ax.transAxes, fontsize=8, va="bottom", color="dimgray")
    else:
        for dx in (-0.012, 0.012):
            ax.plot([0.03 + dx - 0.01, 0.03 + dx + 0.01], [-0.015, 0.015], **kw)
        ax.text(0.06, 0.01, f"axis cut: starts at {low:.2f}", transform=ax.transAxes, fontsize=8, va="bottom", color="dimgray")
    return True


def paper_points(ax, points: Mapping[str, tuple[float, float]]) -> None:
    """Each paper point with its own marker and legend entry ("paper: <label>")."""
    for (label, (x, y)), marker in zip(points.items(), PAPER_MARKERS, strict=False):
        ax.scatter([x], [y], marker=marker, label=f"paper: {label}", **PAPER)


def accuracy_by_block(table: pd.DataFrame, rules: Sequence[str], *, task: str) -> plt.Figure:
    """Accuracy (Wilson 95%) against block size, one line per order rule, left to right as a band."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, rule in enumerate(rules):
        rows = table[table["sampler"] == rule]
        x = np.arange(len(rows)) + (i - (len(rules) - 1) / 2) * 0.05  # dodge the intervals
        ax.errorbar(x, rows["accuracy"], yerr=wilson_errors(rows["accuracy"], rows["n_problems"]), marker="o", capsize=3, label=rule_name(rule))
        ticks = [str(b or "whole canvas") for b in rows["block"]]
    l2r = table[table["sampler"] == "l2r"].iloc[0]
    low, high = stats.wilson_interval(l2r["accuracy"] * l2r["n_problems"], l2r["n_problems"])
    ax.axhline(l2r["accuracy"], color="black", ls="--", label="left to right (= block 1)")
    ax.axhspan(low, high, color="black", alpha=0.08, label="left to right, 95% interval")
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set(title=f"Any-order vs left-to-right ({task}, one token per step)", xlabel="block size (tokens)", ylabel="exact accuracy (fraction, 95% CI)")
    a = paper.TABLE_A_GSM8K
    ax.plot([], [], " ", label=f"paper (GSM8K, LLaDA-8B, Table A): block {' / '.join(map(str, paper.TABLE_A_BLOCK_SIZES))} = "
            f"{' / '.join(f'{paper.percent(x):g}' for x in (a.l2r, a.block_32, a.block_128))}%")
    mark_cut_axis(ax)
    legend_below(ax, ncol=2)
    return fig


def leftmost_distance(distances: np.ndarray, *, paper_mean: float = paper.LEFTMOST.mean_distance) -> plt.Figure:
    """Histogram of the committed position's distance from the leftmost mask, our mean and the paper's."""
    distances = np.asarray(distances)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(distances, bins=range(0, int(distances.max()) + 2), color="C0", label="ours (entropy, whole canvas, answer slot a candidate)")
    ax.axvline(distances.mean(), color="C3", lw=2, label=f"our mean distance ({distances.mean():.1f})")
    ax.axvline(paper_mean, color="black", ls="--", label=f"paper: mean distance ~{paper_mean:g} (block {paper.BLOCK_SIZE})")
    ax.set(title="Distance of the committed position from the leftmost mask", xlabel="distance (tokens)", ylabel="count (commits)")
    legend_below(ax, ncol=2)
    return fig


def sudoku_rates(table: pd.DataFrame, paper: Mapping[str, tuple[str, float]]) -> plt.Figure:
    """Solve rate (Wilson 95%) per rule and block size, each row named in words (:func:`setting_name`);
    ``paper``: legend label -> (row label, rate)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    y = np.arange(len(table))
    ax.barh(y, table["accuracy"], xerr=wilson_errors(table["accuracy"], table["n_problems"]), capsize=3, color="C2", label="ours (95% CI)")
    ax.set_yticks(y, [setting_name(str(label)) for label in table["label"]])
    rows = list(table["label"])
    paper_points(ax, {label: (rate, rows.index(row)) for label, (row, rate) in paper.items() if row in rows})
    ax.set(title="4x4 Sudoku solve rate by decoding order", xlabel="solve rate (fraction)", ylabel="decoding order, block size")
    legend_below(ax, ncol=2)
    return fig


def accuracy_vs_nfe(table: pd.DataFrame, *, task: str, depth: float | None = None) -> plt.Figure:
    """Accuracy (Wilson 95%) against mean NFE, one line per rule; the mean dependency depth for reference.
    Each point's setting is written beside it where there is room (:func:`label_points`), the points on
    the accuracy-NFE Pareto frontier first, so no two labels overlap."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colors = {}
    for sampler, rows in table.groupby("sampler", sort=False):
        rows = rows.sort_values("mean_nfe")
        line = ax.errorbar(rows["mean_nfe"], rows["accuracy"], yerr=wilson_errors(rows["accuracy"], rows["n_problems"]), marker="o", capsize=3,
                           label=rule_name(sampler))
        colors[sampler] = line[0].get_color()
    if depth:
        ax.axvline(depth, color="gray", ls=":", label=f"mean dependency depth of the problems ({depth:.1f}): steps a full trace needs, not a bound")
    if "label" in table:
        order = table.assign(front=pareto_frontier(table)).sort_values(["front", "mean_nfe"], ascending=[False, True], kind="stable")
        label_points(ax, [(r.mean_nfe, r.accuracy, setting_text(str(r.label)), colors[r.sampler]) for r in order.itertuples() if setting_text(str(r.label))])
    ax.set(title=f"Accuracy vs forward passes ({task})", xlabel="mean NFE per problem (forward passes)", ylabel="exact accuracy (fraction, 95% CI)")
    mark_cut_axis(ax)
    legend_below(ax, ncol=2)
    return fig


def exit_gamma_text(label: str) -> str:
    """A setting's exit threshold: ``"med + exit γ=0.1"`` -> ``"γ=0.1"``, ``"no exit"`` when it has none."""
    found = re.search(r"exit (γ=[^ ,]+)", label)
    return found.group(1) if found else "no exit"


def early_exit(table: pd.DataFrame, paper: Mapping[str, tuple[float, float]], *, reference: str = "entropy k=1") -> plt.Figure:
    """Accuracy (Wilson 95%) against NFE relative to ``reference``: per rule its exit sweep, each point
    labelled with its γ ("no exit" for the rule alone), and Prophet's exit; ``paper``: label -> (NFE,
    accuracy in %), the paper's Table C, each point in the legend. Every label is in words (:func:`setting_name`)."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    base_nfe = float(table.loc[table["label"] == reference, "mean_nfe"].iloc[0])
    sweeps = []
    for prefix, color in (("entropy", "C0"), ("med", "C1")):
        rows = table[table["label"].str.startswith(prefix) & ~table["label"].str.contains("prophet")].sort_values("mean_nfe")
        alone = [label for label in rows["label"] if "exit" not in label]
        name = setting_name(alone[0]) if alone else setting_name(prefix)
        ax.errorbar(rows["mean_nfe"] / base_nfe, rows["accuracy"], yerr=wilson_errors(rows["accuracy"], rows["n_problems"]), marker="o", capsize=3,
                    color=color, label=f"{name}: no exit and exit γ swept")
        sweeps += [(x / base_nfe, y, exit_gamma_text(label), color) for x, y, label in zip(rows["mean_nfe"], rows["accuracy"], rows["label"], strict=True)]
    for label, color in (("entropy + prophet", "C0"), ("med + prophet", "C1")):
        rows = table[table["label"] == label]
        if len(rows):
            ax.errorbar(rows["mean_nfe"] / base_nfe, rows["accuracy"], yerr=wilson_errors(rows["accuracy"], rows["n_problems"]), fmt="s", capsize=3,
                        color=color, mec="black", label=setting_name(label))
    full = max(nfe for nfe, _ in paper.values())
    paper_points(ax, {f"{setting_name(label)} ({nfe:g} NFE, {acc:g}%)": (nfe / full, acc / 100) for label, (nfe, acc) in paper.items()})
    ax.set(title="Early exit: accuracy vs relative NFE (each sweep point labelled with its exit threshold γ)",
           xlabel=f"NFE relative to {setting_name(reference)} (paper: to its {full:g})", ylabel="exact accuracy (fraction, 95% CI)")
    mark_cut_axis(ax)
    legend_below(ax, ncol=2)
    label_points(ax, sweeps)
    return fig


def h_ub_trajectories(h_ub: np.ndarray, correct: np.ndarray, *, gamma: float = 0.1, n_faint: int = 15) -> plt.Figure:
    """H_UB [problems, steps] over decoding, median per outcome and a few single problems; γ dashed."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for label, mask, color in (("correct", correct, "C0"), ("wrong", ~correct, "C3")):
        if mask.any():
            ax.plot(np.nanmedian(h_ub[mask], axis=0), color=color, lw=2.5, label=f"{label} (median, n={mask.sum()})")
            for row in h_ub[mask][:n_faint]:
                ax.plot(row, color=color, alpha=0.15)
    ax.axhline(gamma, color="black", ls="--", label=f"γ = {gamma:g} (paper's exit threshold)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)
    ax.set_yticks([0, 0.1, 0.3, 1, 3, 10], ["0", "0.1", "0.3", "1", "3", "10"])
    ax.set(title="Answer uncertainty H_UB during decoding (entropy, k = 1)", xlabel="decoding step (forward pass)", ylabel="H_UB (nats, symmetric log scale)")
    legend_below(ax, ncol=2)
    return fig


def _clustered(traces: pd.DataFrame) -> tuple[float, float, float]:
    """The fraction of fully correct traces with the interval Table D's claim and notebook 05's headline
    use (:func:`~mdlm_study.core.clustered_stats.each_cluster_once_ci`: each problem counted once)."""
    fraction = float(traces["trace_correct"].astype(bool).mean())
    low, high = each_cluster_once_ci(fraction, int(traces["uid"].nunique()))
    return fraction, low, high


def posterior_quality(traces: pd.DataFrame, failed_uids: set, kept: Mapping[float, pd.DataFrame], *,
                      paper_range: tuple[float, float] = (paper.TABLE_D.low, paper.TABLE_D.high)) -> plt.Figure:
    """Left: fraction of posterior traces fully correct, on all problems and on those free decoding got
    wrong, with intervals clustered by problem (the traces of one problem are not independent), and the
    paper's range. Right: the same fraction for the traces kept by log-probability filtering
    (``kept``: fraction kept -> its traces)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    groups = {"all problems": traces, "problems solved wrongly": traces[traces["uid"].isin(failed_uids)]}
    groups = {k: g for k, g in groups.items() if len(g)}
    est = np.array([_clustered(g) for g in groups.values()]).reshape(-1, 3)
    x = np.arange(len(groups))
    axes[0].bar(x, est[:, 0], yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]], capsize=5, color=["C0", "C3"][: len(groups)],
                label="ours (95% CI, clustered by problem)")
    if "problems solved wrongly" in groups:  # the paper's range is about these problems only
        axes[0].fill_between([len(groups) - 1.4, len(groups) - 0.6], *paper_range, color="black", alpha=0.3, zorder=3,
                             label=f"paper: {paper_range[0]:g}–{paper_range[1]:g} of traces on problems solved wrongly")
    axes[0].set_xticks(x, [f"{k}\n({g['uid'].nunique()} problems, {len(g)} traces)" for k, g in groups.items()])
    axes[0].set(title="Posterior traces that are fully correct", ylabel="fraction of traces", ylim=(0, max(1.0, paper_range[1])))
    legend_below(axes[0], ncol=1)
    keep = sorted(kept, reverse=True)
    est = np.array([_clustered(kept[k]) for k in keep]).reshape(-1, 3)
    axes[1].errorbar(keep, est[:, 0], yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]], marker="o", capsize=4, label="ours (95% CI, clustered by problem)")
    axes[1].set(title="Log-probability filtering", xlabel="fraction of traces kept per problem (highest log-prob)", ylabel="fraction fully correct", ylim=(0, 1))
    axes[1].invert_xaxis()
    legend_below(axes[1], ncol=1)
    return fig


def arm_intervals(runs: pd.DataFrame, n_problems: int) -> pd.DataFrame:
    """Per fine-tuning arm: mean accuracy over seeds and a 95% interval counting both sources of noise,
    variance ``p (1 - p) / n_problems + s^2 / S`` (problems, and the spread s^2 of the S seeds)."""
    rows = []
    for arm, g in runs.groupby("arm", sort=False):
        acc = g["accuracy"].to_numpy(dtype=float)
        mean = float(acc.mean())
        spread = float(acc.var(ddof=1)) / len(acc) if len(acc) > 1 else 0.0
        half = stats.Z95 * math.sqrt(mean * (1 - mean) / n_problems + spread)
        rows.append({"arm": arm, "accuracy_mean": mean, "low": max(0.0, mean - half), "high": min(1.0, mean + half), "n_seeds": len(acc)})
    return pd.DataFrame(rows)


def finetuning(runs: pd.DataFrame, paper: Mapping[str, float], *, n_problems: int) -> plt.Figure:
    """Accuracy per fine-tuning arm: bars with the seeds-and-problems interval, each seed a dot, the
    paper's accuracy (%) per arm as its own legend entry."""
    arms = arm_intervals(runs, n_problems)
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.arange(len(arms))
    ax.bar(x, arms["accuracy_mean"], yerr=[arms["accuracy_mean"] - arms["low"], arms["high"] - arms["accuracy_mean"]], capsize=5, color="C0",
           alpha=0.8, label="ours: mean over seeds (95% CI: seeds and problems)")
    for i, arm in enumerate(arms["arm"]):
        acc = runs.loc[runs["arm"] == arm, "accuracy"]
        ax.scatter(np.full(len(acc), i + 0.25), acc, color="white", edgecolor="black", s=25, zorder=5, label="ours: one seed" if i == 0 else None)
    paper_points(ax, {f"{arm} {paper[arm]:g}% (LLaDA-8B Base, GSM8K)": (i - 0.25, paper[arm] / 100) for i, arm in enumerate(arms["arm"]) if arm in paper})
    ax.set_xticks(x, arms["arm"])
    ax.set(title="Fine-tuning on posterior vs gold traces", xlabel="fine-tuning data", ylabel="exact accuracy (fraction)", ylim=(0, 1))
    legend_below(ax, ncol=2)
    return fig


def auroc(summary: pd.DataFrame) -> plt.Figure:
    """AUROC per score with its bootstrap 95% interval, chance at 0.5."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    y = np.arange(len(summary))
    ax.barh(y, summary["auroc"], xerr=[summary["auroc"] - summary["auroc_low"], summary["auroc_high"] - summary["auroc"]], capsize=4, color="C0",
            label="AUROC (95% bootstrap CI)")
    ax.set_yticks(y, [SCORE_NAMES.get(score, score) for score in summary["score"]])
    ax.axvline(0.5, color="black", ls="--", label="chance (0.5)")
    ax.set(title="Telling gold from corrupted traces", xlabel="AUROC (gold vs corrupted)", ylabel="score", xlim=(0, 1))
    legend_below(ax, ncol=2)
    return fig


def score_curves(table: pd.DataFrame, *, n_faint: int = 25) -> plt.Figure:
    """Cumulative change in the gold answer's log-likelihood along gold and corrupted traces: the mean
    with its 95% normal interval per prefix length, and a few single traces."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for kind, color in (("gold", "C0"), ("corrupted", "C3")):
        deltas = [np.cumsum(d) for d in table.loc[table["kind"] == kind, "answer_loglik_deltas"]]
        if not deltas:
            continue
        for d in deltas[:n_faint]:
            ax.plot(range(1, len(d) + 1), d, color=color, alpha=0.15)
        at = [np.array([d[i] for d in deltas if len(d) > i]) for i in range(max(len(d) for d in deltas))]
        mean = np.array([a.mean() for a in at])
        half = np.array([stats.Z95 * a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else 0.0 for a in at])
        steps = np.arange(1, len(at) + 1)
        ax.plot(steps, mean, color=color, lw=3, label=f"{kind} (mean, {len(deltas)} traces)")
        ax.fill_between(steps, mean - half, mean + half, color=color, alpha=0.25, label=f"{kind} mean, 95% CI")
    ax.set(title="log p(gold answer | reasoning prefix), relative to no reasoning", xlabel="reasoning steps in the prefix",
           ylabel="change in answer log-likelihood (nats)")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    legend_below(ax, ncol=2)
    return fig


def training_curves(curves: Mapping[str, pd.DataFrame], *, n_eval: int = CURVE_EVAL_N) -> plt.Figure:
    """Loss (log scale) per step, and held-out accuracy (Wilson 95% on ``n_eval`` problems, the
    training-time evaluation's size) per minute; ``curves``: model name -> ``recipes.training_curve``."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, curve in curves.items():
        axes[0].plot(curve["step"], curve["loss"], label=name)
        if "eval_accuracy" in curve:
            acc = curve.dropna(subset=["eval_accuracy"])
            axes[1].errorbar(acc["minutes"], acc["eval_accuracy"], yerr=wilson_errors(acc["eval_accuracy"], n_eval), marker="o", capsize=2, label=name)
    axes[0].set(title="Training loss (LLaDA objective)", xlabel="optimizer step", ylabel="loss (nats / response token, log scale)", yscale="log")
    axes[1].set(title="Held-out accuracy vs training time", xlabel="training wall time (minutes)",
                ylabel=f"exact accuracy (greedy, left to right, {n_eval} problems, 95% CI)", ylim=(0, 1))
    for ax in axes:
        legend_below(ax, ncol=2)
    return fig


def _forest_limits(rows: Sequence[dict]) -> tuple[float, float]:
    """The x range (points) of every seed's interval and every pooled and prediction interval, zero included, padded by 8%."""
    ends = [0.0] + [100 * x[k] for r in rows for x in (r["pooled"], *r["per_seed"]) for k in ("low", "high")]
    ends += [100 * r["pooled"][k] for r in rows for k in ("prediction_low", "prediction_high") if r["pooled"].get(k) is not None]
    pad = 0.08 * (max(ends) - min(ends) or 1.0)
    return min(ends) - pad, max(ends) + pad


def _forest_paper(ax, value: float, y: float, limits: tuple[float, float], *, label: str | None) -> None:
    """The paper's value as a red cross, or, off the seeds' scale, an arrow at the edge with its value written."""
    low, high = limits
    if low <= value <= high:
        ax.plot(value, y, marker="x", ms=7, mew=2, color="tab:red", ls="none", label=label)
        return
    left = value < low
    edge = low if left else high
    ax.plot(edge, y, marker="<" if left else ">", ms=7, color="tab:red", ls="none", label=label, clip_on=False)
    ax.annotate(f"paper {value:+.1f}", (edge, y), xytext=(8 if left else -8, 0), textcoords="offset points",
                ha="left" if left else "right", va="center", fontsize=7, color="tab:red")


def seeds_forest(results: Sequence[dict], *, title: str = "Decoding claims across training seeds") -> plt.Figure:
    """Per claim (labelled by its text, verdict and seeds holding): every seed's paired difference with its
    95% interval, the random-effects pooled estimate as a diamond with its prediction interval for a new
    seed as a thin bar, the paper's difference as a red cross (GSM8K, LLaDA), and a zero line."""
    rows = [r for r in results if "pooled" in r]
    n_seeds = max(len(r["per_seed"]) for r in rows)
    fig, ax = plt.subplots(figsize=(10, 0.22 * len(rows) * (0.25 * n_seeds + 1.05) + 1.8))
    colors = plt.get_cmap("tab10")
    ticks, labels, labelled = [], [], set()
    limits = _forest_limits(rows)
    ax.set_xlim(*limits)
    y = 0.0
    for r in reversed(rows):
        pooled = r["pooled"]
        if pooled.get("prediction_low") is not None:
            ax.plot([100 * pooled["prediction_low"], 100 * pooled["prediction_high"]], [y, y], color="black", lw=1,
                    label=None if "prediction" in labelled else "prediction interval: a new training seed")
            labelled.add("prediction")
        ax.fill([100 * pooled["low"], 100 * pooled["difference"], 100 * pooled["high"], 100 * pooled["difference"]],
                [y, y + 0.18, y, y - 0.18], color="black", label=None if "pooled" in labelled else "pooled over seeds (random effects)")
        labelled.add("pooled")
        if r.get("paper") is not None:
            _forest_paper(ax, 100 * r["paper"], y, limits, label=None if "paper" in labelled else "the paper (GSM8K, LLaDA)")
            labelled.add("paper")
        ticks.append(y)
        labels.append(f"{r['text']}\n{pooled['verdict']}, holds on {r['holding']['holding']} of {r['holding']['total']} seeds")
        for i, s in enumerate(r["per_seed"]):
            yy = y + 0.45 + 0.25 * i
            ax.errorbar(100 * s["difference"], yy, xerr=[[100 * (s["difference"] - s["low"])], [100 * (s["high"] - s["difference"])]],
                        fmt="o", ms=3, color=colors(s["seed"] % 10), label=None if s["seed"] in labelled else f"training seed {s['seed']}")
            labelled.add(s["seed"])
        y += 0.45 + 0.25 * n_seeds + 0.6
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("accuracy difference, this rule minus its reference (points; 95% intervals)")
    ax.set_title(title, fontsize=10)
    legend_below(ax, ncol=2)
    fig.tight_layout()
    return fig


REGIME_STYLE = {"default": ("tab:blue", "o", "the default regime (its seeds study: 3-operation problems)"),
                "deep": ("tab:orange", "s", "the deep regime (chains of {depths} steps)")}  # {depths}: the deep rows' own range


def effects_by_depth(table: pd.DataFrame, *, title: str = "Each decoding claim's effect by dependency depth, in both regimes") -> plt.Figure:
    """One panel per claim (:func:`mdlm_study.experiments.depth_effects.effects_by_depth`'s rows): the paired
    difference (points, 95% interval, pooled over training seeds) at each depth, one series per regime, the
    paper's difference (GSM8K, LLaDA) as a red dashed line and zero as a grey one."""
    claims = list(dict.fromkeys(table["claim"]))
    cols = min(5, len(claims))
    rows = math.ceil(len(claims) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.9 * rows + 0.9), sharex=True, squeeze=False)
    depths = sorted(table["depth"].unique())
    deep = sorted(table.loc[table["regime"] == "deep", "depth"].unique())
    deep_range = f"{deep[0]}-{deep[-1]}" if deep else ""
    handles = {}
    for ax, claim in zip(axes.flat, claims, strict=False):
        part = table[table["claim"] == claim]
        for regime, (color, marker, label) in REGIME_STYLE.items():
            r = part[part["regime"] == regime].sort_values("depth")
            if r.empty:
                continue
            shift = -0.1 if regime == "default" else 0.1
            d = 100 * r["difference"].to_numpy()
            h = ax.errorbar(r["depth"] + shift, d, yerr=[d - 100 * r["low"].to_numpy(), 100 * r["high"].to_numpy() - d], fmt=marker + "-",
                            ms=4, lw=1, capsize=2, color=color)
            handles.setdefault(label.format(depths=deep_range), h)
        paper_value = part["paper"].dropna()
        if len(paper_value):
            handles.setdefault("the paper (GSM8K, LLaDA)", ax.axhline(100 * paper_value.iloc[0], color="tab:red", ls="--", lw=1))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title("\n".join(textwrap.wrap(part["text"].iloc[0], 34)), fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_xticks(depths)
    for ax in axes.flat[len(claims):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("difference (points)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("dependency depth (steps)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def decoder_name(decoder: str) -> str:
    """The words a figure uses for a frontier decoder family (``benchmarks/bench_frontier.py``'s names):
    ``"entropy_k2"`` -> ``"entropy order, 2 per pass"``, ``"wino+exit"`` -> ``"WINO + exit"``."""
    if decoder.endswith("+exit"):
        return f"{decoder_name(decoder[: -len('+exit')])} + exit"
    if decoder.startswith("entropy_k"):
        return f"entropy order, {decoder[len('entropy_k'):]} per pass"
    return {"med_exit": "MED + exit", "prophet": "Prophet's exit"}.get(decoder, rule_name(decoder))


def decoder_frontier(pooled: pd.DataFrame, *, title: str = "Every decoder on one frontier") -> plt.Figure:
    """One panel per template: each decoder setting's accuracy pooled over training seeds (random
    effects, 95% interval with the seed as the unit) against its mean NFE; the Pareto frontier of
    the pooled points as a line, its points named. ``pooled``: ``decoder_frontier.pooled_settings``."""
    templates = list(dict.fromkeys(pooled["template"]))
    fig, axes = plt.subplots(1, len(templates), figsize=(7.5 * len(templates), 7), squeeze=False, sharey=True)
    decoders = list(dict.fromkeys(pooled["decoder"]))
    colors = {d: plt.get_cmap("tab20")(i % 20) for i, d in enumerate(decoders)}
    fronts = []
    for ax, template in zip(axes[0], templates, strict=True):
        part = pooled[pooled["template"] == template]
        for decoder, rows in part.groupby("decoder", sort=False):
            low, high = rows["low"].fillna(rows["accuracy"]), rows["high"].fillna(rows["accuracy"])
            marker = "D" if decoder.endswith("+exit") or decoder == "med_exit" else "o"
            ax.errorbar(rows["mean_nfe"], rows["accuracy"], yerr=[rows["accuracy"] - low, high - rows["accuracy"]], fmt=marker, ms=5,
                        capsize=2, color=colors[decoder], label=decoder_name(decoder))
        front = part[part["on_pooled_frontier"]].sort_values("mean_nfe")
        ax.step(front["mean_nfe"], front["accuracy"], where="post", color="black", lw=1, zorder=0)
        fronts.append(front)
        seeds = int(part["seeds"].max())
        ax.set(title=f"template {template!r}, {seeds} training seeds", xlabel="mean NFE per problem (forward passes, mean over seeds)",
               ylabel="exact accuracy (pooled over seeds, 95% CI)")
        ax.set_xscale("log")
    for ax, front in zip(axes[0], fronts, strict=True):  # once every panel is drawn: the shared y limits are final
        label_points(ax, [(row.mean_nfe, row.accuracy, f"{decoder_name(row.decoder)} {setting_text(str(row.label))}".strip(), "black")
                          for row in front.itertuples()])
    mark_cut_axis(axes[0][0])  # the panels share their y axis
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{title}: the black line is the frontier of the pooled points (diamonds: a rule with MED's exit)", fontsize=10)
    fig.tight_layout(rect=(0, 0.17, 1, 0.96))
    return fig
