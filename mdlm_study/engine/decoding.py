"""Decoding a whole canvas in batches: the one loop behind evaluation, posterior sampling, the
analyses, the lm-evaluation-harness model and data-parallel runs.

    decoded = decode_canvas(model, canvas, DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1))

Seeds: canvas row i is identified by a key ``(row, sample)`` (default ``(i, 0)``; posterior sampling
uses ``(problem, sample)``, a data-parallel shard its global problem index), and when the
configuration draws random numbers, row i gets its own stream ``row_generator(config.seed, row,
sample)``. So a row's output depends on its key and the seed only: not on the batch size, the order
of the batches, which other rows share its batch or how many processes run.

Padding: a left-padded batch is exact only for models that honour the attention mask
(``loaded.honours_padding``). For the others, ``length_buckets=True`` decodes rows with the same
number of padding columns together, with those columns cut off, so no row ever sees padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.engine import DecodeConfig, generate, model_device, row_generator
from mdlm_study.engine.batching import bucket_batches, row_lengths
from mdlm_study.engine.templates import Canvas


@dataclass
class Decoded:
    """Every row of a canvas decoded, on the CPU, in the canvas's row order."""

    sequences: torch.Tensor  # [N, L] long
    nfe: torch.Tensor  # [N] long: forward passes each row took part in
    logprob: torch.Tensor  # [N] float64: sum of log p(token) of committed tokens, at commit time
    exited: torch.Tensor  # [N] bool: stopped by the early exit
    exit_step: torch.Tensor  # [N] long: nfe at exit, -1 without
    history: list[dict] | None = None  # per step: [N, L] / [N] tensors (engine's records), rows done are inactive


def decode_canvas(model, canvas: Canvas, config: DecodeConfig, **options) -> Decoded:
    """Fill every mask of a template ``canvas`` with ``config`` (its answer slot is the one the
    early exit and ``answer_last`` watch); ``options`` as :func:`decode_rows`."""
    return decode_rows(model, canvas.input_ids, canvas.attention_mask, config, mask_id=canvas.special.mask_id, answer=canvas.answer,
                       **options)


def decode_rows(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: DecodeConfig, *, mask_id: int,
                answer: torch.Tensor | None = None, batch_size: int = 256, keys: Sequence[tuple[int, int]] | None = None,
                shift_logits: bool = False, return_history: bool = False, length_buckets: bool = False,
                token_prior: torch.Tensor | None = None) -> Decoded:
    """Fill every mask of left-padded rows ``input_ids`` [N, L] with ``config``, ``batch_size`` rows
    per ``generate`` call. ``answer`` [N, 2]: each row's answer slot (start, end), or None (no exit,
    no answer-last ordering). Module docstring for ``keys`` and ``length_buckets``; ``token_prior``
    as :func:`~mdlm_study.engine.generate` (the rules that read a per-token prior)."""
    if not isinstance(config, DecodeConfig):
        raise ValueError(f"config must be a DecodeConfig, got {type(config).__name__}")
    int_at_least("batch_size", batch_size)
    n = input_ids.shape[0]
    keys = [(i, 0) for i in range(n)] if keys is None else [tuple(k) for k in keys]
    if len(keys) != n:
        raise ValueError(f"keys must give one (row, sample) per row: {len(keys)} keys for {n} rows")
    device = model_device(model)
    parts = []
    for rows, cut in _batches(attention_mask, batch_size, length_buckets):
        generators = [row_generator(config.seed, *keys[i]) for i in rows] if config.needs_noise else None
        span = None if answer is None else (answer[rows] - cut).to(device)
        with torch.no_grad():
            out = generate(model, input_ids[rows, cut:].to(device), mask_id=mask_id, attention_mask=attention_mask[rows, cut:].to(device),
                           answer_span=span, generator=generators, return_history=return_history, shift_logits=shift_logits,
                           token_prior=token_prior, config=config)
        parts.append((rows, cut, out))
    return _assemble(parts, input_ids, return_history)


def _batches(attention_mask: torch.Tensor, batch_size: int, by_length: bool) -> list[tuple[list[int], int]]:
    """(row indices, leading columns to cut) per batch: contiguous rows, or, with ``by_length``, rows
    of one length (:func:`mdlm_study.engine.batching.bucket_batches`; left-padded rows: each batch cut to its real tokens)."""
    n, width = attention_mask.shape
    if not by_length:
        return [(list(range(s, min(s + batch_size, n))), 0) for s in range(0, n, batch_size)]
    lengths = row_lengths(attention_mask)
    return [(rows, width - lengths[rows[0]]) for rows in bucket_batches(lengths, batch_size)]


def _assemble(parts, input_ids: torch.Tensor, return_history: bool) -> Decoded:
    """Put each batch's outputs back at its rows (cut padding columns keep the canvas's tokens)."""
    n, length = input_ids.shape
    sequences = input_ids.clone().to(torch.long)
    dtypes = {"nfe": torch.long, "logprob": torch.float64, "exited": torch.bool, "exit_step": torch.long}
    values = {key: torch.zeros(n, dtype=dtype) for key, dtype in dtypes.items()}
    for rows, cut, out in parts:
        index = torch.tensor(rows)
        sequences[index, cut:] = out.sequences.cpu()
        for key in values:
            values[key][index] = getattr(out, key).cpu()
    history = _merge_history(parts, n, length) if return_history else None
    return Decoded(sequences, values["nfe"], values["logprob"], values["exited"], values["exit_step"], history)


def _merge_history(parts, n: int, length: int) -> list[dict]:
    """One record per step over all rows: a batch that finished earlier contributes inactive rows."""
    steps = max((len(out.history) for _, _, out in parts), default=0)
    merged = []
    for t in range(steps):
        record = _empty_record(n, length)
        for rows, cut, out in parts:
            if t >= len(out.history):
                continue
            index = torch.tensor(rows)
            for key, value in out.history[t].items():
                value = value.cpu()
                if value.dim() == 2:
                    record[key][index, cut:] = value
                else:
                    record[key][index] = value
        merged.append(record)
    return merged


def _empty_record(n: int, length: int) -> dict:
    return {"active": torch.zeros(n, dtype=torch.bool), "committed": torch.zeros(n, length, dtype=torch.bool),
            "tokens": torch.full((n, length), -1, dtype=torch.long), "entropy": torch.full((n, length), float("nan")),
            "answer_entropy": torch.full((n,), float("nan")), "answer_gap": torch.full((n,), float("nan")),
            "revoked": torch.zeros(n, length, dtype=torch.bool), "predicted": torch.full((n, length), -1, dtype=torch.long)}
