"""Every figure: intervals on rates, cut axes marked, each paper point in the legend, legends off the data.

Run on the committed full-run tables where the figure's data is in them, otherwise on small fake data;
``MDLM_PLOTS_DIR=<dir>`` keeps the PNGs for looking at."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mdlm_study.core import stats
from mdlm_study.core.frontier import pareto_frontier
from mdlm_study.core.records import ROOT  # noqa: E402
from mdlm_study.reporting import plots  # noqa: E402

TABLES = ROOT / "figures" / "tables"


def finish(fig, name, tmp_path):
    folder = os.environ.get("MDLM_PLOTS_DIR") or tmp_path
    fig.savefig(f"{folder}/{name}.png", bbox_inches="tight")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:  # the legend lies entirely below the axes and their x label: it covers neither
            fig.canvas.draw()
            assert legend.get_window_extent().y1 <= ax.get_window_extent().y0 + 1, name
            if ax.xaxis.label.get_text():
                assert legend.get_window_extent().y1 <= ax.xaxis.label.get_window_extent().y0 + 1, f"{name}: the legend covers the x label"
    plt.close(fig)


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def error_bars(ax):
    return [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]


def drawn_words(fig):
    """Every tick label, legend entry, title, axis label and note of a drawn figure."""
    fig.canvas.draw()
    texts = [t.get_text() for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label)]
    return texts + [label for ax in fig.axes if ax.get_legend() for label in legend_labels(ax)]


def assert_in_words(fig):
    """No code name of a rule or a block size is left in the drawn figure."""
    for text in drawn_words(fig):
        assert not any(code in text for code in ("l2r", "b=all", "b=1", "b=4", "k=1 ", "med ", "med_budget", "entropy k=")), text


def assert_apart(ax):
    """No two notes in the axes overlap once drawn."""
    ax.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1:]), ax.texts[i].get_text()


def cut_note(ax):
    return [t.get_text() for t in ax.texts if t.get_text().startswith("axis cut")]


@pytest.mark.parametrize(("label", "words"), [
    ("l2r", "left to right"), ("entropy b=all", "entropy order, whole canvas"), ("random b=4", "random order, blocks of 4"),
    ("entropy k=1", "entropy order, 1 per pass"), ("med λ=0.2 + exit γ=0.1", "MED λ=0.2 + exit γ=0.1"),
    ("med + prophet", "MED + Prophet's exit"), ("fast τ=0.9", "Fast-dLLM τ=0.9"), ("entropy k=2, blocks of 8", "entropy order, 2 per pass, blocks of 8"),
])
def test_a_setting_label_reads_in_words(label, words):
    assert plots.setting_name(label) == words


def test_point_labels_that_would_overlap_are_moved_or_left_out():
    fig, ax = plt.subplots()
    ax.set(xlim=(0, 10), ylim=(0, 10))
    written = plots.label_points(ax, [(5, 5, "first label", "C0")] * 12)
    assert 1 < len(written) < 12
    assert_apart(ax)
    plt.close(fig)


def test_wilson_errors_are_the_distances_to_the_wilson_bounds():
    errors = plots.wilson_errors([0.5, 0.0], [100, 10])
    low, high = stats.wilson_interval(50, 100)
    assert errors[:, 0] == pytest.approx([0.5 - low, high - 0.5]) and errors[0, 1] == 0 and errors[1, 1] > 0


def test_a_cut_axis_is_marked_and_a_full_one_is_not():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.8, 0.9])
    assert plots.mark_cut_axis(ax) and cut_note(ax) == [f"axis cut: starts at {ax.get_ylim()[0]:.2f}"]
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.set_ylim(0, 1)
    assert not plots.mark_cut_axis(ax2) and not cut_note(ax2)
    plt.close(fig)


def test_accuracy_by_block_and_sudoku_on_the_committed_table(tmp_path):
    table = pd.read_csv(TABLES / "02_any_order_vs_l2r.csv")
    arithmetic = table[table["task"] == "arithmetic"].copy()
    fig = plots.accuracy_by_block(arithmetic, ["random", "confidence", "margin", "entropy"], task="arithmetic")
    ax = fig.axes[0]
    assert len(error_bars(ax)) == 4 and cut_note(ax) and "left to right, 95% interval" in legend_labels(ax)
    assert_in_words(fig)
    finish(fig, "02_accuracy_by_block", tmp_path)
    sudoku = table[table["task"] == "sudoku"].reset_index(drop=True)
    fig = plots.sudoku_rates(sudoku, {"L2R 36.13% (LLaDA-8B, Table A)": ("l2r", 0.3613), "block 128 47.64%": ("entropy b=all", 0.4764)})
    ax = fig.axes[0]
    assert {"paper: L2R 36.13% (LLaDA-8B, Table A)", "paper: block 128 47.64%"} <= set(legend_labels(ax)) and len(error_bars(ax)) == 1
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert {"left to right", "entropy order, whole canvas", "random order, blocks of 4"} <= set(ticks) and len(ticks) == len(sudoku)
    assert_in_words(fig)
    finish(fig, "02_sudoku", tmp_path)


def test_leftmost_distance_draws_our_mean_beside_the_papers(tmp_path):
    dist = np.random.default_rng(0).integers(0, 24, 2000)
    fig = plots.leftmost_distance(dist)
    labels = legend_labels(fig.axes[0])
    assert f"our mean distance ({dist.mean():.1f})" in labels and "paper: mean distance ~3 (block 32)" in labels
    finish(fig, "02_leftmost_distance", tmp_path)


def test_accuracy_vs_nfe_does_not_call_the_dependency_depth_a_bound(tmp_path):
    table = pd.read_csv(TABLES / "03_parallel_decoding.csv")
    table = table[table["task"] == "arithmetic"]
    fig = plots.accuracy_vs_nfe(table, task="arithmetic", depth=4.0)
    ax = fig.axes[0]
    assert len(error_bars(ax)) == table["sampler"].nunique() and cut_note(ax)
    assert any("not a bound" in label for label in legend_labels(ax)) and not any(label.endswith("bound (4.0 NFE)") for label in legend_labels(ax))
    assert "MED" in legend_labels(ax) and "med" not in legend_labels(ax)  # words, not code names
    notes = {t.get_text() for t in ax.texts}
    assert "λ=0.2" in notes and any(n.startswith("τ=") for n in notes)  # swept points carry their setting
    front = table[pareto_frontier(table)]
    assert {plots.setting_text(label) for label in front["label"]} <= notes  # the frontier's points first
    assert_apart(ax)
    assert_in_words(fig)
    finish(fig, "03_accuracy_vs_nfe", tmp_path)


def test_early_exit_labels_every_paper_point(tmp_path):
    table = pd.read_csv(TABLES / "04_early_exit.csv")
    paper = {"entropy k=1": (256, 79.4), "entropy + exit γ=0.1": (193, 78.6), "med λ=0.2": (94, 79.9), "med + exit γ=0.1": (77, 79.3)}
    fig = plots.early_exit(table, paper)
    ax = fig.axes[0]
    assert sum(label.startswith("paper: ") for label in legend_labels(ax)) == 4 and len(error_bars(ax)) == 4 and cut_note(ax)
    notes = sorted(t.get_text() for t in ax.texts if not t.get_text().startswith("axis cut"))
    assert notes == sorted(["no exit", "γ=0.1", "γ=1.0"] * 2)  # every point of both γ sweeps carries its γ
    assert "paper: entropy order, 1 per pass (256 NFE, 79.4%)" in legend_labels(ax) and "MED + Prophet's exit" in legend_labels(ax)
    assert "entropy order, 1 per pass" in ax.get_xlabel()
    assert_apart(ax)
    assert_in_words(fig)
    finish(fig, "04_early_exit", tmp_path)


def test_h_ub_axis_starts_at_zero(tmp_path):
    rng = np.random.default_rng(0)
    h = np.abs(rng.normal(1, 0.5, (40, 28))) * np.linspace(1, 0, 28)
    fig = plots.h_ub_trajectories(h, rng.random(40) < 0.8)
    assert fig.axes[0].get_ylim()[0] == 0
    finish(fig, "04_h_ub_trajectories", tmp_path)


def test_posterior_quality_clusters_traces_by_problem(tmp_path):
    """Four traces per problem, all right or all wrong: the interval must be as wide as one trace per problem."""
    uids = np.repeat(np.arange(50), 4)
    solved = np.repeat(np.random.default_rng(1).random(50) < 0.4, 4)
    traces = pd.DataFrame({"uid": uids, "trace_correct": solved})
    fig = plots.posterior_quality(traces, set(range(25)), {1.0: traces, 0.5: traces[traces.index % 4 < 2]})
    bars = next(c for c in fig.axes[0].containers if isinstance(c, matplotlib.container.BarContainer))
    heights = [b.get_height() for b in bars.patches]
    segments = bars.errorbar.lines[2][0].get_segments()
    widths = [s[1][1] - s[0][1] for s in segments]
    naive = stats.wilson_interval(solved.sum(), len(solved))
    clustered = stats.wilson_interval(solved[::4].sum(), 50)
    assert heights[0] == pytest.approx(solved.mean())
    assert widths[0] == pytest.approx(clustered[1] - clustered[0], rel=0.02) and widths[0] > 1.5 * (naive[1] - naive[0])
    assert any(label.startswith("paper: 0.36–0.43") for label in legend_labels(fig.axes[0]))
    finish(fig, "05_posterior_quality", tmp_path)
    fig = plots.posterior_quality(traces, set(), {1.0: traces})  # a smoke run where free decoding never failed
    assert len(fig.axes[0].patches) == 1 and not any(label.startswith("paper") for label in legend_labels(fig.axes[0]))
    plt.close(fig)


def test_finetuning_intervals_count_seeds_and_problems(tmp_path):
    runs = pd.read_csv(TABLES / "05_finetuning.csv")
    arms = plots.arm_intervals(runs, 150).set_index("arm")
    gold = runs.loc[runs["arm"] == "gold", "accuracy"]
    half = stats.Z95 * np.sqrt(gold.mean() * (1 - gold.mean()) / 150 + gold.var(ddof=1) / 3)
    assert arms.loc["gold", "high"] - arms.loc["gold", "accuracy_mean"] == pytest.approx(half)
    base = arms.loc["base"]
    assert base["high"] - base["low"] == pytest.approx(2 * stats.Z95 * np.sqrt(base["accuracy_mean"] * (1 - base["accuracy_mean"]) / 150))
    fig = plots.finetuning(runs, {"base": 51.2, "gold": 64.6, "posterior": 66.1, "both": 67.3}, n_problems=150)
    assert sum(label.startswith("paper: ") for label in legend_labels(fig.axes[0])) == 4
    finish(fig, "05_finetuning", tmp_path)


def test_auroc_and_score_curves(tmp_path):
    fig = plots.auroc(pd.read_csv(TABLES / "06_step_scoring.csv"))
    assert fig.axes[0].get_xlim() == (0, 1)
    assert "answer log-likelihood" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    finish(fig, "06_auroc", tmp_path)
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"kind": ["gold"] * 30 + ["corrupted"] * 30,
                          "answer_loglik_deltas": [list(rng.normal(0.3, 0.5, 3)) for _ in range(30)] + [list(rng.normal(-3, 2, 3)) for _ in range(30)]})
    fig = plots.score_curves(table)
    assert "gold mean, 95% CI" in legend_labels(fig.axes[0])
    finish(fig, "06_score_curves", tmp_path)


def test_training_curves_carry_wilson_intervals(tmp_path):
    curve = pd.DataFrame({"step": [100, 200, 300], "minutes": [1.0, 2.0, 3.0], "loss": [2.0, 1.0, 0.5], "eval_accuracy": [0.1, np.nan, 0.8]})
    fig = plots.training_curves({"default": curve, "answer_only": curve.assign(eval_accuracy=[0.05, np.nan, 0.1])})
    assert len(error_bars(fig.axes[1])) == 2 and fig.axes[1].get_ylim() == (0, 1)
    assert f"{plots.CURVE_EVAL_N} problems" in fig.axes[1].get_ylabel()
    finish(fig, "01_training_curves", tmp_path)
