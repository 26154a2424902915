"""Small analyses the notebooks share: decoding-order statistics, failure modes, sweeps.

- :func:`decode_questions_with_history`: question strings decoded with every step's record kept, the
  input of the next two and of the H_UB analyses (the decode levels: ``mdlm_study.engine``'s docstring);
- :func:`leftmost_distances`: for every committed position, its distance (in tokens) from the
  leftmost still-masked position of its row at that step (the paper's analysis: LLaDA and Dream pick the
  leftmost ~50% of the time, mean distance ~3, at block size 32);
- :func:`failure_modes`: rows whose first committed reasoning token was EOS ("EOS decoded first")
  and rows where an answer position was committed while reasoning was still masked ("answer before
  reasoning"), from the engine's history;
- :func:`dependency_depth`: a lower bound on NFE for a trace: each reasoning line needs the line
  before it, so even a decoder that commits a whole line per pass needs one pass per line plus one
  for the answer;
- :func:`sweep`: evaluate a list of decoding configurations on the same problems, one table row each;
- :func:`fixed_k_drops` / :func:`paired_drops`: fixed k against k = 1 (Table B), from a sweep, or
  paired problem by problem with an exact test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mdlm_study.core.stats import mcnemar_exact
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.decoding import Decoded, decode_canvas
from mdlm_study.engine.templates import Canvas, build_canvas
from mdlm_study.experiments.evaluate import summarize


def leftmost_distances(history: list[dict], region: torch.Tensor) -> np.ndarray:
    """Distances of committed positions from their row's leftmost masked position inside ``region``
    ([B, L] bool, e.g. the reasoning slot) at the step they were committed."""
    still = region.clone()
    distances = []
    cols = torch.arange(region.shape[1])
    for record in history:
        committed = record["committed"] & region
        leftmost = torch.where(still, cols, torch.full_like(cols, region.shape[1])).min(1).values
        rows, positions = committed.nonzero(as_tuple=True)
        distances.append((positions - leftmost[rows]).numpy())
        still &= ~record["committed"]
    return np.concatenate(distances) if distances else np.zeros(0, dtype=int)


def failure_modes(history: list[dict], canvas, eos_id: int) -> pd.DataFrame:
    """Per row: was the first committed reasoning token EOS; was an answer position committed while
    reasoning positions were still masked; how many reasoning positions ended as EOS."""
    reasoning, answer = canvas.span_mask("reasoning"), canvas.span_mask("answer")
    batch = reasoning.shape[0]
    first_token = torch.full((batch,), -1)
    answer_early = torch.zeros(batch, dtype=torch.bool)
    still = reasoning.clone()
    eos_count = torch.zeros(batch, dtype=torch.long)
    for record in history:
        committed = record["committed"]
        in_reasoning = committed & reasoning
        tokens = record["tokens"]
        first = torch.where(in_reasoning, torch.arange(reasoning.shape[1]), reasoning.shape[1]).min(1).values
        newly = (first_token < 0) & in_reasoning.any(1)
        rows = newly.nonzero()[:, 0]
        first_token[rows] = tokens[rows, first[rows]]
        answer_early |= (committed & answer).any(1) & still.any(1)
        eos_count += ((tokens == eos_id) & in_reasoning).sum(1)
        still &= ~committed
    return pd.DataFrame({"eos_first": (first_token == eos_id).numpy(), "answer_before_reasoning": answer_early.numpy(),
                         "reasoning_eos": eos_count.numpy()})


def dependency_depth(steps: Sequence[str]) -> int:
    """Lower bound on forward passes for one trace: one per reasoning line, one for the answer."""
    return len([s for s in steps if s.strip()]) + 1


def sweep(evaluate, problems, configs: Mapping[str, DecodeConfig] | Sequence[DecodeConfig | Mapping], *,
          tables: dict | None = None) -> pd.DataFrame:
    """Evaluate every configuration on the same problems with ``evaluate(problems, config) ->
    table``; one row per configuration: its ``label``, its settings (:meth:`DecodeConfig.to_dict`)
    and the table's :func:`~mdlm_study.experiments.evaluate.summarize`. ``configs`` maps labels to
    ``DecodeConfig``\\ s, or lists ``DecodeConfig``\\ s (labelled by :meth:`DecodeConfig.label`) or
    dicts of their keywords plus an optional ``label``; all are validated before the first decode,
    so a misspelt setting fails at once. With ``tables`` (a
    dict), each configuration's per-problem table is also kept there under its label, for paired
    comparisons (:func:`paired_drops`) without decoding again."""
    if isinstance(configs, Mapping):
        labelled = [(label, _labelled(config)[1]) for label, config in configs.items()]
    else:
        labelled = [_labelled(config) for config in configs]
    rows = []
    for label, config in labelled:
        table = evaluate(problems, config)
        if tables is not None:
            tables[label] = table
        rows.append({"label": label, **config.to_dict(), **summarize(table)})
    return pd.DataFrame(rows)


def _labelled(config) -> tuple[str, DecodeConfig]:
    if isinstance(config, DecodeConfig):
        return config.label(), config
    settings = dict(config)
    label = settings.pop("label", None)
    config = DecodeConfig(**settings)
    return (label if label is not None else config.label()), config


def fixed_k_drops(table: pd.DataFrame) -> pd.DataFrame:
    """The fixed-k rows of a :func:`sweep` (``sampler == "entropy"``, the paper's Table B) with each
    one's accuracy change against k = 1 in points; ``ValueError`` when the sweep has no k = 1 row."""
    fixed = table[table["sampler"] == "entropy"][["tokens_per_step", "accuracy", "mean_nfe"]].copy()
    reference = fixed[fixed["tokens_per_step"] == 1]
    if reference.empty:
        raise ValueError(f"the sweep needs an entropy row with tokens_per_step=1, got {sorted(fixed['tokens_per_step'])}")
    fixed["drop_vs_k1_points"] = 100 * (fixed["accuracy"] - float(reference["accuracy"].iloc[0]))
    return fixed.reset_index(drop=True)


def paired_drops(tables: Mapping[int, pd.DataFrame], column: str = "correct") -> pd.DataFrame:
    """Fixed k against k = 1 on the same problems, paired (the paper's Table B): one row per k of
    ``tables`` (k -> a per-problem table such as ``evaluate_arithmetic``'s, rows in the same problem
    order) with its ``accuracy`` (the mean of ``column``), ``drop_points`` against k = 1 and the exact
    McNemar ``p_value`` of that difference (:func:`~mdlm_study.core.stats.mcnemar_exact`: far more
    sensitive than comparing two accuracies as independent samples)."""
    if 1 not in tables:
        raise ValueError(f"tables must hold k = 1 (the reference), got k = {sorted(tables)}")
    reference = tables[1][column]
    rows = [{"tokens_per_step": k, "accuracy": float(t[column].mean()),
             "drop_points": 100 * (float(t[column].mean()) - float(reference.mean())),
             "p_value": mcnemar_exact(reference, t[column])["p_value"]} for k, t in tables.items()]
    return pd.DataFrame(rows)


def fastest_within(table: pd.DataFrame, reference_accuracy: float, tolerance_points: float) -> pd.Series:
    """The row of a :func:`sweep` with the fewest mean NFE among those whose accuracy is at most
    ``tolerance_points`` below ``reference_accuracy`` (ties: the more accurate row, then the first).
    Use it on a development split, then report the chosen setting on the test split (the speed
    target of docs/decisions.md: MED + exit within 1 point of one-token entropy decoding). ``ValueError`` when no row
    qualifies or the tolerance is negative."""
    if tolerance_points < 0:
        raise ValueError(f"tolerance_points must be >= 0, got {tolerance_points}")
    within = table[100 * (reference_accuracy - table["accuracy"]) <= tolerance_points + 1e-9]
    if within.empty:
        raise ValueError(f"no setting is within {tolerance_points} points of {reference_accuracy:.4f}; "
                         f"best accuracy {table['accuracy'].max():.4f}")
    return within.sort_values(["mean_nfe", "accuracy"], ascending=[True, False], kind="stable").iloc[0]


def most_accurate_at(table: pd.DataFrame, reference_nfe: float, min_speedup: float) -> pd.Series:
    """The row of a :func:`sweep` with the highest accuracy among those using at least
    ``min_speedup`` times fewer mean NFE than ``reference_nfe`` (ties: the fewer NFE, then the first):
    the selection rule for a speed target (the speed target: MED + exit at >= 3.5x fewer NFE than one-token
    entropy decoding, as accurate as it can be). :func:`fastest_within` fixes the accuracy instead and
    so picks the setting at the edge of its tolerance, where the test accuracy of a setting chosen on
    a development split falls below the edge as often as not. ``ValueError`` when no row is fast enough
    or ``min_speedup`` is not positive."""
    if min_speedup <= 0:
        raise ValueError(f"min_speedup must be > 0, got {min_speedup}")
    fast = table[reference_nfe / table["mean_nfe"] >= min_speedup - 1e-9]
    if fast.empty:
        raise ValueError(f"no setting uses {min_speedup}x fewer NFE than {reference_nfe:.2f}; "
                         f"fewest mean NFE {table['mean_nfe'].min():.2f}")
    return fast.sort_values(["accuracy", "mean_nfe"], ascending=[False, True], kind="stable").iloc[0]


def decode_questions_with_history(model, tokenizer, questions, template, config: DecodeConfig | dict | None = None, *,
                                  batch_size: int = 256, shift_logits: bool = False, **settings) -> tuple[Canvas, Decoded]:
    """Decode ``questions`` as :func:`~mdlm_study.experiments.evaluate.decode_questions` does, keeping every
    step's record (for order, failure and H_UB analyses)."""
    config = DecodeConfig.coerce(config, **settings)
    canvas = build_canvas(tokenizer, questions, template)
    return canvas, decode_canvas(model, canvas, config, batch_size=batch_size, shift_logits=shift_logits, return_history=True)


__all__ = ["decode_questions_with_history", "dependency_depth", "failure_modes", "leftmost_distances", "sweep"]
