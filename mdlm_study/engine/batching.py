"""Batches without padding, for models that ignore the attention mask.

The first LLaDA release attends to left padding (``LoadedMDLM.honours_padding is False``): a padded
row gets other logits than the same row alone. Two ways to keep padding invariance for such a model:

- :func:`bucket_batches`: row indices grouped by exact unpadded length, cut into batches of at most
  ``batch_size``; every batch is one length, so it needs no padding. Decode the batches in the order
  given, concatenate their outputs, and :func:`restore_order` puts the rows back in the input order.
- :class:`BucketedDenoiser`: wraps a denoiser so that each call on a padded batch runs one forward
  pass per length bucket on that bucket's rows with the common left padding cut off (position 0 is
  then each row's first real token, as when the row is decoded alone). Every caller of the denoiser
  (the engine, scoring, likelihoods) gets padding invariance without changing its batching; the cost
  is one forward pass per distinct length in the batch instead of one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers.modeling_outputs import MaskedLMOutput

from mdlm_study.core.checks import int_at_least
from mdlm_study.engine.denoiser import logits_of


def length_buckets(lengths: Sequence[int]) -> list[list[int]]:
    """Row indices grouped by unpadded length, groups in order of first appearance, indices ascending:
    ``[5, 3, 5, 2] -> [[0, 2], [1], [3]]``. A model that ignores attention masks
    (``honours_padding=False``) decodes each group as one unpadded batch, so every row gets the
    result it gets alone."""
    groups: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"lengths must be non-negative ints; got {length!r} at index {index}")
        groups.setdefault(length, []).append(index)
    return list(groups.values())


def row_lengths(attention_mask: torch.Tensor) -> list[int]:
    """Unpadded length of each row of a [B, L] 0/1 attention mask."""
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be [B, L], got shape {tuple(attention_mask.shape)}")
    return [int(n) for n in attention_mask.bool().sum(1).tolist()]


def bucket_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped by exact unpadded length (:func:`length_buckets`: groups in
    order of first appearance, indices ascending), each group cut into batches of at most ``batch_size``.
    ``[5, 3, 5, 2], batch_size=1 -> [[0], [2], [1], [3]]``. Concatenated, the batches are a permutation
    of ``range(len(lengths))``; :func:`restore_order` inverts it."""
    int_at_least("batch_size", batch_size)
    return [group[i:i + batch_size] for group in length_buckets(lengths) for i in range(0, len(group), batch_size)]


def restore_order(batches: Sequence[Sequence[int]], outputs: Sequence) -> list:
    """Per-row outputs in the original row order: ``outputs`` holds one entry per row, in the order of
    the concatenated ``batches`` (as :func:`bucket_batches` returned them)."""
    order = [index for batch in batches for index in batch]
    if len(order) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(order)} batched rows")
    if sorted(order) != list(range(len(order))):
        raise ValueError("batches must hold each row index 0..n-1 exactly once")
    restored: list = [None] * len(order)
    for position, index in enumerate(order):
        restored[index] = outputs[position]
    return restored


def inverse_permutation(batches: Sequence[Sequence[int]]) -> torch.Tensor:
    """LongTensor ``inv`` with ``torch.cat(batch_outputs)[inv]`` in the original row order (the tensor
    form of :func:`restore_order`)."""
    order = torch.tensor([index for batch in batches for index in batch], dtype=torch.long)
    if sorted(order.tolist()) != list(range(len(order))):
        raise ValueError("batches must hold each row index 0..n-1 exactly once")
    return torch.argsort(order)


class BucketedDenoiser(torch.nn.Module):
    """``denoiser`` called once per length bucket with the left padding cut off (module docstring).

    Padding positions get logits of 0 (nothing reads them: they are never masked). An unpadded batch
    (or no mask) is one plain call. Rows must be left-padded, as every canvas of this project is."""

    def __init__(self, denoiser):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        if attention_mask is None or bool(attention_mask.bool().all()):
            logits = logits_of(self.denoiser(input_ids, attention_mask=attention_mask, **kwargs))
            return MaskedLMOutput(logits=logits)
        real = attention_mask.bool()
        width = input_ids.shape[1]
        lengths = row_lengths(attention_mask)
        if not bool((real == (torch.arange(width, device=real.device) >= width - real.sum(1, keepdim=True))).all()):
            raise ValueError("BucketedDenoiser needs left-padded rows (real tokens at the end of each row)")
        logits = None
        for rows in length_buckets(lengths):
            n = lengths[rows[0]]
            index = torch.tensor(rows, device=input_ids.device)
            part = logits_of(self.denoiser(input_ids[index, width - n:], attention_mask=None, **kwargs), batch=len(rows), length=n)
            if logits is None:
                logits = part.new_zeros((input_ids.shape[0], width, part.shape[-1]))
            logits[index, width - n:] = part
        return MaskedLMOutput(logits=logits)
