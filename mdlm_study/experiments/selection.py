"""The decoding benchmark's protocol: the settings it decodes, how MED + exit's (lambda, gamma) is
chosen on a development split without looking at the test problems, and how a choice made for one
model is decoded unchanged on another.

Every function takes ``evaluate(problems, config) -> table``: a :class:`~mdlm_study.engine.DecodeConfig`
decoded and graded on ``problems``, one row per problem with at least ``correct`` and ``nfe`` (what
:func:`~mdlm_study.experiments.evaluate.evaluate_arithmetic` returns; :func:`model_evaluator` builds one for a
model). Records are flat dicts: the config's :meth:`~mdlm_study.engine.DecodeConfig.to_dict` fields,
the summary metrics, and the identity of the model and problems when given, with at least
:data:`SCHEMA` (``sampler, tokens_per_step, block_size, med_lambda, exit_gamma, mean_nfe, accuracy,
n_problems``) at the top level.

- :data:`CONFIGS`: one-token entropy decoding (the reference, first), fixed k = 2 and 4, early exit,
  MED (both readings) with and without exit, larger thresholds, left to right, and the paper's
  Table B setting (blocks of 8), each paired with the reference (:func:`sweep_records`);
- :data:`SELECTION_GRID` and :data:`SELECTION_RULES`: MED + exit over a (lambda, gamma) grid on the
  development split (:func:`development_split`), one setting per rule (the fewest NFE within 1 point
  of one-token entropy decoding there; the most accurate at >= 3.5x fewer NFE), then each chosen
  setting on the test problems (:func:`selected_records`);
- :func:`transfer_configs` / :func:`transferred_records`: the settings another run chose, decoded
  unchanged on another model (does the choice transfer?).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from mdlm_study.core.records import DECODING_KEYS, result_record
from mdlm_study.core.stats import paired_vs_reference
from mdlm_study.engine import FIXED_KS, DecodeConfig
from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.experiments.analysis import fastest_within, most_accurate_at
from mdlm_study.experiments.evaluate import evaluate_arithmetic, summarize
from mdlm_study.tasks.data import HELD_OUT_DEV_SKIP, held_out_problems, read_problems

SCHEMA = DECODING_KEYS  # every record has these at its top level
KEYS = ("accuracy", "trace_accuracy", "step_accuracy", "exit_rate", "n_problems", "mean_nfe")
REFERENCE = DecodeConfig("entropy", tokens_per_step=1)

CONFIGS = [
    REFERENCE,
    *(DecodeConfig("entropy", tokens_per_step=k) for k in FIXED_KS if k != 1),  # fixed k (Table B)
    DecodeConfig("entropy", exit_gamma=0.1),
    DecodeConfig("med", med_lambda=0.2),
    DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1),
    DecodeConfig("med_budget", med_lambda=0.2),
    DecodeConfig("med_budget", med_lambda=0.2, exit_gamma=0.1),
    # larger thresholds: where does MED + exit reach the 3.5x fewer NFE of the speed target, and at what accuracy?
    DecodeConfig("med", med_lambda=0.5, exit_gamma=0.1),
    DecodeConfig("med", med_lambda=0.5, exit_gamma=1.0),
    DecodeConfig("med", med_lambda=1.0, exit_gamma=0.1),
    DecodeConfig("med", med_lambda=1.0, exit_gamma=1.0),
    DecodeConfig("med", med_lambda=1.5, exit_gamma=1.0),
    DecodeConfig("med", med_lambda=2.0, exit_gamma=1.0),
    DecodeConfig("l2r"),
    # the paper's Table B setting: fixed k inside blocks (semi-autoregressive any-order entropy decoding)
    *(DecodeConfig("entropy", tokens_per_step=k, block_size=8) for k in FIXED_KS),
    # MED + exit in the same blocks: the speed-up read in the setting where fixed k = 2 is the control
    DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1, block_size=8),
    DecodeConfig("med", med_lambda=0.5, exit_gamma=0.1, block_size=8),
]
SUDOKU_CONFIGS = [
    REFERENCE,
    *(DecodeConfig("entropy", tokens_per_step=k) for k in FIXED_KS if k != 1),
    DecodeConfig("med", med_lambda=0.1),
    DecodeConfig("med", med_lambda=0.2),
    DecodeConfig("med", med_lambda=0.5),
    DecodeConfig("med", med_lambda=1.0),
    DecodeConfig("l2r"),
]

SELECTION_LAMBDAS = (0.2, 0.3, 0.5, 0.7, 1.0)
SELECTION_GAMMAS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
SELECTION_GRID = [DecodeConfig("med", med_lambda=lam, exit_gamma=gamma) for lam in SELECTION_LAMBDAS for gamma in SELECTION_GAMMAS]
SELECTION_TOLERANCE_POINTS = 1.0  # the speed target: "accuracy within 1 point"
SELECTION_MIN_SPEEDUP = 3.5  # the speed target: "at least 3.5x fewer NFE than one-token entropy decoding"
SELECTION_RULES: dict[str, Callable[[pd.DataFrame, float, float], pd.Series]] = {
    # name -> rule(dev sweep, dev reference accuracy, dev reference mean NFE) -> the chosen row
    "fastest_within_1_point": lambda table, accuracy, nfe: fastest_within(table, accuracy, SELECTION_TOLERANCE_POINTS),
    "most_accurate_at_3.5x": lambda table, accuracy, nfe: most_accurate_at(table, nfe, SELECTION_MIN_SPEEDUP),
}
DEV_HELD_OUT = "held-out"  # development split: problems HELD_OUT_DEV_SKIP.. of the held-out stream (data.held_out_problems)


def model_evaluator(model, tokenizer, *, template=ARITHMETIC_TEMPLATE, batch_size: int = 300, evaluator=evaluate_arithmetic):
    """``evaluate(problems, config) -> table`` for one model (``evaluator`` as
    :func:`~mdlm_study.experiments.evaluate.evaluate_arithmetic`; batches of 300, as every record on file)."""
    def evaluate(problems, config: DecodeConfig) -> pd.DataFrame:
        return evaluator(model, tokenizer, problems, template, config, batch_size=batch_size)
    return evaluate


def config_fields(config: DecodeConfig) -> dict:
    """The config's :meth:`~DecodeConfig.to_dict` with ``med_lambda`` always present (None for rules
    without it), as the record schema wants."""
    return {"med_lambda": config.med_lambda, **config.to_dict()}


def record(config: DecodeConfig, summary: Mapping, identity: Mapping | None = None) -> dict:
    """One record: the config's fields, ``summary``'s :data:`KEYS` (absent ones, e.g. traces on Sudoku,
    are None) and ``identity`` (model name, weights and problems SHA-256) when given."""
    return result_record(config, {k: summary.get(k) for k in KEYS}, identity)


def config_of(rec: Mapping) -> DecodeConfig:
    """The :class:`DecodeConfig` a record was decoded with (its config fields; records written before
    configs were objects hold only ``sampler, tokens_per_step, med_lambda, exit_gamma, block_size``)."""
    keys = set(config_fields(DecodeConfig("med", med_lambda=0.2)))
    fields = {k: v for k, v in rec.items() if k in keys and v is not None}
    if fields.get("exit_gamma") is not None:
        fields.setdefault("exit_rule", "entropy")
    return DecodeConfig.from_dict(fields)


def paired_with_reference(reference: pd.DataFrame, table: pd.DataFrame) -> dict:
    """The exact McNemar test of a rule against the reference rule on the same problems:
    ``only_reference`` / ``only_this`` count the problems only one of them gets right."""
    return paired_vs_reference(reference["correct"], table["correct"])


def is_block_reference(config: DecodeConfig) -> bool:
    """One-token entropy decoding without exit: the reference, over the canvas or in its blocks."""
    return config.sampler == "entropy" and config.tokens_per_step == 1 and config.exit_rule is None and config.temperature == 0


def paired_with_references(table: pd.DataFrame, references: Mapping, block_size: int | None) -> dict:
    """``paired_vs_entropy_k1`` against one-token entropy decoding over the whole canvas and, for a
    decoding in blocks, ``paired_vs_block_k1`` against it in the same blocks, for whichever of those
    ``references`` (tables by block size, ``None``: the whole canvas) holds."""
    paired = {}
    if None in references:
        paired["paired_vs_entropy_k1"] = paired_with_reference(references[None], table)
    if block_size and block_size in references:
        paired["paired_vs_block_k1"] = paired_with_reference(references[block_size], table)
    return paired


def sweep_records(evaluate, problems, configs: Sequence[DecodeConfig], identity: Mapping | None = None, *,
                  tables: dict | None = None, log: Callable[[dict], None] | None = print) -> tuple[list[dict], dict]:
    """One record per config, each paired with the first config (one-token entropy decoding over the
    whole canvas: ``paired_vs_entropy_k1``) and, inside blocks, with one-token entropy decoding in the
    same blocks as well (``paired_vs_block_k1``: Table B's own comparison); returns the records and
    the reference tables by block size (``None``: the whole canvas). ``tables`` (a dict), when given,
    keeps every config's per-problem table under the config."""
    configs = [DecodeConfig.coerce(c) for c in configs]
    if not configs or configs[0] != REFERENCE:
        raise ValueError(f"the first config must be the reference, one-token entropy decoding; got {configs[:1]}")
    records, references = [], {}
    for config in configs:
        table = evaluate(problems, config)
        if tables is not None:
            tables[config] = table
        references.setdefault(None, table)
        block = config.block_size
        if block is not None:
            if is_block_reference(config):
                references[block] = table
            if block not in references:
                raise ValueError(f"blocks of {block}: the one-token entropy config must come before {config.label()}")
        rec = {**record(config, summarize(table), identity), **paired_with_references(table, references, block)}
        records.append(rec)
        if log:
            log(rec)
    return records, references


def dev_sweep(evaluate, dev_problems, block_size: int | None = None, grid: Sequence[DecodeConfig] = SELECTION_GRID) -> tuple[dict, pd.DataFrame]:
    """The development split decoded with one-token entropy decoding (the reference) and every grid
    setting, all in blocks of ``block_size`` when given: (the reference's summary, one row per grid
    setting with ``med_lambda, exit_gamma, block_size, accuracy, mean_nfe``)."""
    reference = summarize(evaluate(dev_problems, REFERENCE.replace(block_size=block_size)))
    rows = []
    for config in grid:
        config = config.replace(block_size=block_size)
        summary = summarize(evaluate(dev_problems, config))
        rows.append({"med_lambda": config.med_lambda, "exit_gamma": config.exit_gamma, "block_size": block_size,
                     "accuracy": summary["accuracy"], "mean_nfe": summary["mean_nfe"]})
    return reference, pd.DataFrame(rows)


def choose(reference: Mapping, grid: pd.DataFrame, rules: Mapping = SELECTION_RULES) -> dict[str, dict]:
    """Each rule's choice on a development sweep (:func:`dev_sweep`): rule name -> ``{"config": the
    chosen DecodeConfig, "dev_accuracy", "dev_mean_nfe"}``, or ``{"no_selection": reason}`` when no
    setting satisfies the rule."""
    chosen = {}
    for name, rule in rules.items():
        try:
            best = rule(grid, reference["accuracy"], reference["mean_nfe"])
        except ValueError as err:
            chosen[name] = {"no_selection": str(err)}
            continue
        block = best.get("block_size")
        config = DecodeConfig("med", med_lambda=float(best["med_lambda"]), exit_gamma=float(best["exit_gamma"]),
                              block_size=None if block is None or pd.isna(block) else int(block))
        chosen[name] = {"config": config, "dev_accuracy": float(best["accuracy"]), "dev_mean_nfe": float(best["mean_nfe"])}
    return chosen


def selected_records(evaluate, dev_problems, test_problems, dev_name: str, references: Mapping | None = None,
                     block_size: int | None = None, identity: Mapping | None = None) -> list[dict]:
    """MED + exit over :data:`SELECTION_GRID` on ``dev_problems``, one (lambda, gamma) chosen by each of
    :data:`SELECTION_RULES` against one-token entropy decoding there, then each chosen setting on
    ``test_problems``: one record per rule (``selection_rule``), the test problems never looked at in
    the choice (a rule no setting satisfies on dev gives a record with ``no_selection``, its reason,
    and no test numbers). With ``block_size`` every decoding, the dev reference included, runs in
    blocks of that size. ``references`` (the test problems' one-token entropy tables by block size, as
    :func:`sweep_records` returns them) pairs each test record with them when given."""
    reference, grid = dev_sweep(evaluate, dev_problems, block_size)
    dev_grid = grid[["med_lambda", "exit_gamma", "accuracy", "mean_nfe"]].to_dict("records")
    chosen, unchosen = [], {}
    for rule_name, choice in choose(reference, grid).items():
        dev = {"selection_rule": rule_name, "selected_on": dev_name, "dev_n_problems": len(dev_problems),
               "dev_entropy_k1_accuracy": reference["accuracy"], "dev_entropy_k1_mean_nfe": reference["mean_nfe"], "dev_grid": dev_grid}
        if "no_selection" in choice:  # no setting qualifies on dev: say so, decode nothing on test
            unchosen[rule_name] = {**record(DecodeConfig("med", med_lambda=0.2, block_size=block_size), {}, identity),
                                   "med_lambda": None, **dev, "no_selection": choice["no_selection"]}
            continue
        chosen.append((choice["config"], {**dev, "dev_accuracy": choice["dev_accuracy"], "dev_mean_nfe": choice["dev_mean_nfe"]}))
    decoded = {rec["selection_rule"]: rec for rec in chosen_records(evaluate, test_problems, chosen, references or {}, identity)}
    return [decoded.get(rule_name) or unchosen[rule_name] for rule_name in SELECTION_RULES]


def chosen_records(evaluate, problems, chosen: Sequence[tuple[DecodeConfig, dict]], references: Mapping,
                   identity: Mapping | None = None) -> list[dict]:
    """One record per ``(config, extra keys)`` of ``chosen``: the config decoded on ``problems`` (a
    config chosen twice is decoded once), paired by :func:`paired_with_references`, with its extra keys."""
    records, decoded = [], {}
    for config, extra in chosen:
        if config not in decoded:
            decoded[config] = evaluate(problems, config)
        table = decoded[config]
        records.append({**record(config, summarize(table), identity), **paired_with_references(table, references, config.block_size),
                        **extra})
    return records


def transfer_configs(source_records, source_name: str) -> list[tuple[str, DecodeConfig]]:
    """(selection rule, config) of every setting another run chose (its records with a
    ``selection_rule`` and a setting), e.g. the default model's, to decode unchanged on another model:
    does the choice transfer? ``ValueError`` when ``source_records`` is not a list of records or holds no such record."""
    if not isinstance(source_records, list) or not all(isinstance(rec, dict) for rec in source_records):
        raise ValueError(f"{source_name} is not a decoding benchmark output (a list of records); got {type(source_records).__name__}")
    chosen = [(rec["selection_rule"], config_of(rec)) for rec in source_records if rec.get("selection_rule") and "no_selection" not in rec]
    if not chosen:
        raise ValueError(f"{source_name} holds no chosen MED + exit setting (no record with a selection_rule); "
                         "pass a decoding benchmark output that ran a selection")
    return chosen


def transferred_records(evaluate, problems, chosen: Sequence[tuple[str, DecodeConfig]], source_name: str, references: Mapping,
                        identity: Mapping | None = None) -> list[dict]:
    """Each setting of :func:`transfer_configs` decoded on ``problems`` (:func:`chosen_records`), paired
    with one-token entropy decoding over the whole canvas and, in blocks, in the same blocks
    (``references`` as :func:`sweep_records` returns them)."""
    return chosen_records(evaluate, problems, [(config, {"selection_rule": rule_name, "transferred_from": source_name})
                                               for rule_name, config in chosen], references, identity)


def development_split(select_on: str, data_dir: str, n_held_out_test: int, n_dev: int) -> list:
    """The problems MED + exit's (lambda, gamma) are chosen on: ``select_on`` is a problems file, or
    :data:`DEV_HELD_OUT` for ``n_dev`` problems of the held-out stream from ``HELD_OUT_DEV_SKIP`` on
    (disjoint from every split and from a held-out test set of up to ``HELD_OUT_DEV_SKIP`` problems)."""
    if select_on != DEV_HELD_OUT:
        return read_problems(select_on)
    if n_held_out_test > HELD_OUT_DEV_SKIP:
        raise ValueError(f"--held-out {n_held_out_test} would overlap the held-out development split, which starts at "
                         f"problem {HELD_OUT_DEV_SKIP} of the stream; use --held-out <= {HELD_OUT_DEV_SKIP} or --select-on FILE")
    return held_out_problems(data_dir, n_dev, skip=HELD_OUT_DEV_SKIP)
