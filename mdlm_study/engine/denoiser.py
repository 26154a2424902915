"""Reading logits off any denoiser: the one place that knows model outputs and shifted logits.

A denoiser is any callable ``model(input_ids, attention_mask=...)`` returning either logits
[B, L, V] or an object with ``.logits`` (every Hugging Face model, ``loader.ModelAdapter``, the toy
denoisers of the tests). Models initialised from an autoregressive LM (Dream) predict position i at
output i - 1: :func:`shift_right` aligns them (position 0 keeps its own output; it is always prompt).
"""

from __future__ import annotations

import torch


def logits_of(output, *, batch: int | None = None, length: int | None = None) -> torch.Tensor:
    """The logits [B, L, V] of a model output (a tensor, or an object with ``.logits``); with
    ``batch``/``length`` the shape is checked (``ValueError`` naming what came back)."""
    logits = getattr(output, "logits", output)
    if not torch.is_tensor(logits) or logits.dim() != 3:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"a denoiser must return logits of shape [B, L, V] (or an object with .logits), got {shape}")
    if (batch is not None and logits.shape[0] != batch) or (length is not None and logits.shape[1] != length):
        raise ValueError(f"model must return logits of shape [B, L, V] = [{batch}, {length}, V], got {tuple(logits.shape)}")
    return logits


def shift_right(logits: torch.Tensor) -> torch.Tensor:
    """Dream's alignment: the prediction for position i is the output at i - 1; position 0 keeps
    its own output. [B, L, V] -> [B, L, V] (a copy: use :func:`source_positions` to avoid one)."""
    return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)


def source_positions(cols: torch.Tensor, *, shift: bool) -> torch.Tensor:
    """The output positions holding the predictions for positions ``cols``: the same, or one to
    the left for shifted-logit models (position 0 keeps 0), without copying the logits."""
    return (cols - 1).clamp(min=0) if shift else cols

