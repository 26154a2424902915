"""The one decoding loop: ``generate(model, input_ids, *, sampler, mask_id, ...)``.

Per forward pass, for every active row: logits → (mask token removed) log-probabilities, entropy,
confidence and margin of every masked position → optional early exit on the answer slot → a
selection rule picks the positions to commit → their tokens are written (argmax, or Gumbel-max at
the temperature in float64). Rows finish independently; ``nfe`` counts, per row, the forward passes
made while that row was active (PAPER.md D20). Only active rows are fed to the model.

Blocks (LLaDA's semi-autoregressive decoding): over each row's masked region, starting at its first
masked position, block j = [start + j·bs, start + (j+1)·bs); only masked positions of the leftmost
block that still has masks are eligible. With ``answer_span`` and ``answer_last`` (PAPER.md D8),
the answer slot is outside the reasoning's blocks and becomes eligible once everything else is
committed; it is then decoded in blocks of its own of the same size (so ``block_size=1`` is
left-to-right everywhere, as LLaDA's blocks are).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdlm_study.sampling import exit as early_exit
from mdlm_study.sampling.noise import gumbel, hash_uniform, row_seeds
from mdlm_study.sampling.rules import FIXED_COUNT, RULE_PARAMS, RULES

KNOWN_RULE_PARAMS = ("med_lambda", "eb_gamma", "tau", "factor", "prophet_thresholds")


@dataclass
class GenerationOutput:
    sequences: torch.Tensor  # [B, L] long
    nfe: torch.Tensor  # [B] long
    logprob: torch.Tensor  # [B] float64: sum of log p(token) of committed tokens, at commit time
    exited: torch.Tensor  # [B] bool
    exit_step: torch.Tensor  # [B] long: nfe at exit, -1 if the row did not exit
    history: list | None = None


@torch.no_grad()
def generate(
    model,
    input_ids: torch.Tensor,
    *,
    sampler: str,
    mask_id: int,
    attention_mask: torch.Tensor | None = None,
    block_size: int | None = None,
    tokens_per_step: int = 1,
    temperature: float = 0.0,
    generator=None,
    return_history: bool = False,
    answer_span=None,
    exit_gamma: float | None = None,
    exit_rule: str = "entropy",
    answer_last: bool = True,
    shift_logits: bool = False,
    suppress_token_ids=None,
    **rule_params,
) -> GenerationOutput:
    """Fill every mask of ``input_ids`` [B, L] with the rule ``sampler`` (see ``rules.RULES``).

    ``answer_span``: one ``(start, end)`` or a LongTensor [B, 2] (end exclusive); enables H_UB in
    the history and early exit (``exit_gamma`` for the entropy rule, or ``exit_rule="prophet"``).
    ``generator``: a ``torch.Generator`` or a list of one per row; required when sampling.
    ``shift_logits``: the model predicts position i at output i-1 (Dream); position 0 keeps output 0.
    """
    params = _validate(input_ids, sampler, mask_id, attention_mask, block_size, tokens_per_step, temperature, exit_rule, rule_params)
    batch, length = input_ids.shape
    device = input_ids.device
    x = input_ids.clone()
    answer = _answer_mask(answer_span, batch, length, device)
    exit_on = answer is not None and (exit_gamma is not None or exit_rule == "prophet")
    needs_noise = temperature > 0 or sampler == "random"
    if needs_noise and generator is None:
        raise ValueError(f"sampler={sampler!r} with temperature={temperature} needs a generator (torch.Generator or one per row)")
    state = _State.start(x, mask_id, attention_mask, answer if answer_last else None, block_size, tokens_per_step, generator if needs_noise else None)
    history = [] if return_history else None
    while True:
        active = (x == mask_id).any(1) & ~state.exited
        if not active.any():
            break
        rows = active.nonzero()[:, 0]
        stats = _statistics(model, x[rows], attention_mask[rows] if attention_mask is not None else None, mask_id, shift_logits, suppress_token_ids)
        state.nfe[rows] += 1
        masked = x[rows] == mask_id
        tokens, token_logp = _choose(stats, temperature, state, rows, masked, length)
        record = _new_record(batch, length, device, active) if return_history else None
        exiting = torch.zeros_like(rows, dtype=torch.bool)
        if answer is not None:
            exiting = _exit_check(stats, masked, answer[rows], exit_on, exit_rule, exit_gamma, params, state, rows, record)
        eligible = _eligible(masked, state, rows, answer if answer_last else None)
        stats["uniform"] = _uniform_scores(state, rows, length) if sampler == "random" else None
        commit = RULES[sampler](stats, eligible, k=tokens_per_step, params=params) & masked
        commit = torch.where(exiting[:, None], _exit_fill(masked, answer[rows] if answer is not None else None, exit_rule), commit)
        _apply(x, rows, commit, tokens, token_logp, state, exiting)
        if record is not None:
            _fill_record(record, rows, commit, tokens, stats["entropy"], masked)
            history.append(record)
    return GenerationOutput(x, state.nfe, state.logprob, state.exited, state.exit_step, history)


@dataclass
class _State:
    nfe: torch.Tensor
    logprob: torch.Tensor
    exited: torch.Tensor
    exit_step: torch.Tensor
    block_of: torch.Tensor  # [B, L] block index of each position (answer slot's blocks last)
    offset: torch.Tensor  # [B] index of the first real token (left padding)
    seeds: torch.Tensor | None  # [B] per-row seeds
    budget: torch.Tensor  # [B] Prophet's step budget

    @classmethod
    def start(cls, x, mask_id, attention_mask, answer, block_size, k, generator):
        batch, length = x.shape
        device = x.device
        masked = x == mask_id
        cols = torch.arange(length, device=device).expand(batch, length)
        region = masked & ~answer if answer is not None else masked
        start = torch.where(region.any(1), region.to(torch.long).argmax(1), torch.full((batch,), length, device=device))
        size = block_size or length
        block_of = torch.div((cols - start[:, None]).clamp(min=0), size, rounding_mode="floor")
        if answer is not None:  # the answer slot comes after every other block, in blocks of its own
            answer_start = answer.to(torch.long).argmax(1, keepdim=True)
            answer_block = length + 1 + torch.div((cols - answer_start).clamp(min=0), size, rounding_mode="floor")
            block_of = torch.where(answer, answer_block, block_of)
        offset = (attention_mask == 0).sum(1) if attention_mask is not None else torch.zeros(batch, dtype=torch.long, device=device)
        seeds = row_seeds(generator, batch).to(device) if generator is not None else None
        budget = torch.div(masked.sum(1) + k - 1, k, rounding_mode="floor")
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        return cls(zeros.clone(), torch.zeros(batch, dtype=torch.float64, device=device), torch.zeros(batch, dtype=torch.bool, device=device),
                   torch.full((batch,), -1, dtype=torch.long, device=device), block_of, offset, seeds, budget)


def _statistics(model, x, attention_mask, mask_id, shift, suppress) -> dict:
    """Per-position statistics of one forward pass (float32): log-probs with the mask removed,
    entropy (nats), the raw logits' top-1 - top-2 gap (for Prophet)."""
    out = model(x, attention_mask=attention_mask)
    logits = out.logits if hasattr(out, "logits") else out
    if not torch.is_tensor(logits) or logits.dim() != 3 or logits.shape[:2] != x.shape:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"model must return logits of shape [B, L, V] = [{x.shape[0]}, {x.shape[1]}, V], got {shape}")
    logits = logits.float()
    if shift:
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
    logits = logits.clone()
    logits[..., mask_id] = -torch.inf
    if suppress:
        logits[..., list(suppress)] = torch.where(x[..., None] == mask_id, -torch.inf, logits[..., list(suppress)])
    logp = torch.log_softmax(logits, dim=-1)
    probs = logp.exp()
    entropy = -(probs * torch.where(probs > 0, logp, torch.zeros_like(logp))).sum(-1)
    top2_logits = logits.topk(2, dim=-1).values
    top2_probs = probs.topk(2, dim=-1).values
    return {"logits": logits, "logp": logp, "entropy": entropy, "gap": top2_logits[..., 0] - top2_logits[..., 1],
            "margin": top2_probs[..., 0] - top2_probs[..., 1]}


def _choose(stats, temperature, state, rows, masked, length):
    """The token each masked position would take (argmax, or Gumbel-max at the temperature in
    float64, noise from the row's counter-based stream) and its log-probability (temperature 1)."""
    logits = stats["logits"]
    tokens = logits.argmax(-1)
    if temperature > 0:
        tokens = tokens.clone()
        where = masked.nonzero()
        row_index, col = where[:, 0], where[:, 1]
        seeds, steps = state.seeds[rows][row_index], state.nfe[rows][row_index]
        pos = col - state.offset[rows][row_index]
        chunk = max(1, 2**24 // logits.shape[-1])  # bound the float64 noise buffer to ~128 MB
        for i in range(0, len(col), chunk):
            part = slice(i, i + chunk)
            uniform = hash_uniform(seeds[part], steps[part], pos[part], logits.shape[-1])
            scores = logits[row_index[part], col[part]].to(torch.float64) / temperature + gumbel(uniform)
            tokens[row_index[part], col[part]] = scores.argmax(-1)
    token_logp = stats["logp"].gather(-1, tokens[..., None])[..., 0]
    stats["confidence"] = token_logp.exp()
    stats["position"] = torch.arange(length, device=logits.device).expand_as(tokens)
    return tokens, token_logp


def _uniform_scores(state, rows, length) -> torch.Tensor:
    """Per-position uniforms for the random order (a different key than the token noise)."""
    pos = torch.arange(length, device=state.nfe.device).expand(len(rows), length) - state.offset[rows][:, None]
    seeds = state.seeds[rows].repeat_interleave(length) ^ 0x5BD1E995
    return hash_uniform(seeds, state.nfe[rows].repeat_interleave(length), pos.reshape(-1)).view(len(rows), length)


def _eligible(masked, state, rows, answer):
    """Masked positions in the leftmost block that still has masks (answer slot last)."""
    block_of = state.block_of[rows]
    big = torch.iinfo(torch.long).max
    current = torch.where(masked, block_of, torch.full_like(block_of, big)).min(1, keepdim=True).values
    return masked & (block_of == current)


def _exit_check(stats, masked, answer, exit_on, rule, gamma, params, state, rows, record):
    answer_masked = masked & answer
    h_ub = early_exit.answer_entropy(stats["entropy"], answer_masked)
    gap = early_exit.answer_gap(stats["gap"], answer_masked)
    if record is not None:
        record["answer_entropy"][rows] = h_ub
        record["answer_gap"][rows] = gap
    if not exit_on:
        return torch.zeros_like(rows, dtype=torch.bool)
    reasoning_left = (masked & ~answer).any(1)
    steps_done = state.nfe[rows] - 1
    hit = early_exit.should_exit(rule, h_ub=h_ub, gap=gap, steps_done=steps_done, budget=state.budget[rows], gamma=gamma,
                                 thresholds=params.get("prophet_thresholds", early_exit.PROPHET_THRESHOLDS))
    return hit & reasoning_left & answer_masked.any(1)


def _exit_fill(masked, answer, rule):
    """Positions filled at exit: the masked answer positions (paper) or every mask (Prophet)."""
    if answer is None:
        return torch.zeros_like(masked)
    return masked if rule == "prophet" else masked & answer


def _apply(x, rows, commit, tokens, token_logp, state, exiting):
    sub = x[rows]
    x[rows] = torch.where(commit, tokens, sub)
    state.logprob[rows] += torch.where(commit, token_logp.to(torch.float64), torch.zeros_like(token_logp, dtype=torch.float64)).sum(1)
    exit_rows = rows[exiting]
    state.exited[exit_rows] = True
    state.exit_step[exit_rows] = state.nfe[exit_rows]


def _new_record(batch, length, device, active):
    return {"active": active.clone(), "committed": torch.zeros(batch, length, dtype=torch.bool, device=device),
            "tokens": torch.full((batch, length), -1, dtype=torch.long, device=device),
            "entropy": torch.full((batch, length), float("nan"), device=device),
            "answer_entropy": torch.full((batch,), float("nan"), device=device),
            "answer_gap": torch.full((batch,), float("nan"), device=device)}


def _fill_record(record, rows, commit, tokens, entropy, masked):
    record["committed"][rows] = commit
    record["tokens"][rows] = torch.where(commit, tokens, torch.full_like(tokens, -1))
    record["entropy"][rows] = torch.where(masked, entropy, torch.full_like(entropy, float("nan")))


def _answer_mask(span, batch, length, device):
    if span is None:
        return None
    span = torch.as_tensor(span, dtype=torch.long, device=device)
    if span.dim() == 1:
        span = span.expand(batch, 2)
    if span.shape != (batch, 2):
        raise ValueError(f"answer_span must be (start, end) or [B, 2] = [{batch}, 2], got shape {tuple(span.shape)}")
    if (span[:, 0] < 0).any() or (span[:, 1] > length).any() or (span[:, 1] <= span[:, 0]).any():
        raise ValueError(f"answer_span must satisfy 0 <= start < end <= {length}, got {span.tolist()}")
    cols = torch.arange(length, device=device)
    return (cols >= span[:, :1]) & (cols < span[:, 1:])


def _validate(input_ids, sampler, mask_id, attention_mask, block_size, k, temperature, exit_rule, rule_params) -> dict:
    if sampler not in RULES:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(RULES)}")
    unknown = set(rule_params) - set(KNOWN_RULE_PARAMS)
    if unknown:
        raise ValueError(f"unknown rule parameter(s) {sorted(unknown)}; valid: {KNOWN_RULE_PARAMS}")
    for name in RULE_PARAMS.get(sampler, ()):
        if rule_params.get(name) is None:
            raise ValueError(f"sampler {sampler!r} needs {name}=...")
    _check_range(rule_params, temperature, k, block_size)
    if exit_rule not in early_exit.EXIT_RULES:
        raise ValueError(f"unknown exit_rule {exit_rule!r}; expected one of {early_exit.EXIT_RULES}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [B, L], got shape {tuple(input_ids.shape)}")
    if not (input_ids == mask_id).any():
        raise ValueError(f"input_ids contain no mask token (mask_id={mask_id}): nothing to decode")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} != input_ids shape {tuple(input_ids.shape)}")
    if sampler not in FIXED_COUNT and k != 1:
        raise ValueError(f"tokens_per_step={k} only applies to the fixed-count rules {FIXED_COUNT}, not {sampler!r}")
    return dict(rule_params)


def _check_range(p, temperature, k, block_size) -> None:
    checks = [
        ("med_lambda", p.get("med_lambda"), lambda v: v >= 0, ">= 0"),
        ("eb_gamma", p.get("eb_gamma"), lambda v: v >= 0, ">= 0"),
        ("tau", p.get("tau"), lambda v: 0 < v <= 1, "in (0, 1]"),
        ("factor", p.get("factor"), lambda v: v > 0, "> 0"),
        ("temperature", temperature, lambda v: v >= 0, ">= 0"),
        ("tokens_per_step", k, lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
        ("block_size", block_size, lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    ]
    for name, value, ok, what in checks:
        if value is not None and not ok(value):
            raise ValueError(f"{name} must be {what}, got {value!r}")


def model_device(model) -> torch.device:
    """Where a model's parameters live (CPU for a callable without parameters, e.g. a toy denoiser):
    the device :func:`generate`'s callers move their canvases to."""
    return next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")
