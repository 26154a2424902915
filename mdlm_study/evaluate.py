"""Decode a test set with any rule of the engine, grade every row exactly, count NFE.

Each function returns a ``pandas.DataFrame`` with one row per problem, so notebooks only aggregate
and plot. :func:`summarize` turns a table into the headline numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from mdlm_study.sampling import generate
from mdlm_study.tasks.arithmetic import Problem, grade_trace
from mdlm_study.tasks.sudoku import SudokuPuzzle, solves
from mdlm_study.templates import Canvas, Template, build_canvas, read_canvas


def decode(
    model,
    tokenizer,
    questions: Sequence[str],
    template: Template,
    *,
    sampler: str,
    answers: Sequence[str] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    max_length: int | None = None,
    **generate_kwargs,
) -> tuple[Canvas, dict]:
    """Build canvases (answers written in, when given) and fill them with ``generate`` in batches.

    Returns the canvas and a dict of concatenated outputs: ``sequences``, ``nfe``, ``logprob``,
    ``exited``, ``exit_step``. Each batch gets its own generator seeded by ``seed`` and its index.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    canvas = build_canvas(tokenizer, questions, template, answers=answers, max_length=max_length)
    device = next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")
    outputs: dict[str, list[torch.Tensor]] = {k: [] for k in ("sequences", "nfe", "logprob", "exited", "exit_step")}
    for start in range(0, len(questions), batch_size):
        rows = slice(start, start + batch_size)
        generator = torch.Generator().manual_seed(seed * 100_003 + start)
        out = generate(
            model,
            canvas.input_ids[rows].to(device),
            sampler=sampler,
            mask_id=canvas.special.mask_id,
            attention_mask=canvas.attention_mask[rows].to(device),
            answer_span=canvas.answer[rows].to(device),
            generator=generator,
            **generate_kwargs,
        )
        for key in outputs:
            outputs[key].append(getattr(out, key).cpu())
    return canvas, {key: torch.cat(values) for key, values in outputs.items()}


def evaluate_arithmetic(model, tokenizer, problems: Sequence[Problem], template: Template, *, sampler: str = "l2r", **kwargs) -> pd.DataFrame:
    """One row per problem: the predicted answer, exact-answer correctness, the step-by-step grade of
    the reasoning (:func:`~mdlm_study.tasks.arithmetic.grade_trace`), NFE and exit information."""
    canvas, out = decode(model, tokenizer, [p.question for p in problems], template, sampler=sampler, **kwargs)
    readouts = read_canvas(tokenizer, out["sequences"], canvas)
    rows = []
    for i, (problem, read) in enumerate(zip(problems, readouts, strict=True)):
        grade = grade_trace(problem, read.steps)
        rows.append(
            {
                "uid": problem.uid,
                "n_ops": len(problem.ops),
                "answer": problem.answer,
                "predicted": read.answer,
                "correct": read.answer == problem.answer,
                "trace_correct": grade.correct,
                "first_wrong": grade.first_wrong,
                "n_correct_steps": grade.n_correct_steps,
                "nfe": int(out["nfe"][i]),
                "exited": bool(out["exited"][i]),
                "logprob": float(out["logprob"][i]),
                "empty_reasoning": read.reasoning == "",
                "reasoning": read.reasoning,
            }
        )
    return pd.DataFrame(rows)


def evaluate_sudoku(model, tokenizer, puzzles: Sequence[SudokuPuzzle], template: Template, *, sampler: str = "l2r", **kwargs) -> pd.DataFrame:
    """One row per puzzle: the decoded grid, whether it solves the puzzle (exact validity check)."""
    canvas, out = decode(model, tokenizer, [p.question for p in puzzles], template, sampler=sampler, **kwargs)
    readouts = read_canvas(tokenizer, out["sequences"], canvas)
    rows = []
    for i, (puzzle, read) in enumerate(zip(puzzles, readouts, strict=True)):
        grid = read.answer.replace(" ", "")
        rows.append({"puzzle": puzzle.puzzle, "predicted": grid, "correct": solves(puzzle.puzzle, grid), "nfe": int(out["nfe"][i])})
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> dict:
    """Headline numbers of an evaluation table (accuracies as fractions in [0, 1])."""
    summary = {"n_problems": len(table), "accuracy": float(table["correct"].mean()), "mean_nfe": float(table["nfe"].mean())}
    if "trace_correct" in table:
        n_steps = table["n_ops"].sum()
        summary.update(
            trace_accuracy=float(table["trace_correct"].mean()),
            step_accuracy=float(table["n_correct_steps"].clip(upper=table["n_ops"]).sum() / max(1, n_steps)),
            exit_rate=float(table["exited"].mean()),
            empty_reasoning_rate=float(table["empty_reasoning"].mean()),
        )
    return summary


def evaluate_gsm8k(model, tokenizer, problems, template: Template, *, sampler: str = "l2r", **kwargs) -> pd.DataFrame:
    """Real-benchmark path: one row per GSM8K problem, graded by the deterministic GSM8K grader on
    the answer slot (no step labels exist, so ``trace_correct`` is not reported)."""
    from mdlm_study.graders import gsm8k_is_correct

    canvas, out = decode(model, tokenizer, [p.question for p in problems], template, sampler=sampler, **kwargs)
    readouts = read_canvas(tokenizer, out["sequences"], canvas)
    rows = [{"uid": p.uid, "answer": p.answer.split("####")[-1].strip(), "predicted": r.answer, "correct": gsm8k_is_correct(r.answer, p.answer),
             "nfe": int(out["nfe"][i]), "exited": bool(out["exited"][i]), "reasoning": r.reasoning}
            for i, (p, r) in enumerate(zip(problems, readouts, strict=True))]
    return pd.DataFrame(rows)
