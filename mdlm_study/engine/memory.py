"""State the engine keeps for the rules that ask for it (``rules`` module docstring), and the extra
statistics it computes for them: per-position history of earlier steps' distributions (KLASS),
static per-token priors (PC-Sampler), verification of committed tokens and their revocation (WINO).

Everything is per row and counted from each row's own steps and columns, so the engine's guarantees
(padding invariance, per-row NFE, bit-exact seeds) hold for these rules as for the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdlm_study.engine.denoiser import logits_of, source_positions

VERIFY_ROWS = 64  # leave-one-out rows per verification forward (bounds its memory)


@dataclass
class KLHistory:
    """Each position's log-probabilities at the row's previous step and the KLs of its last H steps."""

    logp: torch.Tensor | None  # [B, L, V] float32, allocated at the first step (V is the model's)
    seen: torch.Tensor  # [B, L] bool: the position had a distribution at an earlier step
    kl: torch.Tensor  # [B, L, H] float64, oldest first; inf where there was no earlier step

    @classmethod
    def start(cls, batch: int, length: int, steps: int, device) -> KLHistory:
        return cls(None, torch.zeros(batch, length, dtype=torch.bool, device=device),
                   torch.full((batch, length, steps), float("inf"), dtype=torch.float64, device=device))

    def update(self, rows: torch.Tensor, masked: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
        """Record this step's ``logp`` [b, L, V] at the ``masked`` [b, L] positions of ``rows``; return
        the KL history [b, L, H] with KL(p_t || p_t-1) appended (KLASS, Eq. of its stability test)."""
        if self.logp is None:
            self.logp = torch.zeros(*self.seen.shape, logp.shape[-1], device=logp.device)
        previous = self.logp[rows]
        p = logp.exp()
        terms = torch.where(p > 0, p * (logp - previous), torch.zeros_like(p))
        seen = self.seen[rows] & masked
        kl = torch.where(seen, terms.sum(-1).to(torch.float64), torch.tensor(float("inf"), dtype=torch.float64))
        history = torch.cat([self.kl[rows][..., 1:], kl[..., None]], -1)
        self.kl[rows] = history
        self.logp[rows] = torch.where(masked[..., None], logp, previous)
        self.seen[rows] = self.seen[rows] | masked
        return history


def check_prior(prior, needs: bool, sampler: str) -> torch.Tensor | None:
    """The ``token_prior`` of a call: a 1-D tensor of finite values >= 0 (one per vocabulary id),
    given exactly when the rule reads one (``ValueError`` otherwise)."""
    if prior is None:
        if needs:
            raise ValueError(f"sampler {sampler!r} needs token_prior=... (a [V] tensor of per-token background frequencies)")
        return None
    if not needs:
        raise ValueError(f"token_prior only applies to rules that read a prior, not sampler {sampler!r}")
    if not torch.is_tensor(prior) or prior.dim() != 1 or prior.is_complex() or prior.dtype == torch.bool:
        raise ValueError(f"token_prior must be a 1-D real tensor (one value per token id), got "
                         f"{tuple(prior.shape) if torch.is_tensor(prior) else type(prior).__name__}")
    prior = prior.to(torch.float64)
    if not bool(torch.isfinite(prior).all()) or bool((prior < 0).any()):
        raise ValueError(f"token_prior must hold finite values >= 0, got min {float(prior.min())}")
    return prior


def prior_of(prior: torch.Tensor, tokens: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """[b, L] the prior of each masked position's token (NaN elsewhere)."""
    top = int(tokens[masked].max()) if bool(masked.any()) else 0
    if top >= prior.numel():
        raise ValueError(f"token_prior has {prior.numel()} entries but the model proposes token id {top}")
    values = prior.to(tokens.device)[tokens.clamp(min=0, max=prior.numel() - 1)]
    return torch.where(masked, values, torch.tensor(float("nan"), dtype=torch.float64, device=tokens.device))


def block_position(block_of: torch.Tensor, decodable: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """[b, L] columns from the start of each row's current block (its first column that was masked
    when decoding began; PC-Sampler counts positions from there)."""
    cols = torch.arange(block_of.shape[1], device=block_of.device).expand_as(block_of)
    big = torch.iinfo(torch.long).max
    current = torch.where(eligible, block_of, big).min(1, keepdim=True).values
    start = torch.where((block_of == current) & decodable, cols, big).min(1, keepdim=True).values
    return cols - start


@torch.no_grad()
def verify(model, x: torch.Tensor, attention_mask, targets: torch.Tensor, *, mask_id: int, banned: list[int], shift: bool) -> torch.Tensor:
    """[b, L] float64: for every ``targets`` position, the probability of its current token when that
    position alone is returned to the mask (one leave-one-out row per position, WINO's verification;
    docs/decisions.md, "Recent decoders"); NaN elsewhere. Distribution as the engine's statistics."""
    out = torch.full(x.shape, float("nan"), dtype=torch.float64, device=x.device)
    rows, cols = targets.nonzero(as_tuple=True)
    for i in range(0, len(rows), VERIFY_ROWS):
        r, c = rows[i:i + VERIFY_ROWS], cols[i:i + VERIFY_ROWS]
        hidden = x[r].clone()
        hidden[torch.arange(len(r), device=x.device), c] = mask_id
        logits = logits_of(model(hidden, attention_mask=None if attention_mask is None else attention_mask[r]),
                           batch=len(r), length=x.shape[1])
        z = logits[torch.arange(len(r), device=x.device), source_positions(c, shift=shift)].float()
        z[:, banned] = -torch.inf
        logp = torch.log_softmax(z, -1)
        out[r, c] = logp.gather(-1, x[r, c][:, None])[:, 0].exp().to(torch.float64)
    return out
