"""Training data as tensors: fully filled canvases (question, reasoning, answer) or (prompt, response)
pairs, left-padded to one width, with the positions the objective may mask (:class:`TokenizedSet`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mdlm_study.engine.templates import build_canvas
from mdlm_study.models.tiny_tokenizer import digit_ids
from mdlm_study.training.objective import copy_groups


@dataclass
class TokenizedSet:
    """Fully filled canvases to train on, all left-padded to one width."""

    input_ids: torch.Tensor  # [N, W]
    attention_mask: torch.Tensor  # [N, W]
    response_mask: torch.Tensor  # [N, W] bool: the positions the objective may mask
    groups: torch.Tensor | None = None  # [N, W] long: the column whose masking decision a position shares (None: its own)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def batch(self, index: torch.Tensor, *, trim: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows ``index`` (ids, attention mask, response mask, groups), with the all-padding
        columns on the left trimmed (unless ``trim`` is False: one width for every batch)."""
        attn = self.attention_mask[index]
        first = int((attn.sum(0) > 0).nonzero()[0]) if trim else 0
        width = self.input_ids.shape[1] - first
        groups = self.groups[index, first:] - first if self.groups is not None else torch.arange(width).expand(len(index), width)
        return self.input_ids[index, first:], attn[:, first:], self.response_mask[index, first:], groups


def tokenize_examples(tokenizer, questions, reasonings, answers, template, *, chunk: int = 4096) -> TokenizedSet:
    """Render (question, reasoning, answer) triples into full template canvases."""
    parts = []
    for i in range(0, len(questions), chunk):
        sl = slice(i, i + chunk)
        canvas = build_canvas(tokenizer, questions[sl], template, answers=answers[sl], reasonings=reasonings[sl])
        parts.append((canvas.input_ids, canvas.attention_mask, canvas.response_mask))
    width = max(p[0].shape[1] for p in parts)
    pad = tokenizer.pad_token_id

    def left_pad(t, value):
        return F.pad(t, (width - t.shape[1], 0), value=value)

    input_ids = torch.cat([left_pad(p[0], pad) for p in parts])
    response_mask = torch.cat([left_pad(p[2], False) for p in parts])
    return TokenizedSet(input_ids=input_ids, attention_mask=torch.cat([left_pad(p[1], 0) for p in parts]), response_mask=response_mask,
                        groups=copy_groups(input_ids, response_mask, digit_ids(tokenizer)))


def tokenize_pairs(tokenizer, prompts, responses) -> TokenizedSet:
    """(prompt, response) pairs as ``BOS prompt response``, left-padded; only the response is
    maskable (e.g. the arithmetic drills of :func:`mdlm_study.tasks.arithmetic.drills`)."""
    if len(prompts) != len(responses) or not prompts:
        raise ValueError(f"need as many responses as prompts (> 0), got {len(prompts)} and {len(responses)}")
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    heads = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    tails = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
    width = max(len(bos) + len(h) + len(t) for h, t in zip(heads, tails, strict=True))
    ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    response = torch.zeros_like(ids, dtype=torch.bool)
    for i, (head, tail) in enumerate(zip(heads, tails, strict=True)):
        row = bos + head + tail
        ids[i, width - len(row):] = torch.tensor(row)
        attn[i, width - len(row):] = 1
        response[i, width - len(tail):] = True
    return TokenizedSet(ids, attn, response)
