"""The newest training-free decoders, as selection rules of the engine (one short function each).

- ``wino`` (WINO, Feng-Hong/WINO-DLLM ``decoding_wino``): wide in (draft every position above a low
  threshold), narrow out (return committed tokens the model no longer believes to the mask);
- ``klass`` (KLASS, shkim0116/KLASS ``stable_confident_decode``): commit positions that are
  confident and whose distribution stopped moving between steps;
- ``pc_sampler`` (PC-Sampler, NEUIR/PC-Sampler ``pc_sampler_function``): position-aware,
  frequency-calibrated confidence, top ``k`` per step;
- ``local_leap`` (LocalLeap, friedrichor/LocalLeap): high-confidence anchors, a relaxed threshold
  in their neighbourhood.

Each was checked at temperature 0 against an independent re-implementation of its authors' code
(``tests/test_sampling_recent.py``); where ours and theirs differ is in docs/decisions.md, "Recent
decoders". Confidences are the engine's (mask token removed, temperature 1); the authors' keep the
mask token in the softmax, which only matters for a model that puts mass on it.
"""

from __future__ import annotations

import torch

from mdlm_study.engine.rules import Param, _at_least_one, _count, _top, register_rule

WINO_ACCEPT_FRACTION, WINO_MIN_ACCEPT, WINO_MAX_ACCEPT = 0.7, 5, 20  # WINO's cap on drafts per step (its code's constants)
PC_EPSILON = 1e-9  # PC-Sampler's floor inside log f_bg


def _probability(name: str, doc: str, example: float) -> Param:
    return Param(name, lambda v: 0 < v <= 1, "in (0, 1]", doc, example=example)


def _whole(name: str, low: int, doc: str, example: int) -> Param:
    return Param(name, lambda v: v >= low and float(v).is_integer(), f"a whole number >= {low}", doc, example=example)


def wino_revoke(stats, revocable, commit, *, params):
    """WINO's narrow-out: when a step commits more than one position, return to the mask every
    revocable position whose token has probability < τ_back (``wino_tau_back``) with that position
    hidden (``stats["verify"]``); if that is as many as the previous step committed (n), only the
    n - 1 least believed."""
    low = revocable & (stats["verify"] < params["wino_tau_back"])
    previous = stats["previous_commits"]
    capped = _top(-stats["verify"], low, (previous - 1).clamp(min=0))
    revoke = torch.where((low.sum(1) >= previous)[:, None], capped, low)
    return revoke & (commit.sum(1) > 1)[:, None]


@register_rule("wino", params=[_probability("wino_tau", "WINO draft threshold τ (wide in)", 0.4),
                               _probability("wino_tau_back", "WINO verification threshold τ_back (narrow out)", 0.9)],
               revoke=wino_revoke)
def wino(stats, eligible, *, k, params):
    """WINO's wide-in draft (Hong et al. 2025): every eligible position with confidence > τ
    (``wino_tau``), at most min(max(⌊0.7·n⌋, 5), 20) of them (n = masked positions in the block,
    the most confident kept), and always the most confident one. Revocation: :func:`wino_revoke`."""
    n = eligible.sum(1)
    cap = (n.to(torch.float64) * WINO_ACCEPT_FRACTION).floor().to(torch.long).clamp(min=WINO_MIN_ACCEPT, max=WINO_MAX_ACCEPT)
    confidence = stats["confidence"]
    drafts = eligible & (confidence > params["wino_tau"])
    commit = torch.where((drafts.sum(1) > cap)[:, None], _top(confidence, eligible, cap), drafts)
    return _at_least_one(commit, confidence, eligible)


@register_rule("klass", params=[_probability("klass_conf", "KLASS confidence threshold", 0.5),
                                Param("klass_kl", lambda v: v > 0, "> 0", "KLASS KL threshold, nats", example=0.01),
                                _whole("klass_history", 1, "KLASS history length H (steps)", 2)],
               history_length=lambda params: int(params["klass_history"]))
def klass(stats, eligible, *, k, params):
    """KLASS (Kim et al. 2025): commit every eligible position with confidence > ``klass_conf`` whose
    distribution moved by KL(p_t || p_t-1) < ``klass_kl`` at each of its last H steps
    (``klass_history``; a position with fewer than H earlier steps is not stable); if none, the most
    confident one."""
    history = stats["kl_history"][..., -int(params["klass_history"]):]
    stable = (history < params["klass_kl"]).all(-1)
    commit = eligible & stable & (stats["confidence"] > params["klass_conf"])
    return _at_least_one(commit, stats["confidence"], eligible)


@register_rule("pc_sampler", fixed_count=True, needs_prior=True,
               params=[Param("pc_lambda", lambda v: v >= 0, ">= 0", "PC-Sampler position decay λ (per token)", example=0.25),
                       Param("pc_alpha", lambda v: v > 0, "> 0", "PC-Sampler clip α on the calibrated confidence", example=10.0)])
def pc_sampler(stats, eligible, *, k, params):
    """PC-Sampler (Huang et al. 2025): score = exp(-λ·i) · min(α, -p · log(f_bg(token) + 1e-9)), i the
    column from the block's start, p the confidence, f_bg the token's background frequency
    (``stats["prior"]``); the ``k`` best-scoring eligible positions."""
    calibrated = (-stats["confidence"].to(torch.float64) * torch.log(stats["prior"].to(torch.float64) + PC_EPSILON)).clamp(max=params["pc_alpha"])
    score = torch.exp(-params["pc_lambda"] * stats["block_position"].to(torch.float64)) * calibrated
    return _top(score, eligible, _count(k, eligible))


def _near(anchors: torch.Tensor, radius: int) -> torch.Tensor:
    """BoolTensor [B, L]: columns within ``radius`` of an anchor of their row."""
    running = anchors.to(torch.long).cumsum(1)  # anchors in columns [0, i]
    counts = torch.cat([torch.zeros_like(running[:, :1]).expand(-1, radius + 1), running, running[:, -1:].expand(-1, radius)], 1)
    return (counts[:, 2 * radius + 1:] - counts[:, : anchors.shape[1]]) > 0  # anchors in [i - r, i + r]


def _leap_check(params) -> None:
    if params["leap_relaxed_tau"] > params["leap_tau"]:
        raise ValueError(f"leap_relaxed_tau must be <= leap_tau, got leap_relaxed_tau={params['leap_relaxed_tau']} > "
                         f"leap_tau={params['leap_tau']}")


@register_rule("local_leap", check=_leap_check,
               params=[_probability("leap_tau", "LocalLeap anchor threshold τ", 0.9),
                       _probability("leap_relaxed_tau", "LocalLeap relaxed threshold near an anchor", 0.6),
                       _whole("leap_radius", 0, "LocalLeap neighbourhood radius (columns)", 2)])
def local_leap(stats, eligible, *, k, params):
    """LocalLeap (Kong et al. 2025): anchors are eligible positions with confidence >= τ
    (``leap_tau``); an eligible position within ``leap_radius`` columns of an anchor is committed at
    confidence >= ``leap_relaxed_tau``, any other at >= τ; always the most confident one."""
    confidence = stats["confidence"]
    anchors = eligible & (confidence >= params["leap_tau"])
    threshold = torch.where(_near(anchors, int(params["leap_radius"])), params["leap_relaxed_tau"], params["leap_tau"])
    return _at_least_one(eligible & (confidence >= threshold), confidence, eligible)


RECENT_RULES = ("wino", "klass", "pc_sampler", "local_leap")


def background_frequencies(token_lists, vocab: int) -> torch.Tensor:
    """PC-Sampler's prior (its ``calculate_p_baseline``): each token id's count in a reference corpus
    over the corpus's token count; ids never seen get 1 / count. ``token_lists``: lists of token ids."""
    counts = torch.zeros(vocab, dtype=torch.float64)
    for ids in token_lists:
        ids = torch.as_tensor(list(ids), dtype=torch.long)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise ValueError(f"token ids must lie in [0, {vocab}), got {int(ids.min())}..{int(ids.max())}")
        counts += torch.bincount(ids, minlength=vocab).to(torch.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError("background_frequencies needs a non-empty corpus")
    return torch.where(counts > 0, counts, torch.ones_like(counts)) / total
