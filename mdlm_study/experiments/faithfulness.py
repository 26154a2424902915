"""Does the answer follow the written reasoning, and does the reasoning follow its own arithmetic?

Fixed k tokens per step (the paper's Table B) can only cost accuracy through the reasoning: positions
decoded together are jointly uncertain and the trace breaks. Whether a broken trace breaks the answer
depends on two links, measured here on the synthetic arithmetic task where every number is checkable:

1. **answer ← trace**: write a trace into the reasoning slot and let the model fill only the answer
   slot (:func:`counterfactual_answers`). With the last step's result changed
   (:func:`~mdlm_study.tasks.arithmetic.corrupt_trace`), a model that reads its answer off the trace
   follows the written conclusion; one that computes the answer from the question does not.
2. **trace ← its own steps**: in a decoded trace, is each equation right for the operands it writes
   (:func:`self_consistent`), and is the trace's conclusion (last result) the right answer
   (:func:`with_conclusions`)? A model that writes every result from the question, not from the
   operands on the page, keeps right conclusions on top of garbled equations.

The paper's fixed-k loss needs both links: LLaDA cannot do GSM8K without its trace. A model that
computes its results in the masked slot (pause-token-like computation) shows the loss mostly in its
written reasoning (fewer right conclusions) and less in its answers, because its answer slot repairs
part of what breaks (the study model on 1,500 held-out problems, whole canvas: −6.1 / −10.6 points against
−0.9 / −2.5 at k = 2 / 4; README).
:func:`fixed_k_readings` reads fixed-k decoding both ways, with paired tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from mdlm_study.core.stats import paired_vs_reference
from mdlm_study.engine import FIXED_KS, DecodeConfig
from mdlm_study.engine.templates import Template, read_canvas, reasoning_fits
from mdlm_study.experiments.analysis import paired_drops
from mdlm_study.experiments.evaluate import decode_questions, evaluate_arithmetic
from mdlm_study.tasks.arithmetic import Problem, apply, corrupt_trace, parse_step, split_steps

EDITS = ("gold", "corrupt_last", "corrupt_first", "corrupt_first_unpropagated")
DECODINGS = (  # the free decodings faithfulness_records reads (the first is the reference of the paired tests)
    *(DecodeConfig("entropy", tokens_per_step=k) for k in FIXED_KS),
    DecodeConfig("l2r"),
)


def self_consistent(line: str) -> bool | None:
    """Whether an equation line is arithmetically right for its own operands (``"3+36=47"`` → False);
    ``None`` when the line is not an equation."""
    parsed = parse_step(line)
    if parsed is None:
        return None
    left, op, right, result = parsed
    return apply(op, left, right) == result


def conclusion(steps: Sequence[str]) -> str | None:
    """The trace's written conclusion: the result of its last equation, as text (``None`` when the
    last line is not an equation or there is none)."""
    parsed = parse_step(steps[-1]) if steps else None
    return None if parsed is None else str(parsed[3])


def with_conclusions(table: pd.DataFrame, problems: Sequence[Problem]) -> pd.DataFrame:
    """A copy of an :func:`~mdlm_study.experiments.evaluate.evaluate_arithmetic` table (same order as
    ``problems``) with, per row: ``conclusion`` (the trace's last result, :func:`conclusion`),
    ``conclusion_correct`` (it is the right answer: the answer as a reader of the written reasoning
    would take it, GSM8K-style), ``answer_is_conclusion`` (the answer slot repeats it), and
    ``n_equations`` / ``n_self_consistent`` (equation lines, and those right for their own operands)."""
    if len(table) != len(problems):
        raise ValueError(f"the table has {len(table)} rows for {len(problems)} problems")
    if len(table) == 0:
        raise ValueError("the table is empty")
    out = table.copy()
    steps = [split_steps(reasoning) for reasoning in table["reasoning"]]
    checks = [[c for c in map(self_consistent, lines) if c is not None] for lines in steps]
    out["conclusion"] = [conclusion(lines) for lines in steps]
    out["conclusion_correct"] = [c == p.answer for c, p in zip(out["conclusion"], problems, strict=True)]
    out["answer_is_conclusion"] = out["conclusion"] == out["predicted"]
    out["n_equations"] = [len(c) for c in checks]
    out["n_self_consistent"] = [sum(c) for c in checks]
    return out


def written_reasoning(table: pd.DataFrame) -> dict:
    """Summary of a :func:`with_conclusions` table: ``accuracy`` (answer slot), ``conclusion_accuracy``,
    ``answer_is_conclusion``, ``self_consistent_steps`` (over all equation lines) and
    ``trace_accuracy`` (every step right, :func:`~mdlm_study.tasks.arithmetic.grade_trace`)."""
    equations = int(table["n_equations"].sum())
    return {"accuracy": float(table["correct"].mean()), "conclusion_accuracy": float(table["conclusion_correct"].mean()),
            "answer_is_conclusion": float(table["answer_is_conclusion"].mean()),
            "self_consistent_steps": int(table["n_self_consistent"].sum()) / equations if equations else float("nan"),
            "trace_accuracy": float(table["trace_correct"].mean()), "n_problems": len(table)}


def answer_anatomy(correct: Sequence[bool], conclusion: Sequence[bool]) -> dict:
    """Where one decoding's wrong answers come from, read off two grades of each problem: its answer slot
    (``correct``) and its written reasoning's conclusion (``conclusion``: the last equation's result is the right
    answer, :func:`with_conclusions`). Shares of the problems: ``both_right``; ``answer_off_right_reasoning``
    (the trace concludes right and the answer slot says otherwise: the answer is not read off the page);
    ``answer_past_wrong_reasoning`` (the answer is right and the trace is not: the answer was computed without
    the written steps); ``both_wrong`` (the reasoning went wrong and took the answer with it). Exact, no model: the
    two 0/1 strings every seed record keeps (``experiments.seeds.decoding_entry``). Lists of different lengths
    are a ``ValueError``."""
    correct, conclusion = [bool(c) for c in correct], [bool(c) for c in conclusion]
    if len(correct) != len(conclusion) or not correct:
        raise ValueError(f"answer_anatomy needs one conclusion per answer, at least one: {len(correct)} answers, {len(conclusion)} conclusions")
    n = len(correct)
    cells = {"both_right": (True, True), "answer_off_right_reasoning": (False, True), "answer_past_wrong_reasoning": (True, False),
             "both_wrong": (False, False)}
    shares = {name: sum(a == want_a and c == want_c for a, c in zip(correct, conclusion, strict=True)) / n for name, (want_a, want_c) in cells.items()}
    return {"n_problems": n, "answer_accuracy": sum(correct) / n, "conclusion_accuracy": sum(conclusion) / n, **shares}


def anatomy_span(anatomies: Iterable[Mapping], key: str) -> tuple[float, float]:
    """The lowest and highest value of one :func:`answer_anatomy` share (``key``) over several seeds' anatomies:
    the span a seeds study quotes (its range is ``high - low``). No anatomy, or one without ``key``, is a
    ``ValueError`` naming the key."""
    anatomies = list(anatomies)
    if not anatomies or any(key not in a for a in anatomies):
        raise ValueError(f"anatomy_span needs at least one anatomy, each with {key!r}; got {len(anatomies)} anatomies")
    values = [a[key] for a in anatomies]
    return min(values), max(values)


def edited_trace(problem: Problem, edit: str, rng: random.Random) -> tuple[str, ...]:
    """The problem's gold trace, or a copy with one result changed (``corrupt_last``: the last step;
    ``corrupt_first``: the first step, later steps recomputed from it; ``corrupt_first_unpropagated``:
    the first step only, the later steps still right), as :func:`corrupt_trace` writes them."""
    if edit not in EDITS:
        raise ValueError(f"edit must be one of {EDITS}, got {edit!r}")
    if edit == "gold":
        return tuple(problem.steps)
    step = len(problem.steps) - 1 if edit == "corrupt_last" else 0
    return corrupt_trace(problem, problem.steps, step=step, rng=rng, propagate=edit != "corrupt_first_unpropagated")


def counterfactual_answers(model, tokenizer, problems: Sequence[Problem], template: Template, *, edit: str,
                           seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Write each problem's (edited, :func:`edited_trace`) trace into the reasoning slot, fill only the
    answer slot left to right (greedy, with :func:`~mdlm_study.experiments.evaluate.decode_questions`, which checks
    ``batch_size``), and say whether the answer is the true one or the written conclusion. Problems whose edited trace does not fit the slot are left out (``n`` tells how many
    remain). The edit is seeded by ``seed``; one row per kept problem."""
    rng = random.Random(seed)
    traces = [(problem, edited_trace(problem, edit, rng)) for problem in problems]
    kept = [(problem, trace) for problem, trace in traces if reasoning_fits(tokenizer, "\n".join(trace), template)]
    if not kept:
        raise ValueError(f"no {edit} trace fits the reasoning slot ({template.reasoning_len} tokens)")
    canvas, out = decode_questions(model, tokenizer, [p.question for p, _ in kept], template, sampler="l2r",
                         reasonings=["\n".join(t) for _, t in kept], batch_size=batch_size, seed=seed)
    rows = []
    for (problem, trace), read in zip(kept, read_canvas(tokenizer, out.sequences, canvas), strict=True):
        written = conclusion(trace)
        rows.append({"uid": problem.uid, "edit": edit, "true_answer": problem.answer, "written_conclusion": written,
                     "predicted": read.answer, "is_true": read.answer == problem.answer, "is_conclusion": read.answer == written})
    return pd.DataFrame(rows)


def follow_rates(table: pd.DataFrame) -> dict:
    """How often the answers of :func:`counterfactual_answers` are the true answer and the written
    conclusion (the two coincide for ``gold`` and ``corrupt_first_unpropagated`` traces)."""
    if len(table) == 0:
        raise ValueError("the table is empty")
    return {"edit": table["edit"].iloc[0], "n": len(table), "answer_is_true": float(table["is_true"].mean()),
            "answer_is_conclusion": float(table["is_conclusion"].mean())}


def fixed_k_readings(tables: Mapping[int, pd.DataFrame], problems: Sequence[Problem]) -> pd.DataFrame:
    """Fixed k tokens per step read two ways, one row per k: the answer slot (``accuracy``) and the
    written reasoning's conclusion (``conclusion_accuracy``; the paper's Table B reads the answer off
    generated text), each with its drop against k = 1 in points and the exact McNemar p-value of that
    paired difference (:func:`~mdlm_study.experiments.analysis.paired_drops`).

    ``tables``: k -> the :func:`~mdlm_study.experiments.evaluate.evaluate_arithmetic` table of ``problems``
    decoded with k tokens per step; it must hold k = 1.
    """
    readings = {k: with_conclusions(table, problems) for k, table in tables.items()}
    out = pd.DataFrame([{"tokens_per_step": k, **written_reasoning(t)} for k, t in readings.items()])
    for column, name in (("correct", "answer"), ("conclusion_correct", "conclusion")):
        paired = paired_drops(readings, column)
        out[f"{name}_drop_points"], out[f"{name}_p_value"] = paired["drop_points"].to_numpy(), paired["p_value"].to_numpy()
    return out


def faithfulness_records(model, tokenizer, problems: Sequence[Problem], label: str, template: Template, *, batch_size: int = 300) -> list[dict]:
    """What ``benchmarks/bench_faithfulness.py`` writes for one model: one ``counterfactual`` record per
    edit of :data:`EDITS` (:func:`follow_rates`), then one ``decoded`` record per decoding of
    :data:`DECODINGS` (:func:`written_reasoning`, with the exact McNemar test of the answers and of the
    conclusions against the first decoding, entropy k = 1)."""
    records = []
    for edit in EDITS:
        rates = follow_rates(counterfactual_answers(model, tokenizer, problems, template, edit=edit, batch_size=batch_size))
        records.append({"model": label, "measure": "counterfactual", **rates})
        print(records[-1], flush=True)
    reference = None
    for config in DECODINGS:
        table = with_conclusions(evaluate_arithmetic(model, tokenizer, problems, template, config, batch_size=batch_size), problems)
        reference = table if reference is None else reference
        paired = {f"paired_{column}": paired_vs_reference(reference[column], table[column]) for column in ("correct", "conclusion_correct")}
        records.append({"model": label, "measure": "decoded", "sampler": config.sampler, "tokens_per_step": config.tokens_per_step,
                        **written_reasoning(table), **paired})
        print(records[-1], flush=True)
    return records
