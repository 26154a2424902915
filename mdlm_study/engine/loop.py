"""The one decoding loop: ``generate(model, input_ids, *, sampler, mask_id, ...)`` or ``config=``.

Per forward pass, for every active row: logits → at each masked position (mask token removed)
entropy, confidence and margin, and the token it would take → optional early exit on the answer
slot → a selection rule picks the positions to commit → their tokens are written (argmax, or
Gumbel-max at the temperature in float64). Rows finish independently; ``nfe`` counts, per row, the
forward passes made while that row was active (docs/decisions.md, "NFE accounting"). Only active rows
are fed to the model.

Blocks (LLaDA's semi-autoregressive decoding): over each row's masked region, starting at its first
masked position, block j = [start + j·bs, start + (j+1)·bs); only masked positions of the leftmost
block that still has masks are eligible. With ``answer_span`` and ``answer_last`` (docs/decisions.md, "Answer slot decoded last"), the answer
slot is outside the reasoning's blocks and becomes eligible once everything else is committed; it is
then decoded in blocks of its own of the same size (so ``block_size=1`` is left-to-right everywhere,
as LLaDA's blocks are).

Memory: the statistics are computed at masked positions only, in chunks of at most
``CHUNK_ELEMENTS`` logits, so a step holds the model's logits once plus a few chunk-sized
temporaries (``benchmarks/bench_sampling.py`` measures the peak per row).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

from mdlm_study.engine import exit as early_exit
from mdlm_study.engine import memory
from mdlm_study.engine.config import DecodeConfig
from mdlm_study.engine.denoiser import logits_of, source_positions
from mdlm_study.engine.noise import gumbel, hash_uniform, row_generators, row_seeds
from mdlm_study.engine.rules import RULES

CHUNK_ELEMENTS = 2**22  # logits per statistics chunk (16 MB of float32 temporaries each)
_CALL_DEFAULTS = {"sampler": None, "block_size": None, "tokens_per_step": 1, "temperature": 0.0, "exit_gamma": None,
                  "exit_rule": "entropy", "answer_last": True, "suppress_token_ids": None}


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
    sampler: str | None = None,
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
    token_prior: torch.Tensor | None = None,
    config: DecodeConfig | None = None,
    **rule_params,
) -> GenerationOutput:
    """Fill every mask of ``input_ids`` [B, L] (integer token ids) with the rule ``sampler``.

    Decoding settings come either as keywords (``sampler``, ``block_size``, ``tokens_per_step``,
    ``temperature``, ``exit_gamma``/``exit_rule``, ``answer_last``, ``suppress_token_ids`` and the
    rule's parameters, e.g. ``med_lambda=0.2``) or as ``config=DecodeConfig(...)``, not both.
    ``answer_span``: one ``(start, end)`` or a LongTensor [B, 2] (end exclusive); enables H_UB in
    the history and the early exit. ``generator``: a ``torch.Generator`` or a list of one per row;
    when decoding draws random numbers and none is given, a ``config``'s seed gives each row its own
    stream (``noise.row_generators``); loose keywords then need a generator.
    ``shift_logits``: the model predicts position i at output i-1 (Dream); position 0 keeps output 0.
    ``token_prior``: a [V] tensor of per-token priors, for the rules that read one (PC-Sampler).
    Rules that revoke (WINO) return tokens this call committed to the mask; ``nfe`` counts their
    verification as part of the step's pass (docs/decisions.md, "Recent decoders").
    ``return_history``: one record per forward pass, [B, L] tensors ``committed``, ``revoked``,
    ``tokens`` (committed tokens, -1 elsewhere), ``predicted`` (the token every still-masked position
    would take at that pass: the argmax at temperature 0; -1 elsewhere), ``entropy``, and [B]
    ``active``, ``answer_entropy`` (H_UB), ``answer_gap``: what the regime diagnostics read
    (``mdlm_study.experiments.regime``).
    """
    config = _resolve_config(config, dict(sampler=sampler, block_size=block_size, tokens_per_step=tokens_per_step,
                                          temperature=temperature, exit_gamma=exit_gamma, exit_rule=exit_rule,
                                          answer_last=answer_last, suppress_token_ids=suppress_token_ids), rule_params)
    x, mask_id, attention_mask = _check_inputs(input_ids, mask_id, attention_mask)
    batch, length = x.shape
    answer = _answer_mask(answer_span, batch, length, x.device)
    if config.exit_rule is not None and answer is None:
        raise ValueError(f"exit_rule={config.exit_rule!r} needs answer_span=(start, end): the exit watches the answer slot")
    generator = _generator(generator, config, batch, explicit=sampler is not None)
    prior = memory.check_prior(token_prior, config.rule.needs_prior, config.sampler)
    state = _State.start(x, mask_id, attention_mask, answer if config.answer_last else None, config, generator)
    history = [] if return_history else None
    while True:
        active = (x == mask_id).any(1) & ~state.exited
        if not active.any():
            break
        rows = active.nonzero()[:, 0]
        masked = x[rows] == mask_id
        state.nfe[rows] += 1
        row_mask = attention_mask[rows] if attention_mask is not None else None
        stats = _statistics(model, x[rows], row_mask, masked, mask_id, config, shift_logits,
                            state.noise_keys(rows) if config.temperature > 0 else None, keep_logp=state.kl is not None)
        record = _new_record(batch, length, x.device, active) if return_history else None
        exiting = torch.zeros_like(rows, dtype=torch.bool)
        if answer is not None:
            exiting = _exit_check(stats, masked, answer[rows], config, state, rows, record)
        eligible = _eligible(masked, state, rows)
        _rule_statistics(stats, state, rows, masked, eligible, prior, config.rule.needs_noise)
        commit = RULES[config.sampler](stats, eligible, k=config.tokens_per_step, params=config.params) & masked
        commit = torch.where(exiting[:, None], _exit_fill(masked, answer[rows] if answer is not None else None, config.exit_rule), commit)
        revoke = _revocations(model, x[rows], row_mask, stats, state, rows, masked, eligible, commit, exiting, config, shift_logits, mask_id)
        _apply(x, rows, commit, stats["tokens"], stats["token_logp"], state, exiting, revoke, mask_id)
        if record is not None:
            _fill_record(record, rows, commit, stats["tokens"], stats["entropy"], revoke, masked)
            history.append(record)
    return GenerationOutput(x, state.nfe, state.logprob, state.exited, state.exit_step, history)


def _resolve_config(config, call: dict, rule_params: dict) -> DecodeConfig:
    """The call's DecodeConfig: ``config`` itself (no other decoding keyword may then be set), or
    one built from the keywords (``exit_rule="entropy"`` without a γ means no exit, as before)."""
    if config is not None:
        if not isinstance(config, DecodeConfig):
            raise ValueError(f"config must be a DecodeConfig, got {type(config).__name__}")
        changed = sorted(k for k, v in call.items() if v != _CALL_DEFAULTS[k]) + sorted(rule_params)
        if changed:
            raise ValueError(f"pass either config= or decoding keywords, not both (got config and {changed})")
        return config
    if call["sampler"] is None:
        raise ValueError("generate needs sampler=... (a rule name) or config=DecodeConfig(...)")
    exit_rule = None if call["exit_rule"] == "entropy" and call["exit_gamma"] is None else call["exit_rule"]
    return DecodeConfig(call["sampler"], tokens_per_step=call["tokens_per_step"], block_size=call["block_size"],
                        temperature=call["temperature"], exit_rule=exit_rule, exit_gamma=call["exit_gamma"],
                        answer_last=call["answer_last"], suppress_token_ids=call["suppress_token_ids"], **rule_params)


def _check_inputs(input_ids, mask_id, attention_mask):
    """(ids as a long copy, mask id as an int, attention mask) after checking each (``ValueError``)."""
    if not torch.is_tensor(input_ids) or input_ids.dim() != 2 or input_ids.numel() == 0:
        shape = tuple(input_ids.shape) if torch.is_tensor(input_ids) else type(input_ids).__name__
        raise ValueError(f"input_ids must be a non-empty [B, L] tensor of token ids, got {shape}")
    if input_ids.dtype == torch.bool or input_ids.is_floating_point() or input_ids.is_complex():
        raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if isinstance(mask_id, bool) or not isinstance(mask_id, numbers.Integral) or mask_id < 0:
        raise ValueError(f"mask_id must be an int >= 0 (a token id), got {mask_id!r}")
    mask_id = int(mask_id)
    if bool((input_ids < 0).any()):
        raise ValueError(f"input_ids hold negative token ids, e.g. {int(input_ids.min())}")
    if not (input_ids == mask_id).any():
        raise ValueError(f"input_ids contain no mask token (mask_id={mask_id}): nothing to decode")
    if attention_mask is not None:
        if not torch.is_tensor(attention_mask) or attention_mask.shape != input_ids.shape:
            shape = tuple(attention_mask.shape) if torch.is_tensor(attention_mask) else type(attention_mask).__name__
            raise ValueError(f"attention_mask shape {shape} != input_ids shape {tuple(input_ids.shape)}")
        if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (real token)")
        empty = (~attention_mask.bool().any(1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"attention_mask rows {empty} are all zeros: a row needs at least one real token")
    return input_ids.to(torch.long).clone(), mask_id, attention_mask


def _generator(generator, config: DecodeConfig, batch: int, *, explicit: bool):
    """The generator(s) of the call: the caller's, or per-row streams from the config's seed."""
    if not config.needs_noise:
        return None
    if generator is not None:
        return generator
    if explicit:
        raise ValueError(f"sampler={config.sampler!r} with temperature={config.temperature} needs a generator "
                         "(torch.Generator or one per row), or pass config=DecodeConfig(..., seed=...)")
    return row_generators(config.seed, range(batch))


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
    decodable: torch.Tensor  # [B, L] masked when decoding began: the only positions a rule may revoke
    token_logp: torch.Tensor  # [B, L] float64 log p of each committed token, at commit time
    previous_commits: torch.Tensor  # [B] positions committed at the row's previous step in its current block
    previous_block: torch.Tensor  # [B] the block the row's previous step worked in
    kl: memory.KLHistory | None  # per-position KL history (rules with ``history_length``)

    @classmethod
    def start(cls, x, mask_id, attention_mask, answer, config: DecodeConfig, generator):
        batch, length = x.shape
        device = x.device
        masked = x == mask_id
        cols = torch.arange(length, device=device).expand(batch, length)
        region = masked & ~answer if answer is not None else masked
        start = torch.where(region.any(1), region.to(torch.long).argmax(1), torch.full((batch,), length, device=device))
        size = config.block_size or length
        block_of = torch.div((cols - start[:, None]).clamp(min=0), size, rounding_mode="floor")
        if answer is not None:  # the answer slot comes after every other block, in blocks of its own
            answer_start = answer.to(torch.long).argmax(1, keepdim=True)
            answer_block = length + 1 + torch.div((cols - answer_start).clamp(min=0), size, rounding_mode="floor")
            block_of = torch.where(answer, answer_block, block_of)
        offset = (attention_mask == 0).sum(1) if attention_mask is not None else torch.zeros(batch, dtype=torch.long, device=device)
        seeds = row_seeds(generator, batch).to(device) if generator is not None else None
        k = config.tokens_per_step
        budget = torch.div(masked.sum(1) + k - 1, k, rounding_mode="floor")
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        steps = config.rule.history_length(config.params) if config.rule.history_length else None
        kl = memory.KLHistory.start(batch, length, steps, device) if steps else None
        return cls(zeros.clone(), torch.zeros(batch, dtype=torch.float64, device=device), torch.zeros(batch, dtype=torch.bool, device=device),
                   torch.full((batch,), -1, dtype=torch.long, device=device), block_of, offset, seeds, budget, masked.clone(),
                   torch.zeros(batch, length, dtype=torch.float64, device=device), torch.full((batch,), length + 1, device=device),
                   torch.full((batch,), -1, device=device), kl)

    def noise_keys(self, rows):
        """(seed, step, first real column) of the active rows: the keys of the token noise."""
        return self.seeds[rows], self.nfe[rows], self.offset[rows]


def _statistics(model, x, attention_mask, masked, mask_id: int, config: DecodeConfig, shift: bool, noise_keys, *, keep_logp=False) -> dict:
    """Per-position statistics of one forward pass, at masked positions (NaN elsewhere): entropy
    (nats) and margin of the temperature-1 softmax with the mask token (and ``suppress_token_ids``)
    removed (docs/decisions.md, "Entropy distribution"), the raw logits' top-1 − top-2 gap (Prophet), the token each position would take
    and its log-probability; computed in chunks of positions (module docstring). ``keep_logp`` adds
    ``logp`` [b, L, V], the log-probabilities at masked positions (KLASS's history)."""
    logits = logits_of(model(x, attention_mask=attention_mask), batch=x.shape[0], length=x.shape[1])
    vocab = logits.shape[-1]
    banned = _banned_ids(mask_id, config.suppress_token_ids, vocab)
    rows, cols = masked.nonzero(as_tuple=True)
    sources = source_positions(cols, shift=shift)
    out = {name: torch.full(x.shape, float("nan"), device=x.device) for name in ("entropy", "confidence", "margin", "gap", "token_logp")}
    out["tokens"] = x.clone()
    out["banned"] = banned
    if keep_logp:
        out["logp"] = torch.zeros(*x.shape, vocab, device=x.device)
    chunk = max(1, CHUNK_ELEMENTS // vocab)
    for i in range(0, len(rows), chunk):
        part = slice(i, i + chunk)
        z = logits[rows[part], sources[part]].float()  # [c, V], a copy
        _check_finite(z, rows[part], cols[part])
        z[:, banned] = -torch.inf
        values = _position_statistics(z, config.temperature, _keys(noise_keys, rows[part], cols[part]))
        if keep_logp:
            out["logp"][rows[part], cols[part]] = torch.log_softmax(z, dim=-1)
        for name, value in values.items():
            out[name][rows[part], cols[part]] = value.to(out[name].dtype)
    out["position"] = torch.arange(x.shape[1], device=x.device).expand_as(x)
    return out


def _banned_ids(mask_id: int, suppress: tuple[int, ...], vocab: int) -> list[int]:
    """The mask token and the suppressed ids, each checked against the vocabulary size."""
    if mask_id >= vocab:
        raise ValueError(f"mask_id={mask_id} is outside the model's vocabulary of {vocab} tokens")
    outside = [t for t in suppress if t >= vocab]
    if outside:
        raise ValueError(f"suppress_token_ids {outside} are outside the model's vocabulary of {vocab} tokens")
    return [mask_id, *suppress]


def _check_finite(z: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
    """NaN or +inf logits at a masked position are a broken model, not a choice: raise naming the
    first such position (checked at every step, on the positions being decoded only). One pass over
    ``z``: a row's maximum is NaN when the row holds a NaN (``amax`` propagates it) and +inf when it
    holds a +inf."""
    top = z.amax(-1)
    bad = torch.isnan(top) | (top == torch.inf)
    if bad.any():
        where = int(bad.nonzero()[0, 0])
        raise ValueError(f"the model returned non-finite logits (NaN or +inf) at row {int(rows[where])}, position "
                         f"{int(cols[where])} of the active batch; check the model and its dtype")


def _keys(noise_keys, rows, cols):
    if noise_keys is None:
        return None
    seeds, steps, offsets = noise_keys
    return seeds[rows], steps[rows], cols - offsets[rows]


def _position_statistics(z: torch.Tensor, temperature: float, keys) -> dict:
    """Statistics of the rows of ``z`` [c, V] (logits of masked positions, banned ids at -inf).

    Written for few passes over the vocabulary (the cost of a large-vocabulary model's step): the two
    largest probabilities are read at the two largest logits (the softmax is monotone, so they are the
    same values ``probs.topk`` would find), and the entropy's zero-probability terms are dropped in place."""
    logp = torch.log_softmax(z, dim=-1)
    if not torch.isfinite(logp.amax(-1)).all():
        raise ValueError("a masked position has no finite logit left once the mask token and suppress_token_ids are removed")
    probs = logp.exp()
    entropy = -(probs * logp).masked_fill_(probs == 0, 0.0).sum(-1)
    top2_logits, top2_ids = z.topk(2, dim=-1)
    top2_probs = probs.gather(-1, top2_ids)
    tokens = _greedy(z, top2_logits, top2_ids) if keys is None else _sample(z, temperature, keys)
    token_logp = logp.gather(-1, tokens[:, None])[:, 0]
    return {"entropy": entropy, "margin": top2_probs[:, 0] - top2_probs[:, 1], "gap": top2_logits[:, 0] - top2_logits[:, 1],
            "tokens": tokens, "token_logp": token_logp, "confidence": token_logp.exp()}


def _greedy(z: torch.Tensor, top2_logits: torch.Tensor, top2_ids: torch.Tensor) -> torch.Tensor:
    """``z.argmax(-1)`` (the first of tied logits, as the peers' argmax) without another pass over the vocabulary
    where the top logit is unique: there it is the top-2's first index; only rows with a tie at the top are scanned."""
    tokens = top2_ids[:, 0].clone()
    tied = top2_logits[:, 0] == top2_logits[:, 1]
    if bool(tied.any()):
        tokens[tied] = z[tied].argmax(-1)
    return tokens


def _sample(z: torch.Tensor, temperature: float, keys) -> torch.Tensor:
    """Gumbel-max at ``temperature`` in float64 (LLaDA's reason: float32 Gumbel-max is visibly biased
    at low temperature), noise from each row's counter-based stream (``noise.hash_uniform``)."""
    seeds, steps, positions = keys
    uniform = hash_uniform(seeds, steps, positions, z.shape[-1])
    return z.to(torch.float64, copy=True).div_(temperature).add_(gumbel(uniform)).argmax(-1)


def _uniform_scores(state, rows, length) -> torch.Tensor:
    """Per-position uniforms for the random order (a different key than the token noise)."""
    pos = torch.arange(length, device=state.nfe.device).expand(len(rows), length) - state.offset[rows][:, None]
    seeds = state.seeds[rows].repeat_interleave(length) ^ 0x5BD1E995
    return hash_uniform(seeds, state.nfe[rows].repeat_interleave(length), pos.reshape(-1)).view(len(rows), length)


def _rule_statistics(stats, state, rows, masked, eligible, prior, needs_noise: bool) -> None:
    """Add what the rule reads beyond the per-pass statistics: random order scores, the block
    position, the KL history (then drop the log-probabilities), the token prior."""
    stats["uniform"] = _uniform_scores(state, rows, masked.shape[1]) if needs_noise else None
    stats["block_position"] = memory.block_position(state.block_of[rows], state.decodable[rows], eligible)
    if state.kl is not None:
        stats["kl_history"] = state.kl.update(rows, masked, stats.pop("logp"))
    if prior is not None:
        stats["prior"] = memory.prior_of(prior, stats["tokens"], masked)


def _revocations(model, x, attention_mask, stats, state, rows, masked, eligible, commit, exiting, config, shift, mask_id):
    """BoolTensor [b, L]: committed positions the rule returns to the mask at this step (none for
    rules that never revoke). Revocable: decoded by this call, in the current block, in rows that
    commit more than one position and do not exit, while the row has made no more passes than it
    had masks; after that it decodes without revoking, so every row ends within twice as many passes
    as masks (WINO's own loop has no such bound; docs/decisions.md, "Recent decoders")."""
    current = torch.where(eligible, state.block_of[rows], torch.iinfo(torch.long).max).min(1).values
    new_block = current != state.previous_block[rows]
    previous = torch.where(new_block, torch.full_like(current, masked.shape[1] + 1), state.previous_commits[rows])
    count = commit.sum(1)
    state.previous_commits[rows], state.previous_block[rows] = count, current
    if config.rule.revoke is None:
        return torch.zeros_like(commit)
    allowed = (count > 1) & ~exiting & (state.nfe[rows] <= state.decodable[rows].sum(1))
    revocable = state.decodable[rows] & ~masked & (state.block_of[rows] == current[:, None]) & allowed[:, None]
    stats["verify"] = memory.verify(model, x, attention_mask, revocable, mask_id=mask_id, banned=stats["banned"], shift=shift)
    stats["previous_commits"] = previous
    return config.rule.revoke(stats, revocable, commit, params=config.params) & revocable


def _eligible(masked, state, rows):
    """Masked positions in the leftmost block that still has masks (answer slot last)."""
    block_of = state.block_of[rows]
    big = torch.iinfo(torch.long).max
    current = torch.where(masked, block_of, torch.full_like(block_of, big)).min(1, keepdim=True).values
    return masked & (block_of == current)


def _exit_check(stats, masked, answer, config: DecodeConfig, state, rows, record):
    answer_masked = masked & answer
    h_ub = early_exit.answer_entropy(stats["entropy"], answer_masked)
    gap = early_exit.answer_gap(stats["gap"], answer_masked)
    if record is not None:
        record["answer_entropy"][rows] = h_ub
        record["answer_gap"][rows] = gap
    if config.exit_rule is None:
        return torch.zeros_like(rows, dtype=torch.bool)
    reasoning_left = (masked & ~answer).any(1)
    steps_done = state.nfe[rows] - 1
    hit = early_exit.should_exit(config.exit_rule, h_ub=h_ub, gap=gap, steps_done=steps_done, budget=state.budget[rows],
                                 gamma=config.exit_gamma, thresholds=config.prophet_thresholds)
    return hit & reasoning_left & answer_masked.any(1)


def _exit_fill(masked, answer, rule):
    """Positions filled at exit: the masked answer positions (paper) or every mask (Prophet)."""
    if answer is None:
        return torch.zeros_like(masked)
    return masked if rule == "prophet" else masked & answer


def _apply(x, rows, commit, tokens, token_logp, state, exiting, revoke, mask_id):
    """Write the committed tokens, return the revoked ones to the mask (their log-probabilities leave
    ``logprob``), and mark the exits."""
    sub = x[rows]
    x[rows] = torch.where(revoke, mask_id, torch.where(commit, tokens, sub))
    new_logp = torch.where(commit, token_logp.to(torch.float64), torch.zeros_like(token_logp, dtype=torch.float64))
    old_logp = state.token_logp[rows]
    state.logprob[rows] += new_logp.sum(1) - torch.where(revoke, old_logp, torch.zeros_like(old_logp)).sum(1)
    state.token_logp[rows] = torch.where(commit, new_logp, torch.where(revoke, torch.zeros_like(old_logp), old_logp))
    exit_rows = rows[exiting]
    state.exited[exit_rows] = True
    state.exit_step[exit_rows] = state.nfe[exit_rows]


def _new_record(batch, length, device, active):
    return {"active": active.clone(), "committed": torch.zeros(batch, length, dtype=torch.bool, device=device),
            "revoked": torch.zeros(batch, length, dtype=torch.bool, device=device),
            "predicted": torch.full((batch, length), -1, dtype=torch.long, device=device),
            "tokens": torch.full((batch, length), -1, dtype=torch.long, device=device),
            "entropy": torch.full((batch, length), float("nan"), device=device),
            "answer_entropy": torch.full((batch,), float("nan"), device=device),
            "answer_gap": torch.full((batch,), float("nan"), device=device)}


def _fill_record(record, rows, commit, tokens, entropy, revoke, masked):
    record["committed"][rows] = commit
    record["revoked"][rows] = revoke
    record["tokens"][rows] = torch.where(commit, tokens, torch.full_like(tokens, -1))
    record["predicted"][rows] = torch.where(masked, tokens, torch.full_like(tokens, -1))  # what every masked position would take now
    record["entropy"][rows] = entropy


def _answer_mask(span, batch, length, device):
    if span is None:
        return None
    span = torch.as_tensor(span, device=device)
    if span.dtype == torch.bool or span.is_floating_point():
        raise ValueError(f"answer_span must hold integer positions, got dtype {span.dtype}")
    span = span.to(torch.long)
    if span.dim() == 1:
        span = span.expand(batch, 2) if span.numel() == 2 else span
    if span.shape != (batch, 2):
        raise ValueError(f"answer_span must be (start, end) or [B, 2] = [{batch}, 2], got shape {tuple(span.shape)}")
    if (span[:, 0] < 0).any() or (span[:, 1] > length).any() or (span[:, 1] <= span[:, 0]).any():
        raise ValueError(f"answer_span must satisfy 0 <= start < end <= {length}, got {span.tolist()}")
    cols = torch.arange(length, device=device)
    return (cols >= span[:, :1]) & (cols < span[:, 1:])


def model_device(model) -> torch.device:
    """Where a model's parameters live (CPU for a callable without parameters, e.g. a toy denoiser):
    the device :func:`generate`'s callers move their canvases to."""
    return next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")
