"""The frontier study's analysis on hand-built records whose frontier, shares and pooled points are
known by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdlm_study.core.frontier import aup
from mdlm_study.experiments import decoder_frontier as df


def record(model, decoder, label, accuracy, nfe, *, template="default", tpf=None, n=100):
    return {"model": model, "template": template, "decoder": decoder, "label": label, "accuracy": accuracy, "mean_nfe": nfe,
            "tokens_per_forward": tpf if tpf is not None else 28 / nfe, "n_problems": n}


def two_seed_records():
    """Seed a: l2r (0.90, 28) and MED + exit (0.88, 10) on the frontier; fixed k=2 (0.80, 14) dominated by MED + exit.
    Seed b: MED + exit (0.91, 10) dominates l2r (0.90, 28); WINO + exit (0.70, 5) is on the frontier alone."""
    return [record("a", "l2r", "l2r", 0.90, 28), record("a", "med_exit", "med λ=0.2 γ=0.1", 0.88, 10),
            record("a", "entropy_k2", "entropy k=2", 0.80, 14), record("a", "wino+exit", "wino τ=0.5 γ=0.1", 0.60, 5),
            record("b", "l2r", "l2r", 0.90, 28), record("b", "med_exit", "med λ=0.2 γ=0.1", 0.91, 10),
            record("b", "entropy_k2", "entropy k=2", 0.80, 14), record("b", "wino+exit", "wino τ=0.5 γ=0.1", 0.70, 5)]


def test_frontier_per_seed_by_hand():
    table = df.frontier_table(two_seed_records())
    on = {(r.model, r.decoder) for r in table.itertuples() if r.on_frontier}
    assert on == {("a", "l2r"), ("a", "med_exit"), ("a", "wino+exit"), ("b", "med_exit"), ("b", "wino+exit")}


def test_shares_count_seeds():
    shares = df.decoder_shares(df.frontier_table(two_seed_records())).set_index("decoder")
    assert shares.loc["med_exit", "on_frontier"] == 2 and shares.loc["med_exit", "seeds"] == 2
    assert shares.loc["l2r", "on_frontier"] == 1
    assert shares.loc["entropy_k2", "on_frontier"] == 0


def test_pooled_points_use_seeds_as_the_unit():
    pooled = df.pooled_settings(df.frontier_table(two_seed_records())).set_index("decoder")
    # the seeds agree within their noise (tau^2 = 0): the inverse-variance mean, variances from (x + 1) / (n + 2)
    smoothed = [(0.88 * 100 + 1) / 102, (0.91 * 100 + 1) / 102]
    weights = [100 / (p * (1 - p)) for p in smoothed]
    assert pooled.loc["med_exit", "accuracy"] == pytest.approx((weights[0] * 0.88 + weights[1] * 0.91) / sum(weights))
    assert pooled.loc["med_exit", "low"] < 0.88 and pooled.loc["med_exit", "high"] > 0.91
    # seeds 0.60 and 0.70 disagree beyond their binomial noise at n = 100: the interval is wider than either seed's own
    wino = pooled.loc["wino+exit"]
    assert wino["high"] - wino["low"] > 0.2
    k2 = pooled.loc["entropy_k2"]  # identical seeds: the pooled rate is theirs, inside a finite interval
    assert k2["accuracy"] == pytest.approx(0.80) and 0.0 <= k2["low"] < 0.80 < k2["high"] <= 1.0  # t with 1 df: wide
    assert bool(pooled.loc["med_exit", "on_pooled_frontier"]) and not bool(pooled.loc["entropy_k2", "on_pooled_frontier"])
    assert pooled.loc["med_exit", "seeds_on_frontier"] == 2


def test_combination_points_only_a_combination_reaches():
    pooled = df.pooled_settings(df.frontier_table(two_seed_records()))
    combos = df.combination_points(pooled)
    assert set(combos["decoder"]) == {"med_exit", "wino+exit"}  # nothing single reaches NFE <= 10 at accuracy >= 0.895
    single_better = pooled.assign(accuracy=pooled["accuracy"].where(pooled["decoder"] != "l2r", 0.99),
                                  mean_nfe=pooled["mean_nfe"].where(pooled["decoder"] != "l2r", 4.0))
    assert df.combination_points(single_better).empty  # a single decoder at (0.99, 4) covers every combined point


def test_aup_per_decoder_uses_the_seed_best_accuracy():
    table = df.frontier_table(two_seed_records())
    aups = df.decoder_aup(table).set_index("decoder")
    expected_a = aup([(28 / 28, 90.0)], y_max=90.0)
    expected_b = aup([(28 / 28, 90.0)], y_max=91.0)
    assert aups.loc["l2r", "aup"] == pytest.approx((expected_a + expected_b) / 2)
    assert aups.loc["l2r", "seeds"] == 2


def test_answers():
    answers = df.frontier_answers(df.frontier_table(two_seed_records()))["default"]
    assert answers["seeds"] == 2 and answers["med_exit_on_frontier"] == 2
    assert answers["always_on_frontier"] == ["med_exit", "wino+exit"]
    assert answers["pooled_frontier"] == ["l2r", "med_exit", "wino+exit"]  # l2r's pooled 0.90 beats MED + exit's 0.895
    assert answers["combination_only_points"] == ["med λ=0.2 γ=0.1", "wino τ=0.5 γ=0.1"]


def test_bad_records_are_named():
    with pytest.raises(ValueError, match="at least one record"):
        df.frontier_table([])
    broken = two_seed_records()
    del broken[2]["mean_nfe"]
    with pytest.raises(ValueError, match=r"record 2 \('entropy k=2'\) lacks \['mean_nfe'\]"):
        df.frontier_table(broken)
    with pytest.raises(ValueError, match="recorded twice for model 'a'"):
        df.frontier_table(two_seed_records() + [record("a", "l2r", "l2r", 0.5, 28)])


def test_report_reads_a_records_folder_and_draws(tmp_path):
    import json

    from mdlm_study.reporting import frontier_report

    assert frontier_report.load_frontier(tmp_path) is None  # no records: nothing to show
    (tmp_path / "arithmetic_default.json").write_text(json.dumps({"records": two_seed_records()}))
    (tmp_path / "arithmetic_long.json").write_text(json.dumps([{**r, "template": "long"} for r in two_seed_records()]))
    table = frontier_report.load_frontier(tmp_path)
    assert len(table) == 16 and set(table["template"]) == {"default", "long"}
    rows = frontier_report.decoder_rows(table)
    med_exit = rows[(rows["template"] == "default") & (rows["decoder"] == "MED + exit")].iloc[0]
    assert med_exit["on the frontier"] == "2 of 2 seeds" and med_exit["best setting"] == "med λ=0.2 γ=0.1"
    sentences = frontier_report.frontier_sentences(table)
    assert sentences[0].startswith("Template 'default' (2 training seeds): MED + exit is on the frontier of 2 of 2 seeds;")
    assert "on every seed's frontier: MED + exit, WINO + exit" in sentences[0]
    markdown = frontier_report.frontier_markdown(table)
    assert markdown.count("\n| default |") == 4 and "| entropy order, 2 per pass | 0 of 2 seeds |" in markdown
    fig = frontier_report.frontier_figure(frontier_report.decoder_frontier.pooled_settings(table))
    assert len(fig.axes) == 2 and all(ax.get_xscale() == "log" for ax in fig.axes)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert "MED + exit λ=0.2 γ=0.1" in texts  # frontier points are named in words


def test_show_frontier_saves_the_figure_with_the_seeds_weights(tmp_path):
    """Notebook 07's call: the figure is written with its sidecar naming every seed's weights SHA-256."""
    import json

    from mdlm_study.reporting import frontier_report

    sha = {"a": "a" * 64, "b": "b" * 64}
    records = [{**r, "weights_sha256": sha[r["model"]]} for r in two_seed_records()]
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "arithmetic_default.json").write_text(json.dumps({"records": records}))
    saved = frontier_report.show_frontier(tmp_path / "records", out_dir=tmp_path / "out", params={"seed": 0}, notebook="07_summary")
    png = tmp_path / "out" / "figures" / "07_decoder_frontier.png"
    assert Path(saved) == png and png.read_bytes().startswith(b"\x89PNG")
    sidecar = json.loads(png.with_suffix(".json").read_text())
    assert all(digest in json.dumps(sidecar) for digest in sha.values())
    assert frontier_report.show_frontier(tmp_path / "empty") is None


def test_frontier_labels_never_overlap_and_a_shared_axis_from_zero_is_not_marked_cut():
    """Frontier points are named through plots.label_points (no two labels overlap once drawn), and the
    cut-axis note reads the shared y axis after every panel is drawn: a panel reaching 0 leaves it uncut."""
    from mdlm_study.reporting import frontier_report

    close = [("l2r", "l2r", 0.90, 28), ("med_exit", "med λ=0.2 γ=0.1", 0.895, 9.6), ("wino+exit", "wino τ=0.5 γ=0.1", 0.89, 9.2),
             ("eb", "eb γ=0.1", 0.885, 8.8)]  # frontier points close together: fixed offsets would write their names over each other
    records = [record(seed, decoder, label, acc - low, nfe, template=template, n=100_000)
               for template, low in (("high", 0.0), ("low", 0.885)) for seed in ("a", "b") for decoder, label, acc, nfe in close]
    fig = frontier_report.frontier_figure(df.pooled_settings(df.frontier_table(records)))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert boxes and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert not any("axis cut" in t.get_text() for ax in fig.axes for t in ax.texts) and fig.axes[0].get_ylim()[0] <= 0
