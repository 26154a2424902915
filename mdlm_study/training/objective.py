"""The MDLM objective of LLaDA's SFT recipe, and which response tokens it masks together.

Objective (LLaDA GUIDELINES.md; the paper's fine-tuning uses the same): per example ``t ~ U(0, 1)``,
``p_mask = (1 - eps) t + eps``; every response token (reasoning and answer slots, EOS fill
included) is masked independently with probability ``p_mask``; the prompt and the fixed template
text are never masked (``mask_prompt=True`` masks the prompt too). The loss is the cross-entropy on
masked tokens divided by ``p_mask``, summed per example, divided by the example's number of
response tokens, averaged over the batch (:func:`mdlm_loss`).

Variants a recipe can turn on: a flat mean over masked tokens instead of the 1/p_mask weights,
suffix masks (block-diffusion style), and masking a restated number together with its source
(:func:`copy_groups`, :data:`COPY_RULES`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mdlm_study.engine.denoiser import logits_of
from mdlm_study.models.tiny_tokenizer import digit_runs

COPY_RULES = ("tied", "forward")  # TrainConfig.copy_rule: how mask_copies links a restated number to its source


def copy_groups(input_ids: torch.Tensor, response_mask: torch.Tensor, digits: set[int]) -> torch.Tensor:
    """[N, W] long: for each response position inside a number (a run of digit tokens), the column of
    the first occurrence in the response of the same digit of the same number; every other position
    points to itself. ``mask_copies`` masks a group together.

    Why: a reasoning trace restates each result (``23-5=18`` then ``18+4=22``, then the answer
    ``22``). Under independent masks the model can usually read a masked result off a visible copy,
    so few masks teach the arithmetic itself (and left-to-right decoding never shows a copy ahead
    of the token being decoded). Digits stay separate groups, so "tens visible, units masked" still occurs."""
    groups = torch.arange(input_ids.shape[1]).repeat(input_ids.shape[0], 1)
    for row, (ids, response) in enumerate(zip(input_ids.tolist(), response_mask.tolist(), strict=True)):
        first_seen = {}
        for start, end in digit_runs(ids, response, digits):
            number = tuple(ids[start:end])
            for k in range(end - start):
                groups[row, start + k] = first_seen.setdefault((number, k), start + k)
    return groups


def mdlm_loss(model, input_ids, attention_mask, maskable, *, mask_id: int, eps: float, generator, bf16: bool = False,
              weighting: str = "elbo", suffix_mask_prob: float = 0.0, groups: torch.Tensor | None = None, copy_rule: str = "tied"):
    """LLaDA's SFT loss on one batch (module docstring); returns (loss, number of masked tokens).

    ``weighting="flat"`` replaces the 1/p_mask weights by a plain mean over the masked tokens (a
    lower-variance surrogate used by many small-scale MDLM codebases; not an ELBO). ``groups`` [B, L]
    (:func:`copy_groups`) with ``copy_rule="tied"``: each position takes the masking draw of the column
    it points to (its number's first occurrence), so a copy and its source are hidden or shown together.
    With ``copy_rule="forward"`` a copy is masked when its own draw or its source's says so: a copy is
    still never visible while its source is hidden (no reading a result off its restatement), but a
    visible source with a hidden copy, the context left-to-right decoding meets at every restated
    number, now occurs too (under "tied" it never does, and the model does not learn to restate)."""
    batch = input_ids.shape[0]
    t = torch.rand(batch, 1, generator=generator).to(input_ids.device)
    p_mask = (1 - eps) * t + eps
    draws = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    if copy_rule not in COPY_RULES:
        raise ValueError(f"copy_rule must be one of {COPY_RULES}, got {copy_rule!r}")
    if groups is not None and copy_rule == "tied":
        draws = draws.gather(1, groups.to(input_ids.device))
    masked = (draws < p_mask) & maskable
    if groups is not None and copy_rule == "forward":
        masked = masked | (masked.gather(1, groups.to(input_ids.device)) & maskable)
    if suffix_mask_prob > 0:
        masked, p_mask = _suffix_masks(masked, p_mask, maskable, suffix_mask_prob, generator)
    noisy = torch.where(masked, torch.full_like(input_ids, mask_id), input_ids)
    with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=noisy, attention_mask=attention_mask)
    logits = logits_of(out)
    ce = F.cross_entropy(logits[masked].float(), input_ids[masked], reduction="none")
    if weighting == "flat":
        return ce.sum() / masked.sum().clamp(min=1), int(masked.sum())
    weights = (1.0 / p_mask).expand_as(input_ids)[masked]
    rows = masked.nonzero()[:, 0]
    per_row = torch.zeros(batch, device=ce.device).index_add_(0, rows, ce * weights)
    loss = (per_row / maskable.sum(1).clamp(min=1)).mean()
    return loss, int(masked.sum())


def _suffix_masks(masked, p_mask, maskable, prob, generator):
    """Replace the masks of a ``prob`` fraction of rows by "everything from a uniform random cut of the
    response on" (the pattern left-to-right and block decoding meet); p_mask becomes the masked fraction."""
    batch = masked.shape[0]
    chosen = (torch.rand(batch, generator=generator) < prob).to(masked.device)
    n_resp = maskable.sum(1)
    cut = (torch.rand(batch, generator=generator).to(masked.device) * n_resp).long()
    order = torch.cumsum(maskable.long(), 1) - 1  # index of each response position within the response
    suffix = maskable & (order >= cut[:, None])
    fraction = (suffix.sum(1, keepdim=True) / n_resp.clamp(min=1)[:, None]).clamp(min=1e-3)
    return torch.where(chosen[:, None], suffix, masked), torch.where(chosen[:, None], fraction, p_mask)
