"""Early-exit rules on the answer slot, evaluated on every forward pass before committing.

- ``"entropy"`` (the paper's rule): H_UB = sum of the entropies (nats) of the still-masked
  answer positions, an upper bound on the answer's joint entropy. Exit when H_UB < γ
  (``exit_gamma``): fill the remaining answer positions from this pass's logits and stop the row;
  unfinished reasoning is left masked. Checked only while the row still has reasoning masks (once
  only the answer is left, normal decoding finishes it).
- ``"prophet"`` (Prophet, pixeli99/Prophet ``generate_earlyexit.py``): the mean
  top-1 minus top-2 **raw logit** gap over the still-masked answer positions against a phase
  threshold (7.5 / 5.0 / 2.5 while the fraction of the row's step budget used is < 1/3, < 2/3,
  else). Prophet then fills **every** remaining mask with its argmax, not just the answer.
"""

from __future__ import annotations

import torch

EXIT_RULES = ("entropy", "prophet")
PROPHET_THRESHOLDS = (7.5, 5.0, 2.5)


def answer_entropy(entropy: torch.Tensor, answer_masked: torch.Tensor) -> torch.Tensor:
    """H_UB [B]: sum of the entropies of the masked answer positions (committed ones contribute 0)."""
    return torch.where(answer_masked, entropy, torch.zeros_like(entropy)).sum(1)


def answer_gap(gap: torch.Tensor, answer_masked: torch.Tensor) -> torch.Tensor:
    """Mean top-1 minus top-2 logit gap [B] over the masked answer positions (nan when none)."""
    count = answer_masked.sum(1)
    total = torch.where(answer_masked, gap, torch.zeros_like(gap)).sum(1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def prophet_threshold(steps_done: torch.Tensor, budget: torch.Tensor, thresholds=PROPHET_THRESHOLDS) -> torch.Tensor:
    """The phase threshold [B] for each row's fraction of its step budget already used."""
    early, mid, late = thresholds
    fraction = steps_done.to(torch.float64) / budget.clamp(min=1).to(torch.float64)
    return torch.where(fraction < 1 / 3, early, torch.where(fraction < 2 / 3, mid, late)).to(torch.float64)


def should_exit(rule: str, *, h_ub, gap, steps_done, budget, gamma, thresholds) -> torch.Tensor:
    """BoolTensor [B]: rows whose exit condition holds at this pass."""
    if rule == "entropy":
        return h_ub < gamma
    return gap >= prophet_threshold(steps_done, budget, thresholds)
