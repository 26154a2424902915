"""Toy denoisers whose marginals are set by hand, so a sampler's right answer is known exactly.

All of them are callables ``model(input_ids, attention_mask=None) -> logits [B, L, V]`` and read
positions relative to each row's first real token, so left padding never changes what they predict.
"""

from __future__ import annotations

import torch


def _offsets(input_ids, attention_mask):
    if attention_mask is None:
        return torch.zeros(input_ids.shape[0], dtype=torch.long)
    return (attention_mask == 0).sum(1)


def relative_positions(input_ids, attention_mask):
    cols = torch.arange(input_ids.shape[1]).expand_as(input_ids)
    return (cols - _offsets(input_ids, attention_mask)[:, None]).clamp(min=0)


class PositionTable:
    """Fixed logits per (key, relative position): ``table[K, L, V]``; the key of a row is its first
    real token (so rows can differ while the model sees only tokens)."""

    def __init__(self, table: torch.Tensor):
        self.table = table if table.dim() == 3 else table[None]
        self.calls = 0

    def __call__(self, input_ids, attention_mask=None):
        self.calls += 1
        pos = relative_positions(input_ids, attention_mask).clamp(max=self.table.shape[1] - 1)
        first = input_ids.gather(1, _offsets(input_ids, attention_mask)[:, None])[:, 0]
        key = first.clamp(max=self.table.shape[0] - 1) if self.table.shape[0] > 1 else torch.zeros_like(first)
        return self.table[key[:, None], pos]


class ChainDenoiser:
    """Knows a target per key; position i is sharp (logit ``sharp`` on the target) when position i-1
    is not masked, else flat: a strict left-to-right dependency chain. A fixed per-position jitter
    on the target's logit makes every confidence distinct (no ties)."""

    def __init__(self, targets: torch.Tensor, vocab: int, mask_id: int, sharp: float = 8.0):
        self.targets, self.vocab, self.mask_id, self.sharp = targets, vocab, mask_id, sharp
        self.jitter = torch.rand(targets.shape, generator=torch.Generator().manual_seed(123)) * 0.3

    def __call__(self, input_ids, attention_mask=None):
        pos = relative_positions(input_ids, attention_mask).clamp(max=self.targets.shape[1] - 1)
        first = input_ids.gather(1, _offsets(input_ids, attention_mask)[:, None])[:, 0].clamp(max=self.targets.shape[0] - 1)
        target = self.targets[first[:, None], pos]
        left_known = torch.cat([torch.ones_like(input_ids[:, :1], dtype=torch.bool), input_ids[:, :-1] != self.mask_id], 1)
        logits = torch.zeros(*input_ids.shape, self.vocab)
        jitter = self.jitter[first[:, None], pos]
        logits.scatter_(-1, target[..., None], (torch.where(left_known, self.sharp, 0.5) + jitter)[..., None].float())
        return logits


class AnswerDrop:
    """The answer slot [a0, a1) is uniform (high entropy) until at least ``n`` positions before it are
    unmasked, then sharp (entropy ~0); other positions are moderately sharp on token 1."""

    def __init__(self, vocab: int, mask_id: int, a0: int, a1: int, n: int):
        self.vocab, self.mask_id, self.a0, self.a1, self.n = vocab, mask_id, a0, a1, n

    def __call__(self, input_ids, attention_mask=None):
        pos = relative_positions(input_ids, attention_mask)
        before = ((input_ids != self.mask_id) & (pos >= self.a0 - 100) & (pos < self.a0)).sum(1)
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., 1] = 3.0
        in_answer = (pos >= self.a0) & (pos < self.a1)
        sharp = (before >= self.n)[:, None] & in_answer
        logits[..., 2] = torch.where(sharp, 30.0, torch.where(in_answer, 0.0, logits[..., 2]))
        logits[..., 1] = torch.where(in_answer, 0.0, logits[..., 1])
        return logits


def logits_with_entropies(entropies, vocab: int) -> torch.Tensor:
    """Logits [L, V] whose softmax has (approximately, to 1e-4) the given entropies: a two-level
    distribution (one peak, the rest flat), the peak found by bisection."""
    rows = []
    for target in entropies:
        lo, hi = 0.0, 60.0
        for _ in range(80):
            mid = (lo + hi) / 2
            logit = torch.zeros(vocab, dtype=torch.float64)
            logit[0] = mid
            p = torch.softmax(logit, 0)
            h = float(-(p * p.log()).sum())
            lo, hi = (mid, hi) if h > target else (lo, mid)
        logit = torch.zeros(vocab, dtype=torch.float64)
        logit[0] = (lo + hi) / 2
        rows.append(logit)
    return torch.stack(rows).float()


class ContextDenoiser:
    """Logits at a query depend on the visible non-mask tokens around it: ``base[pos] + Σ_j
    embed[token_j] / (1 + |pos - pos_j|)`` over the keys j the query may attend to (mask tokens carry
    nothing). Called as every denoiser, or as ``shadow(ids, attention [L', L'] bool, position_ids
    [L'])`` with an explicit attention pattern and position ids (WINO's shadow block), so a reference
    that uses custom attention and the engine's leave-one-out verification can be compared exactly."""

    def __init__(self, length: int, vocab: int, mask_id: int, seed: int = 0, scale: float = 2.0):
        g = torch.Generator().manual_seed(seed)
        self.base = torch.randn(length, vocab, generator=g, dtype=torch.float64) * scale
        self.embed = torch.randn(vocab, vocab, generator=g, dtype=torch.float64) * scale
        self.base[:, mask_id] = -1e9
        self.embed[mask_id] = 0.0
        self.mask_id = mask_id

    def shadow(self, ids: torch.Tensor, attention: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """Logits [L', V] of one sequence ``ids`` [L'] under ``attention`` [L', L'] (query, key)."""
        distance = (position_ids[:, None] - position_ids[None, :]).abs().to(torch.float64)
        weight = attention.to(torch.float64) * (ids != self.mask_id).to(torch.float64)[None, :] / (1 + distance)
        return (self.base[position_ids] + weight @ self.embed[ids]).float()

    def __call__(self, input_ids, attention_mask=None):
        offsets = _offsets(input_ids, attention_mask)
        out = []
        for row, ids in enumerate(input_ids):
            real = torch.arange(ids.shape[0]) >= offsets[row]
            pos = (torch.arange(ids.shape[0]) - offsets[row]).clamp(min=0)
            out.append(self.shadow(ids, real[None, :] & real[:, None], pos))
        return torch.stack(out)
