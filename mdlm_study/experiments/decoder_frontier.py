"""Every decoder on one accuracy-versus-NFE frontier, across training seeds and canvas templates.

Reads the records of ``benchmarks/bench_frontier.py`` (one record per model, template and decoder
setting, each with accuracy, mean NFE, tokens per forward and AUP) and answers the questions of the
frontier study (docs/decisions.md, "The decoders' frontier"):

- :func:`frontier_table`: the records as a table, each setting marked when it is on its own seed's
  and template's Pareto frontier (no other setting has both fewer forward passes and no lower
  accuracy; :func:`mdlm_study.core.frontier.pareto_frontier`);
- :func:`pooled_settings`: each setting's accuracy pooled over the seeds with the seed as the unit
  (random effects, DerSimonian-Laird with the Hartung-Knapp interval,
  :func:`mdlm_study.core.pooling.random_effects`) and its mean NFE, marked when it is on the
  frontier of the pooled points;
- :func:`decoder_shares`: per template and decoder, on how many seeds at least one of its settings
  is on that seed's frontier (:func:`mdlm_study.core.frontier.frontier_share`);
- :func:`decoder_aup`: hao-ai-lab's AUP of each decoder's curve per seed (``y_max``: the best
  accuracy any decoder reached on that seed and template), and its mean over seeds;
- :func:`combination_points`: the settings of a decoder combined with MED's early exit that no
  single decoder's setting reaches (no single setting has NFE <= and accuracy >= on the pooled
  points), the question "does a combination reach a point no single method reaches?".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from mdlm_study.core import frontier
from mdlm_study.core.pooling import random_effects

COLUMNS = ("model", "template", "decoder", "label", "accuracy", "mean_nfe", "tokens_per_forward", "n_problems")
# Decoder families that combine a rule with MED's early exit (the paper's MED + exit among them).
COMBINED_SUFFIX = "+exit"
PAPER_COMBINATION = "med_exit"


def is_combination(decoder: str) -> bool:
    """Whether a decoder family combines a rule with MED's early exit (``"wino+exit"``, ``"med_exit"``)."""
    return decoder.endswith(COMBINED_SUFFIX) or decoder == PAPER_COMBINATION


def frontier_table(records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per record (model = training seed, template, decoder family, setting label), with
    ``on_frontier``: on the Pareto frontier of its own model and template. ``ValueError`` names a
    missing field or a setting recorded twice."""
    rows = list(records)
    if not rows:
        raise ValueError("frontier_table needs at least one record")
    for i, row in enumerate(rows):
        missing = [c for c in COLUMNS if row.get(c) is None]
        if missing:
            raise ValueError(f"frontier record {i} ({row.get('label')!r}) lacks {missing}")
    table = pd.DataFrame([{c: row[c] for c in COLUMNS} for row in rows])
    if all(row.get("weights_sha256") for row in rows):  # the seeds' weights, for a figure's provenance
        table["weights_sha256"] = [row["weights_sha256"] for row in rows]
    duplicated = table.duplicated(["model", "template", "label"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise ValueError(f"setting {first['label']!r} is recorded twice for model {first['model']!r}, template {first['template']!r}")
    table["on_frontier"] = False
    for _, part in table.groupby(["model", "template"]):
        table.loc[part.index, "on_frontier"] = frontier.pareto_frontier(part)
    return table


def _pooled_accuracy(accuracies: pd.Series, n_problems: pd.Series) -> dict:
    """Random-effects pooled accuracy over seeds; each seed's variance from its smoothed rate
    ``(x + 1) / (n + 2)`` (a seed at 0% or 100% still has a positive variance)."""
    successes = accuracies * n_problems
    smoothed = (successes + 1) / (n_problems + 2)
    variances = smoothed * (1 - smoothed) / n_problems
    if len(accuracies) < 2:
        value = float(accuracies.iloc[0])
        return {"accuracy": value, "low": None, "high": None, "i2": None}
    pooled = random_effects(accuracies.to_numpy(float), variances.to_numpy(float))
    return {"accuracy": pooled["estimate"], "low": max(0.0, pooled["low"]), "high": min(1.0, pooled["high"]), "i2": pooled["i2"]}


def pooled_settings(table: pd.DataFrame) -> pd.DataFrame:
    """Per template and setting: the accuracy pooled over seeds with its 95% interval (seeds as the
    unit), the mean NFE and tokens per forward over seeds, the number of seeds, how many seeds put it
    on their frontier, and ``on_pooled_frontier`` (the Pareto frontier of the pooled points)."""
    rows = []
    for (template, decoder, label), part in table.groupby(["template", "decoder", "label"], sort=False):
        rows.append({"template": template, "decoder": decoder, "label": label,
                     **_pooled_accuracy(part["accuracy"], part["n_problems"]),
                     "mean_nfe": float(part["mean_nfe"].mean()), "tokens_per_forward": float(part["tokens_per_forward"].mean()),
                     "seeds": len(part), "seeds_on_frontier": int(part["on_frontier"].sum())})
    pooled = pd.DataFrame(rows)
    pooled["on_pooled_frontier"] = False
    for _, part in pooled.groupby("template"):
        pooled.loc[part.index, "on_pooled_frontier"] = frontier.pareto_frontier(part)
    return pooled


def decoder_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Per template and decoder family: seeds on whose frontier at least one of its settings lies,
    out of the seeds it was run on (``on_frontier`` / ``seeds``)."""
    parts = []
    for template, part in table.groupby("template"):
        share = frontier.frontier_share(part, groups=("model",)).rename(columns={"groups": "seeds"})
        parts.append(share.assign(template=template))
    return pd.concat(parts, ignore_index=True)[["template", "decoder", "on_frontier", "seeds"]]


def decoder_aup(table: pd.DataFrame) -> pd.DataFrame:
    """Per template and decoder family: the AUP of its settings' curve (tokens per forward, accuracy
    %) on each seed, ``y_max`` the best accuracy of any decoder on that seed and template; the mean
    and range over seeds."""
    rows = []
    for (template, model), part in table.groupby(["template", "model"]):
        best = 100 * float(part["accuracy"].max())
        for decoder, settings in part.groupby("decoder"):
            points = list(zip(settings["tokens_per_forward"], 100 * settings["accuracy"], strict=True))
            rows.append({"template": template, "model": model, "decoder": decoder, "aup": frontier.aup(points, y_max=best)})
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby(["template", "decoder"])["aup"].agg(aup="mean", aup_min="min", aup_max="max", seeds="count")
    return summary.reset_index().sort_values(["template", "aup"], ascending=[True, False], ignore_index=True)


def combination_points(pooled: pd.DataFrame) -> pd.DataFrame:
    """The pooled points of combined decoders (:func:`is_combination`) that no single decoder's
    pooled point weakly dominates (NFE <= and accuracy >=): points only a combination reaches."""
    rows = []
    for _, part in pooled.groupby("template"):
        single = part[~part["decoder"].map(is_combination)]
        for _, row in part[part["decoder"].map(is_combination)].iterrows():
            covered = ((single["mean_nfe"] <= row["mean_nfe"]) & (single["accuracy"] >= row["accuracy"])).any()
            if not covered:
                rows.append(row)
    return pd.DataFrame(rows, columns=pooled.columns).reset_index(drop=True)


def frontier_answers(table: pd.DataFrame) -> dict:
    """The study's answers, per template: seeds, whether MED + exit is on the frontier (on how many
    seeds), the decoders on the frontier of every seed, and the combined points no single decoder reaches."""
    shares, pooled = decoder_shares(table), pooled_settings(table)
    combos = combination_points(pooled)
    answers = {}
    for template, part in shares.groupby("template"):
        seeds = int(table[table["template"] == template]["model"].nunique())
        med_exit = part[part["decoder"] == PAPER_COMBINATION]
        answers[template] = {
            "seeds": seeds,
            "med_exit_on_frontier": int(med_exit["on_frontier"].iloc[0]) if len(med_exit) else 0,
            "always_on_frontier": sorted(part[part["on_frontier"] == seeds]["decoder"]),
            "pooled_frontier": sorted(set(pooled[(pooled["template"] == template) & pooled["on_pooled_frontier"]]["decoder"])),
            "combination_only_points": sorted(combos[combos["template"] == template]["label"]) if len(combos) else [],
        }
    return answers
