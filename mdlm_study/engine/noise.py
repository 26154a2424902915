"""Counter-based randomness: per-row streams that do not depend on batch composition or padding.

Each row gets one seed, drawn at the start of decoding from its own ``torch.Generator`` (or ``B``
seeds from one generator). Every random number is then a pure function of
``(row seed, step, position counted from the row's first real token, vocabulary id)``, computed by
a vectorised integer hash. So a left-padded row decodes exactly as it would alone with an equal
generator, and no Python loop over rows is needed inside a step.

The hash is the 32-bit "xorshift-multiply" mixer (constants ``0x45d9f3b``) applied to each key in
turn; products stay below 2**63, so int64 arithmetic never overflows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B


def _mix(x: torch.Tensor) -> torch.Tensor:
    """The mixer, on a copy of ``x`` and in place on that copy (one temporary for the shifts)."""
    x = x & _M32
    x ^= x >> 16
    x.mul_(_MUL).bitwise_and_(_M32)
    x ^= x >> 16
    x.mul_(_MUL).bitwise_and_(_M32)
    x ^= x >> 16
    return x


def row_generator(seed: int, row: int, sample: int = 0) -> torch.Generator:
    """The random stream of one decoded row: a pure function of ``(seed, row, sample)`` (numpy's
    ``SeedSequence`` hashes the three into the generator's seed), where ``row`` is the problem's
    index in its set and ``sample`` the sample's index for that problem. This is the study's one
    seed policy: the same seed gives the same bits whatever the batch size, order or process count."""
    if min(seed, row, sample) < 0:
        raise ValueError(f"seed, row and sample must be >= 0, got seed={seed}, row={row}, sample={sample}")
    state = np.random.SeedSequence([seed, row, sample]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def row_generators(seed: int, rows: Iterable[int], samples: Iterable[int] | None = None) -> list[torch.Generator]:
    """:func:`row_generator` for each row (and sample, default 0) of a batch."""
    rows = list(rows)
    samples = [0] * len(rows) if samples is None else list(samples)
    if len(samples) != len(rows):
        raise ValueError(f"got {len(samples)} sample indices for {len(rows)} rows")
    return [row_generator(seed, r, s) for r, s in zip(rows, samples, strict=True)]


def row_seeds(generator, batch: int) -> torch.Tensor:
    """LongTensor [B] of 62-bit seeds: one draw per row from a list of generators, or ``B`` draws
    from a single generator."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch:
            raise ValueError(f"got {len(generator)} generators for a batch of {batch} rows")
        if not all(isinstance(g, torch.Generator) for g in generator):
            raise ValueError(f"generator list must hold torch.Generator objects, got {sorted({type(g).__name__ for g in generator})}")
        return torch.cat([torch.randint(2**62, (1,), generator=g) for g in generator])
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or a list of one per row, got {type(generator).__name__}")
    return torch.randint(2**62, (batch,), generator=generator, device=generator.device).cpu()


def hash_uniform(seeds: torch.Tensor, step: torch.Tensor, position: torch.Tensor, vocab: int | None = None) -> torch.Tensor:
    """Uniforms in (0, 1), float64, from the keys. ``seeds`` and ``step`` are [N] (one per element
    row), ``position`` is [N]; with ``vocab`` the result is [N, vocab], else [N]."""
    h = _mix(seeds & _M32) ^ (seeds >> 32)
    h = _mix(h) ^ step
    h = _mix(h) ^ position
    h = _mix(h)
    if vocab is not None:
        h = _mix(h[:, None] ^ torch.arange(vocab, device=h.device)[None, :])
    return h.to(torch.float64).add_(0.5).div_(2.0**32)


def gumbel(uniform: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise from uniforms, in float64 (LLaDA's reason: float32 Gumbel-max is visibly
    biased at low temperature)."""
    return torch.log(uniform).neg_().log_().neg_()
