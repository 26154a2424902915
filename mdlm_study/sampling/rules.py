"""Selection rules: which masked positions to commit at one step. One short function per rule.

Every rule has the same signature: ``rule(stats, eligible, *, k, params) -> BoolTensor [B, L]``.
``stats`` holds per-position tensors [B, L] computed once per step by the engine:
``entropy`` (nats), ``confidence`` (probability of the chosen token), ``margin`` (top-1 minus
top-2 probability), ``position`` (column index), ``uniform`` (per-row random numbers). Rules are
vectorised over rows and positions, commit at least one position in every row that has an eligible
one, and break ties by position (leftmost first).

Distributions: entropies and probabilities come from the softmax of the raw, temperature-1 logits
with the mask token removed (PAPER.md D5). Peers differ: Dream's ``entropy`` is computed after its
temperature / top-p filter; LLaDA's confidence ignores the temperature too (ML-GSAI/LLaDA#37).
"""

from __future__ import annotations

import torch

INF = float("inf")


def _ranks(score: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Rank of every position by ``score`` (higher first) among the eligible ones of its row;
    ties keep column order (stable sort); ineligible positions get rank >= the eligible count."""
    masked = torch.where(eligible, score.to(torch.float64), torch.tensor(-INF, dtype=torch.float64))
    order = torch.sort(masked, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(score.shape[1], device=score.device).expand_as(order))
    return ranks


def _top(score: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Commit the ``count`` [B] best-scoring eligible positions of each row."""
    return eligible & (_ranks(score, eligible) < count[:, None])


def _at_least_one(commit: torch.Tensor, score: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Add each row's best position where the rule committed nothing (progress guarantee)."""
    best = _top(score, eligible, torch.ones(score.shape[0], dtype=torch.long, device=score.device))
    return commit | (best & ~commit.any(1, keepdim=True))


def _sorted_prefix(values: torch.Tensor, eligible: torch.Tensor, ascending: bool):
    """Sort each row's eligible values; return (sorted values with +inf/-inf padding, ranks)."""
    score = -values if ascending else values
    ranks = _ranks(score, eligible)
    fill = INF if ascending else -INF
    padded = torch.where(eligible, values.to(torch.float64), torch.tensor(fill, dtype=torch.float64))
    return torch.sort(padded, dim=1, descending=not ascending, stable=True).values, ranks


def l2r(stats, eligible, *, k, params):
    """Left-to-right: the ``k`` leftmost masked positions (PAPER.md §9.1; equals block size 1)."""
    return _top(-stats["position"].to(torch.float64), eligible, _count(k, eligible))


def random_order(stats, eligible, *, k, params):
    """``k`` uniformly random masked positions (ancestral-style order; MDLM, Dream ``origin``)."""
    return _top(stats["uniform"], eligible, _count(k, eligible))


def confidence(stats, eligible, *, k, params):
    """``k`` positions with the highest probability of their chosen token (LLaDA low-confidence
    remasking, Dream ``maskgit_plus``)."""
    return _top(stats["confidence"], eligible, _count(k, eligible))


def margin(stats, eligible, *, k, params):
    """``k`` positions with the largest top-1 minus top-2 probability (Dream ``topk_margin``)."""
    return _top(stats["margin"], eligible, _count(k, eligible))


def entropy(stats, eligible, *, k, params):
    """``k`` positions with the lowest entropy (the paper's main any-order sampler; Dream ``entropy``)."""
    return _top(-stats["entropy"], eligible, _count(k, eligible))


def med(stats, eligible, *, k, params):
    """MED, per-token reading (PAPER.md §5.3 reading A, default D1): commit every eligible position
    with entropy < λ (``med_lambda``); if none, the single lowest-entropy one (D2)."""
    commit = eligible & (stats["entropy"] < params["med_lambda"])
    return _at_least_one(commit, -stats["entropy"], eligible)


def med_budget(stats, eligible, *, k, params):
    """MED, cumulative reading (PAPER.md §5.3 reading B): sort by entropy, commit the longest prefix
    whose entropy sum is <= λ (``med_lambda``); at least one position. Bounds each step's KL by λ."""
    values, ranks = _sorted_prefix(stats["entropy"], eligible, ascending=True)
    n = (torch.cumsum(values, 1) <= params["med_lambda"]).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


def eb(stats, eligible, *, k, params):
    """EB-Sampler (Ben-Hamu et al. 2025; PEERS.md §2.4): sort by entropy, commit the longest prefix
    U with sum(H_U) - max(H_U) <= γ (``eb_gamma``). Sorted ascending, max is the last element, so
    the test on a prefix of length n is: sum of its first n-1 entropies <= γ (n = 1 always passes)."""
    values, ranks = _sorted_prefix(stats["entropy"], eligible, ascending=True)
    before = torch.cumsum(values, 1) - values  # sum of the previous entries
    n = (before <= params["eb_gamma"]).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


def fast_threshold(stats, eligible, *, k, params):
    """Fast-dLLM threshold rule (NVlabs/Fast-dLLM ``llada/generate.py``): every eligible position with
    confidence >= τ (``tau``), and always the most confident one."""
    commit = eligible & (stats["confidence"] >= params["tau"])
    return _at_least_one(commit, stats["confidence"], eligible)


def fast_factor(stats, eligible, *, k, params):
    """Fast-dLLM factor rule: sort confidences c_1 >= c_2 >= ...; commit the top n while
    (i + 1)(1 - c_i) < f for every i <= n (``factor``); at least one. (Fast-dLLM's code adds one
    position in an edge case of its scan; we follow the stated rule.)"""
    values, ranks = _sorted_prefix(stats["confidence"], eligible, ascending=False)
    i = torch.arange(1, values.shape[1] + 1, device=values.device, dtype=torch.float64)
    ok = ((i + 1) * (1 - values) < params["factor"]) & torch.isfinite(values)
    n = torch.cumprod(ok.to(torch.long), 1).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


def _count(k: int, eligible: torch.Tensor) -> torch.Tensor:
    return torch.full((eligible.shape[0],), k, dtype=torch.long, device=eligible.device)


RULES = {
    "l2r": l2r,
    "random": random_order,
    "confidence": confidence,
    "margin": margin,
    "entropy": entropy,
    "med": med,
    "med_budget": med_budget,
    "eb": eb,
    "fast_threshold": fast_threshold,
    "fast_factor": fast_factor,
}
RULE_PARAMS = {"med": ("med_lambda",), "med_budget": ("med_lambda",), "eb": ("eb_gamma",), "fast_threshold": ("tau",), "fast_factor": ("factor",)}
FIXED_COUNT = ("l2r", "random", "confidence", "margin", "entropy")
