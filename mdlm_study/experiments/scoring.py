"""Step scoring without rollouts (docs/decisions.md, "Step scoring"): a clearly labelled reconstruction.

For a trace split into steps r_1..r_n and a gold answer a*, prefix i (i = 0..n) is the canvas
``question | r_1..r_i | masks for the rest of the reasoning slot | delimiter | answer slot masked``.
Each prefix is scored by what the model predicts for the answer slot, and the step score is the
change d_i = s_i − s_{i−1}; the step with the largest drop is the likely first error.

Methods (``METHODS``); **the notebooks use ``answer_loglik``** (the default), because it is exact
(no sampling noise) and costs one forward pass per prefix:

- ``answer_loglik``: s_i = Σ_j log p(a*_j | prefix), j over the answer slot (the gold answer's
  tokens then its EOS fill, as the slot is filled in training, docs/decisions.md, "Answer fill"), all answer positions masked.
  This is the pseudo-log-likelihood of the product of the answer's marginals, not of the joint.
- ``answer_entropy``: −u_i with u_i = Σ_j H_j (the paper's H_UB at that prefix; higher = more
  certain). It ignores the gold answer: a confidently wrong trace scores well. A diagnostic only.
- ``mc_loglik``: LLaDA's Monte-Carlo likelihood (LLaDA paper, Eq. 6 / its ``get_log_likelihood``) of the answer given the prefix,
  unbiased for the joint answer's any-order ELBO but noisy (:func:`mc_prefix_loglik`).

Entropies are in nats; the mask token is removed from every softmax, as the engine does (docs/decisions.md, "Entropy distribution").
Models are called as ``model(input_ids=..., attention_mask=...)`` returning ``.logits`` [B, L, V]
aligned with the input (pass Dream through its aligned adapter, ``as_callable(aligned=True)``).

Baseline (:func:`step_pseudo_loglik`): the trace's own pseudo-log-likelihood with each step masked
once (n forward passes, as many as the prefix scores), given the question, the other steps and the
EOS fill, the answer slot masked (the baseline does not see the gold answer).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.stats import auroc, bootstrap_ci, wilson_interval
from mdlm_study.engine import model_device
from mdlm_study.engine.denoiser import logits_of
from mdlm_study.engine.likelihood import stratified_masks
from mdlm_study.engine.templates import Canvas, Template, build_canvas, reasoning_fits
from mdlm_study.tasks.arithmetic import Problem, corrupt_trace, grade_trace
from mdlm_study.tasks.gsm8k import corrupt_gsm8k_trace, corruptible_steps, grade_gsm8k_trace

METHODS = ("answer_loglik", "answer_entropy", "mc_loglik")
Item = tuple[str, Sequence[str], str]  # (question, steps r_1..r_n, gold answer)


@dataclass(frozen=True)
class StepLabels:
    """How a task corrupts a gold trace at a known step and labels a trace's first wrong step."""

    corrupt: Callable  # corrupt(problem, steps, *, step, rng, propagate) -> the corrupted steps
    grade: Callable  # grade(problem, steps) -> an object with .correct and .first_wrong
    candidates: Callable[[Sequence[str]], list[int]] | None = None  # steps that may be corrupted (None: every step)


ARITHMETIC_LABELS = StepLabels(corrupt_trace, grade_trace)  # exact labels of the synthetic task
# GSM8K: a calculator annotation's result changed (mdlm_study.tasks.gsm8k); only gold traces that check out are used
GSM8K_LABELS = StepLabels(corrupt_gsm8k_trace, grade_gsm8k_trace, corruptible_steps)


def prefix_texts(steps: Sequence[str], separator: str = "\n") -> list[str]:
    """The n + 1 reasoning prefixes: ``""``, ``"r_1\\n"``, …, ``"r_1\\n…r_{n-1}\\n"``, ``"r_1\\n…r_n"``.

    The separator belongs to the step before it, so prefix i holds exactly the tokens that the
    full trace ``"\\n".join(steps)`` has before r_{i+1} (checked by :func:`prefix_canvases`)."""
    n = len(steps)
    return [separator.join(steps[:i]) + (separator if 0 < i < n else "") for i in range(n + 1)]


def _prefix_batch(tokenizer, items: Sequence[Item], template: Template) -> tuple[Canvas, torch.Tensor, np.ndarray, np.ndarray]:
    """All prefixes of all items in one left-padded canvas, the answer slot masked.

    Returns the canvas, the gold answer-slot ids [N, A], the item index of each row [N] and the
    number of reasoning tokens of each prefix [N]."""
    if not items:
        raise ValueError("items is empty: nothing to score")
    questions, prefixes, answers, owner = [], [], [], []
    for k, (question, steps, answer) in enumerate(items):
        texts = prefix_texts(list(steps), template.step_separator)
        questions += [question] * len(texts)
        prefixes += texts
        answers += [answer] * len(texts)
        owner += [k] * len(texts)
    canvas = build_canvas(tokenizer, questions, template, answers=answers, reasonings=prefixes, reasoning_fill="mask")
    a0, a1 = canvas.answer[0].tolist()
    targets = canvas.input_ids[:, a0:a1].clone()
    canvas.input_ids[:, a0:a1] = canvas.special.mask_id
    owner = np.asarray(owner)
    return canvas, targets, owner, _check_prefixes(canvas, owner)


def _check_prefixes(canvas: Canvas, owner: np.ndarray) -> np.ndarray:
    """Raise unless each prefix's tokens start the full trace's tokens; return the prefix lengths."""
    r0, r1 = canvas.reasoning[0].tolist()
    slot = canvas.input_ids[:, r0:r1]
    lengths = (slot != canvas.special.mask_id).sum(1).numpy()
    for k in np.unique(owner):
        rows = np.flatnonzero(owner == k)
        full = slot[rows[-1]]
        for step, row in enumerate(rows):
            if not torch.equal(slot[row, : lengths[row]], full[: lengths[row]]):
                raise ValueError(f"item {k}: reasoning prefix {step} tokenizes differently from the same text inside the full trace")
    return lengths


def prefix_canvases(tokenizer, problem_question: str, steps: Sequence[str], answer: str, template: Template) -> Canvas:
    """The n + 1 prefix canvases of one trace (rows i = 0..n), reasoning rest and answer masked."""
    return _prefix_batch(tokenizer, [(problem_question, steps, answer)], template)[0]


def _log_probs_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, cols: tuple[int, int], mask_id: int) -> torch.Tensor:
    """Log-softmax at the columns ``cols`` = (start, end), the mask token excluded: [B, C, V] float32.

    All-padding columns on the left are trimmed first (the model sees the same row either way)."""
    first = int((attention_mask.sum(0) > 0).nonzero()[0])
    device = model_device(model)
    with torch.no_grad():
        out = model(input_ids=input_ids[:, first:].to(device), attention_mask=attention_mask[:, first:].to(device))
    logits = logits_of(out)[:, cols[0] - first : cols[1] - first].float().cpu()
    logits[..., mask_id] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def _entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats over the last axis (0 · log 0 = 0, so the excluded mask token adds nothing)."""
    p = log_probs.exp()
    return -torch.where(p > 0, p * log_probs, torch.zeros_like(p)).sum(-1)


def _single_pass_scores(model, canvas: Canvas, targets: torch.Tensor, method: str, batch_size: int) -> np.ndarray:
    """``answer_loglik`` or ``−answer_entropy`` of every canvas row [N], float64."""
    cols = tuple(canvas.answer[0].tolist())
    scores = []
    for start in range(0, canvas.input_ids.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        lp = _log_probs_at(model, canvas.input_ids[rows], canvas.attention_mask[rows], cols, canvas.special.mask_id)
        if method == "answer_loglik":
            scores.append(lp.gather(-1, targets[rows, :, None]).squeeze(-1).double().sum(-1))
        else:
            scores.append(-_entropy(lp).double().sum(-1))
    return torch.cat(scores).numpy()


def mc_prefix_loglik(model, tokenizer, items: Sequence[Item], template: Template, *, mc_samples: int = 16, seed: int = 0,
                     batch_size: int = 256) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Monte-Carlo log p(answer | prefix) for every prefix: (means, standard errors), one array per trace.

    Draw m masks k_m of the A answer-slot tokens (:func:`mdlm_study.engine.likelihood.stratified_masks`; the rest revealed) and
    estimates e_m = (A / k_m) Σ_{j masked} log p(a*_j | prefix, revealed answer tokens). Averaging
    over k ~ U{1..A} and the subset gives Σ_t E[log p(a_{σ_t} | a_{σ<t})] over random orders σ:
    the any-order autoregressive ELBO of the joint answer, which equals log p(a* | prefix) when
    the model's conditionals are consistent, so the mean of the e_m is unbiased for it. Its
    variance comes from the spread of the e_m across mask counts (k = 1 multiplies one token's
    log-probability by A); the standard error is std(e_m, ddof=1) / sqrt(M), the i.i.d. formula,
    which the stratification of k makes conservative (NaN when M = 1). All prefixes of one trace
    share the same masks (common random numbers), so the step deltas are less noisy than the
    scores. M forward passes per prefix. ``answer_loglik`` is the k = A term alone.
    """
    int_at_least("mc_samples", mc_samples)
    canvas, targets, owner, _ = _prefix_batch(tokenizer, items, template)
    n_rows, answer_len = targets.shape
    masks = stratified_masks(len(items), answer_len, mc_samples, torch.Generator().manual_seed(seed))
    a0, a1 = canvas.answer[0].tolist()
    owner_t = torch.as_tensor(owner)
    estimates = []
    for start in range(0, n_rows * mc_samples, batch_size):
        flat = torch.arange(start, min(start + batch_size, n_rows * mc_samples))
        row, draw = flat // mc_samples, flat % mc_samples
        masked = masks[owner_t[row], draw]  # [b, A]
        ids = canvas.input_ids[row].clone()
        ids[:, a0:a1] = torch.where(masked, canvas.special.mask_id, targets[row])
        lp = _log_probs_at(model, ids, canvas.attention_mask[row], (a0, a1), canvas.special.mask_id)
        token_lp = lp.gather(-1, targets[row, :, None]).squeeze(-1).double()
        estimates.append((token_lp * masked).sum(-1) * answer_len / masked.sum(-1))
    draws = torch.cat(estimates).view(n_rows, mc_samples).numpy()
    se = draws.std(axis=1, ddof=1) / np.sqrt(mc_samples) if mc_samples > 1 else np.full(n_rows, np.nan)
    return _split(draws.mean(axis=1), owner), _split(se, owner)


def _split(values: np.ndarray, owner: np.ndarray) -> list[np.ndarray]:
    return [values[owner == k] for k in range(int(owner.max()) + 1)]


def score_prefixes(model, tokenizer, items: Sequence[Item], template: Template, *, method: str = "answer_loglik",
                   mc_samples: int = 16, seed: int = 0, batch_size: int = 256) -> list[np.ndarray]:
    """Score every prefix of every trace; returns one float64 array [n_i + 1] per item (higher = better).

    ``items`` are ``(question, steps, gold_answer)``. All prefixes of all traces go through the model
    in ``ceil(N / batch_size)`` forward calls (``mc_loglik``: M times as many). See the module
    docstring for the methods; the notebooks use ``answer_loglik``. ``mc_loglik`` returns the means
    of :func:`mc_prefix_loglik`, which also gives their standard errors."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    int_at_least("batch_size", batch_size)
    if method == "mc_loglik":
        return mc_prefix_loglik(model, tokenizer, items, template, mc_samples=mc_samples, seed=seed, batch_size=batch_size)[0]
    canvas, targets, owner, _ = _prefix_batch(tokenizer, items, template)
    return _split(_single_pass_scores(model, canvas, targets, method, batch_size), owner)


def step_deltas(scores: Sequence[float]) -> np.ndarray:
    """d_i = s_i − s_{i−1} for i = 1..n: the change in score that step i brings."""
    return np.diff(np.asarray(scores, dtype=np.float64))


def locate_first_error(scores: Sequence[float]) -> int:
    """The 0-based index of the step with the largest drop (argmin of the deltas; first on ties),
    comparable with ``grade_trace(...).first_wrong``."""
    deltas = step_deltas(scores)
    if deltas.size == 0:
        raise ValueError(f"need at least 2 prefix scores (a trace with >= 1 step), got {len(scores)}")
    return int(np.argmin(deltas))


def step_pseudo_loglik(model, tokenizer, items: Sequence[Item], template: Template, *,
                       batch_size: int = 256) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Baseline: the trace's own log-probability, one step masked at a time. Returns, per trace,
    the summed log-probabilities of each step's tokens [n] and their token counts [n].

    Canvas: the complete trace followed by EOS fill (as in training), the answer slot masked; for
    step i the tokens of r_i and its trailing separator are masked and scored given the rest. The
    trace score is the mean log-probability per reasoning token (sums.sum() / counts.sum()); the
    step with the lowest mean is its guess of the first error."""
    _, _, owner, lengths = _prefix_batch(tokenizer, items, template)
    questions, traces, answers = zip(*[(q, template.step_separator.join(steps), a) for q, steps, a in items], strict=True)
    full = build_canvas(tokenizer, list(questions), template, answers=list(answers), reasonings=list(traces))
    a0, a1 = full.answer[0].tolist()
    full.input_ids[:, a0:a1] = full.special.mask_id
    r0, r1 = full.reasoning[0].tolist()
    spans = _step_spans(owner, lengths)
    sums = np.zeros(len(spans))
    for start in range(0, len(spans), batch_size):
        chunk = spans[start : start + batch_size]
        ids = full.input_ids[[k for k, _, _ in chunk]].clone()
        masked = torch.zeros(len(chunk), r1 - r0, dtype=torch.bool)
        for j, (_, lo, hi) in enumerate(chunk):
            masked[j, lo:hi] = True
        targets = ids[:, r0:r1].clone()
        ids[:, r0:r1] = torch.where(masked, full.special.mask_id, targets)
        lp = _log_probs_at(model, ids, full.attention_mask[[k for k, _, _ in chunk]], (r0, r1), full.special.mask_id)
        token_lp = lp.gather(-1, targets[..., None]).squeeze(-1).double()
        sums[start : start + len(chunk)] = (token_lp * masked).sum(-1).numpy()
    counts = np.array([hi - lo for _, lo, hi in spans])
    step_owner = np.array([k for k, _, _ in spans])
    return [sums[step_owner == k] for k in range(len(items))], [counts[step_owner == k] for k in range(len(items))]


def _step_spans(owner: np.ndarray, lengths: np.ndarray) -> list[tuple[int, int, int]]:
    """(item, start, end) of every step in reasoning-slot coordinates, from the prefix lengths."""
    spans = []
    for k in range(int(owner.max()) + 1):
        bounds = lengths[owner == k]
        spans += [(k, int(bounds[i]), int(bounds[i + 1])) for i in range(len(bounds) - 1)]
    return spans


def scoring_items(problems: Sequence[Problem], *, propagate: bool = True, seed: int = 0,
                  fits: Callable[[Sequence[str]], bool] | None = None, max_tries: int = 16,
                  labels: StepLabels = ARITHMETIC_LABELS) -> tuple[list[dict], list[Item]]:
    """For each problem its gold trace and a copy corrupted at a random step (seeded), with labels.

    ``fits(steps)`` says whether a trace fits the reasoning slot: a corruption that makes the trace
    too long (a result gaining a digit, propagated) is redrawn, up to ``max_tries`` times; a problem
    with no corruption that fits (or whose gold trace does not) is left out, so every scored trace is
    one the template can hold. With ``labels.candidates`` (GSM8K) the step is drawn among the
    candidates, and a problem without any, or whose gold trace does not grade correct, is left out."""
    int_at_least("max_tries", max_tries)
    rng, rows, items = random.Random(seed), [], []
    for problem in problems:
        if fits is not None and not fits(problem.steps):
            continue
        choices = None if labels.candidates is None else labels.candidates(problem.steps)
        if choices is not None and (not choices or not labels.grade(problem, list(problem.steps)).correct):
            continue
        for _ in range(max_tries):
            step = rng.randrange(len(problem.steps)) if choices is None else rng.choice(choices)
            bad = labels.corrupt(problem, problem.steps, step=step, rng=rng, propagate=propagate)
            if fits is None or fits(bad):
                break
        else:
            continue
        for kind, steps, corrupt_step in (("gold", problem.steps, None), ("corrupted", bad, step)):
            grade = labels.grade(problem, list(steps))
            rows.append({"uid": problem.uid, "kind": kind, "n_steps": len(steps), "corrupt_step": corrupt_step,
                         "first_wrong": grade.first_wrong, "steps": list(steps)})
            items.append((problem.question, list(steps), problem.answer))
    return rows, items


def evaluate_step_scoring(model, tokenizer, problems: Sequence[Problem], template: Template, *, methods: Sequence[str] = METHODS,
                          corrupt_propagate: bool = True, seed: int = 0, mc_samples: int = 16, batch_size: int = 256,
                          baseline: bool = True, labels: StepLabels = ARITHMETIC_LABELS) -> pd.DataFrame:
    """One row per (problem, kind in {gold, corrupted}): for each method (and the ``trace_pll``
    baseline) the final-prefix score ``<m>``, the step deltas ``<m>_deltas`` and the located step
    ``<m>_located``; ``mc_loglik_se`` is the final score's standard error. Aggregate with
    :func:`summarize_step_scoring`. The corruption (step and offset) is seeded by ``seed``; problems
    whose traces cannot fit the reasoning slot are left out (see :func:`scoring_items`). ``labels``:
    the task's corruption and grader (:data:`GSM8K_LABELS` for :class:`~mdlm_study.tasks.gsm8k.GSM8KItem`\\ s)."""
    if not problems:
        raise ValueError("problems is empty: nothing to score")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    def fits(steps: Sequence[str]) -> bool:
        return reasoning_fits(tokenizer, template.step_separator.join(steps), template)

    rows, items = scoring_items(problems, propagate=corrupt_propagate, seed=seed, fits=fits, labels=labels)
    if not rows:
        raise ValueError(f"none of the {len(problems)} problems has a trace that fits the reasoning slot ({template.reasoning_len} tokens)")
    table = pd.DataFrame(rows)
    kwargs = {"seed": seed, "batch_size": batch_size}
    for method in methods:
        if method == "mc_loglik":
            scores, ses = mc_prefix_loglik(model, tokenizer, items, template, mc_samples=mc_samples, **kwargs)
            table["mc_loglik_se"] = [float(se[-1]) for se in ses]
        else:
            scores = score_prefixes(model, tokenizer, items, template, method=method, **kwargs)
        table[method] = [float(s[-1]) for s in scores]
        table[f"{method}_deltas"] = [step_deltas(s).tolist() for s in scores]
        table[f"{method}_located"] = [locate_first_error(s) for s in scores]
    if baseline:
        sums, counts = step_pseudo_loglik(model, tokenizer, items, template, batch_size=batch_size)
        table["trace_pll"] = [float(s.sum() / c.sum()) for s, c in zip(sums, counts, strict=True)]
        table["trace_pll_steps"] = [(s / c).tolist() for s, c in zip(sums, counts, strict=True)]
        table["trace_pll_located"] = [int(np.argmin(s / c)) for s, c in zip(sums, counts, strict=True)]
    return table


def summarize_step_scoring(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per score: AUROC of gold (positive) vs corrupted final scores with a stratified
    bootstrap 95% CI, and first-wrong-step localisation accuracy on the corrupted traces with a
    Wilson 95% CI (``loc_chance`` = the accuracy of guessing a step uniformly)."""
    names = [c[: -len("_located")] for c in table.columns if c.endswith("_located")]
    gold, bad = table[table["kind"] == "gold"], table[table["kind"] == "corrupted"]
    rows = []
    for name in names:
        low, high = bootstrap_ci(auroc, gold[name], bad[name], n_boot=n_boot, seed=seed)
        hits = int((bad[f"{name}_located"] == bad["first_wrong"]).sum())
        loc_low, loc_high = wilson_interval(hits, len(bad))
        rows.append({"score": name, "auroc": auroc(gold[name], bad[name]), "auroc_low": low, "auroc_high": high,
                     "n_gold": len(gold), "n_corrupted": len(bad), "loc_accuracy": hits / max(1, len(bad)),
                     "loc_low": loc_low, "loc_high": loc_high, "loc_chance": float((1 / bad["n_steps"]).mean())})
    return pd.DataFrame(rows)


def per_trace_scores(table: pd.DataFrame, names: Sequence[str]) -> dict:
    """``{"scores_<name>_gold": [...], "scores_<name>_corrupted": [...]}``: each score's final value on
    every gold and every corrupted trace, in one trace order (by problem) for all names, so two scores
    of the same traces can be compared by DeLong's paired test (``pooling.paired_auroc_difference``).
    Names the table lacks are left out."""
    out = {}
    for kind in ("gold", "corrupted"):
        rows = table[table["kind"] == kind].sort_values("uid", kind="stable")
        for name in names:
            if name in rows:
                out[f"scores_{name}_{kind}"] = [float(v) for v in rows[name]]
    return out
