"""Monte-Carlo likelihoods of a masked diffusion LM: the one stratified mask sampler.

LLaDA's likelihood estimate (its ``get_log_likelihood.py``) masks ``k`` of the ``T`` target tokens
per draw, with ``k`` stratified over 1..T across the draws so every mask count is used about equally
often, and weighs the cross-entropy on the masked tokens by ``T / k``. The mean over draws is an
unbiased estimate of the any-order ELBO of the targets. Step scoring (``scoring.mc_prefix_loglik``)
and the harness's ``loglikelihood`` both draw their masks here.

Counts: ``k_m = (k_0 - 1 + floor(m T / M)) mod T + 1`` for draws m = 0..M-1 with ``k_0`` uniform on
1..T. Flooring makes every count appear equally often when T divides M; LLaDA rounds ``m T / M``,
and torch's round-half-to-even then favours some counts (our one deliberate difference).
"""

from __future__ import annotations

import torch


def stratified_counts(n_groups: int, n_draws: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """LongTensor [n_groups, n_draws]: the stratified mask counts, each in 1..``length``, one
    independent start ``k_0`` per group."""
    if length < 1 or n_draws < 1 or n_groups < 0:
        raise ValueError(f"need length >= 1, n_draws >= 1 and n_groups >= 0, got length={length}, n_draws={n_draws}, n_groups={n_groups}")
    k0 = torch.randint(1, length + 1, (n_groups, 1), generator=generator)
    offsets = torch.div(torch.arange(n_draws) * length, n_draws, rounding_mode="floor")
    return (k0 - 1 + offsets) % length + 1


def stratified_masks(n_groups: int, length: int, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """BoolTensor [n_groups, n_draws, length], True = masked: draw m of group g masks
    ``stratified_counts[g, m]`` positions chosen uniformly at random."""
    counts = stratified_counts(n_groups, n_draws, length, generator)
    ranks = torch.rand(n_groups, n_draws, length, generator=generator).argsort(-1).argsort(-1)
    return ranks < counts[..., None]
