"""Decode a test set with any rule of the engine, grade every row exactly, count NFE.

:func:`decode_questions` decodes question strings (the text level; the decode levels:
``mdlm_study.engine``'s docstring); :func:`evaluate_task` decodes a task's problems and grades them. Each
evaluation returns a ``pandas.DataFrame`` with one row per problem, so notebooks only aggregate and
plot. :func:`summarize` turns a table into the headline numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from mdlm_study.core import frontier
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.decoding import Decoded, decode_canvas
from mdlm_study.engine.denoiser import logits_of
from mdlm_study.engine.templates import Canvas, Template, build_canvas, read_canvas
from mdlm_study.models.tiny_tokenizer import digit_ids, digit_runs
from mdlm_study.tasks.arithmetic import Problem
from mdlm_study.tasks.task import Task, get_task


def decode_questions(model, tokenizer, questions: Sequence[str], template: Template, config: DecodeConfig | dict | None = None, *,
                     answers: Sequence[str] | None = None, reasonings: Sequence[str] | None = None, batch_size: int = 256,
                     max_length: int | None = None, shift_logits: bool = False, length_buckets: bool = False, first_row: int = 0,
                     token_prior: torch.Tensor | None = None, **settings) -> tuple[Canvas, Decoded]:
    """Build canvases (answers and reasoning texts written in, when given: posterior sampling, or an
    answer read off a given trace) and fill them with :func:`mdlm_study.engine.decoding.decode_canvas`.

    The decoding is ``config`` (a :class:`~mdlm_study.engine.DecodeConfig`) or the same settings as
    keywords (``sampler="med", med_lambda=0.2, exit_gamma=0.1, seed=...``), validated here. Row i of
    the problem list draws its random numbers (if any) from the config's seed and ``first_row + i``
    alone (a shard of a larger list passes its offset, so it decodes exactly as in the whole list)."""
    config = DecodeConfig.coerce(config, **settings)
    canvas = build_canvas(tokenizer, questions, template, answers=answers, reasonings=reasonings, max_length=max_length)
    keys = [(first_row + i, 0) for i in range(len(questions))]
    return canvas, decode_canvas(model, canvas, config, batch_size=batch_size, keys=keys, shift_logits=shift_logits,
                                 length_buckets=length_buckets, token_prior=token_prior)


def decoded_tokens(canvas: Canvas, out: Decoded) -> torch.Tensor:
    """[N] long: positions of each row that were masks in the canvas and hold a token after decoding
    (the tokens a decoder produced; an early exit leaves the rest masked)."""
    mask_id = canvas.special.mask_id
    return ((canvas.input_ids == mask_id) & (out.sequences != mask_id)).sum(1)


def grade_answers(task: str | Task, problems: Sequence, answers: Sequence[str]) -> list[bool]:
    """Whether each decoded answer slot is correct, by the task's own grader
    (:attr:`~mdlm_study.tasks.task.Task.grade_answer`): the one rule every evaluation table and every notebook uses."""
    return get_task(task).grade_answers(problems, answers)


def evaluate_task(task: str | Task, model, tokenizer, problems: Sequence, template: Template, config: DecodeConfig | dict | None = None,
                  **options) -> pd.DataFrame:
    """Decode ``problems`` of ``task`` and grade them: one row per problem, built by the task's
    :attr:`~mdlm_study.tasks.task.Task.grade_row` (for arithmetic: the predicted answer, exact-answer
    correctness, the step-by-step grade of the reasoning, NFE and exit information). ``config`` and
    ``options`` as :func:`decode_questions` (default: left to right)."""
    task = get_task(task)
    config = _default(config, options)
    canvas, out = decode_questions(model, tokenizer, [task.question(p) for p in problems], template, config, **options)
    readouts = read_canvas(tokenizer, out.sequences, canvas)
    n_decoded = decoded_tokens(canvas, out)
    rows = [task.grade_row(problem, read, {"nfe": int(out.nfe[i]), "n_decoded": int(n_decoded[i]), "exited": bool(out.exited[i]),
                                           "logprob": float(out.logprob[i])})
            for i, (problem, read) in enumerate(zip(problems, readouts, strict=True))]
    return pd.DataFrame(rows)


def evaluate_arithmetic(model, tokenizer, problems: Sequence[Problem], template: Template, config: DecodeConfig | dict | None = None,
                        **options) -> pd.DataFrame:
    """:func:`evaluate_task` on an arithmetic task (either regime: the rows are graded the same way)."""
    return evaluate_task("arithmetic", model, tokenizer, problems, template, config, **options)


def evaluate_sudoku(model, tokenizer, puzzles: Sequence, template: Template, config: DecodeConfig | dict | None = None,
                    **options) -> pd.DataFrame:
    """:func:`evaluate_task` on Sudoku: the decoded grid, whether it solves the puzzle (exact validity check)."""
    return evaluate_task("sudoku", model, tokenizer, puzzles, template, config, **options)


_DECODE_OPTIONS = ("answers", "reasonings", "batch_size", "max_length", "shift_logits", "length_buckets", "first_row", "token_prior")


def _default(config, options: dict):
    """``config``, or a left-to-right config from the decoding keywords in ``options`` (removed from
    it; what remains are :func:`decode_questions`'s own options)."""
    settings = {k: options.pop(k) for k in list(options) if k not in _DECODE_OPTIONS}
    return DecodeConfig.coerce(config, defaults={"sampler": "l2r"}, **settings)


def summarize(table: pd.DataFrame) -> dict:
    """Headline numbers of an evaluation table (accuracies as fractions in [0, 1])."""
    summary = {"n_problems": len(table), "accuracy": float(table["correct"].mean()), "mean_nfe": float(table["nfe"].mean())}
    if "n_decoded" in table and len(table):  # hao-ai-lab's parallelism and its one-point AUP (mdlm_study.core.frontier)
        summary["tokens_per_forward"] = frontier.tokens_per_forward(table["n_decoded"], table["nfe"])
        summary["aup"] = frontier.aup([(summary["tokens_per_forward"], 100 * summary["accuracy"])])
    if "trace_correct" in table:
        n_steps = table["n_ops"].sum()
        summary.update(
            trace_accuracy=float(table["trace_correct"].mean()),
            step_accuracy=float(table["n_correct_steps"].clip(upper=table["n_ops"]).sum() / max(1, n_steps)),
            exit_rate=float(table["exited"].mean()),
            empty_reasoning_rate=float(table["empty_reasoning"].mean()),
        )
    if "n_restated" in table:  # consecutive equations whose operand is the previous result (tasks.arithmetic.restatements)
        summary["restatement_rate"] = float(table["n_restated"].sum() / max(1, table["n_step_pairs"].sum()))
    return summary


def token_classes(tokenizer, input_ids: torch.Tensor, canvas: Canvas) -> torch.Tensor:
    """[B, L] long class of each gold response token (:data:`TOKEN_CLASSES`): a result digit (a digit
    whose number follows ``=``), split into the units digit and the higher place digits; any other
    reasoning token; an answer-slot token; -1 outside the response and for EOS/pad fill."""
    digits, equals = digit_ids(tokenizer), tokenizer.convert_tokens_to_ids("=")
    fill = torch.isin(input_ids, torch.tensor([canvas.special.eos_id, canvas.special.pad_id]))
    reasoning, answer = canvas.span_mask("reasoning") & ~fill, canvas.span_mask("answer") & ~fill
    classes = torch.full_like(input_ids, -1)
    classes[reasoning] = 2
    classes[answer] = 3
    for row, (ids, inside) in enumerate(zip(input_ids.tolist(), reasoning.tolist(), strict=True)):
        for start, end in digit_runs(ids, inside, digits):
            if start > 0 and ids[start - 1] == equals:  # a step's result: higher digits, then the units digit
                classes[row, start : end - 1] = 1
                classes[row, end - 1] = 0
    return classes


def units_digit_steps(classes: torch.Tensor) -> torch.Tensor:
    """[B, L] long, from :func:`token_classes`: at the units digit of each step's result, the step's
    index (the k-th units digit from the left is step k, 0 = first step); -1 everywhere else."""
    units = classes == 0
    return torch.where(units, units.long().cumsum(1) - 1, -1)


TOKEN_CLASSES = ("result_units_digit", "result_higher_digits", "other_reasoning", "answer")


@torch.no_grad()
def teacher_forced_accuracy(model, tokenizer, problems: Sequence[Problem], template: Template) -> dict:
    """Next-token accuracy of left-to-right decoding with the gold prefix given (teacher forcing), by
    token class (:func:`token_classes`): for each response offset j, every response position from j
    on is masked and the argmax at j is compared with the gold token. Separates "has not learnt the
    arithmetic" (result digits, above all units digits) from "has not learnt the format" (other tokens).
    ``units_digit_by_step`` splits the units digits by step (first step's result, second's, ...):
    the first step's operands are both stated in the question, later steps read one off the trace."""
    canvas = build_canvas(tokenizer, [p.question for p in problems], template, answers=[p.answer for p in problems],
                          reasonings=[p.reasoning for p in problems])
    gold, response = canvas.input_ids, canvas.response_mask
    classes = token_classes(tokenizer, gold, canvas)
    steps = units_digit_steps(classes)
    n_steps = int(steps.max()) + 1
    cols = torch.arange(gold.shape[1])
    hits, counts = torch.zeros(len(TOKEN_CLASSES)), torch.zeros(len(TOKEN_CLASSES))
    step_hits, step_counts = torch.zeros(n_steps), torch.zeros(n_steps)
    start = canvas.reasoning[:, :1]
    for offset in range(int((canvas.answer[:, 1:] - start).max())):
        target = start + offset  # [B, 1]
        masked = gold.masked_fill(response & (cols >= target), canvas.special.mask_id)
        out = model(masked, attention_mask=canvas.attention_mask)
        logits = logits_of(out).float().clone()
        logits[..., canvas.special.mask_id] = float("-inf")
        predicted = logits.gather(1, target.unsqueeze(-1).expand(-1, 1, logits.shape[-1])).argmax(-1)  # [B, 1]
        correct = (predicted == gold.gather(1, target))[:, 0]
        target_class = classes.gather(1, target)[:, 0]
        scored = target_class >= 0
        hits += torch.bincount(target_class[scored], weights=correct[scored].float(), minlength=len(TOKEN_CLASSES))
        counts += torch.bincount(target_class[scored], minlength=len(TOKEN_CLASSES))
        target_step = steps.gather(1, target)[:, 0]
        units = target_step >= 0
        step_hits += torch.bincount(target_step[units], weights=correct[units].float(), minlength=n_steps)
        step_counts += torch.bincount(target_step[units], minlength=n_steps)
    result = {name: float(hits[k] / counts[k]) if counts[k] else float("nan") for k, name in enumerate(TOKEN_CLASSES)}
    result["units_digit_by_step"] = [float(step_hits[k] / step_counts[k]) for k in range(n_steps)]
    return result
