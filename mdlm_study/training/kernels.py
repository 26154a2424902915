"""The kernels training runs on, fast and repeatable: bf16 where the hardware has native ones,
``torch.compile``'s where a C++ compiler is found, and the guards that keep compiled training on several
threads bit-identical run to run (:func:`deterministic_kernels`, :func:`matmul_embedding_gradient`)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 autocast should speed training up on ``device``: CUDA with bf16 support, or a
    CPU whose oneDNN has native bf16 kernels (AVX-512 BF16 / AMX). Measured (benchmarks/bench_training.py):
    1.7x faster than fp32 on a CPU with native bf16, 7x *slower* on an AVX2-only CPU (AMD EPYC, Zen 1),
    where bf16 matmuls are emulated."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def compiled_forward(model: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile(model)`` with static shapes: a wrapper that shares ``model``'s parameters.
    Training steps run through it on untrimmed batches (one width for every batch, so one graph per
    batch source; dynamic shapes measured no faster than eager here); evaluation, checkpoints and
    snapshots use ``model`` itself, so saved weights keep their plain names. Measured in the trainer
    on this CPU (default model, one fp32 thread): 3.4-4.0k tokens/s against 2.8-3.5k eager, after a
    ~30 s compile. Needs a C++ compiler (inductor; :func:`cxx_compiler_available`)."""
    return torch.compile(model, dynamic=False)


@contextmanager
def deterministic_kernels(enabled: bool):
    """``torch.use_deterministic_algorithms(True)`` while the block runs (the caller's setting is
    restored after). Compiled CPU training runs under it as a guard against kernels that accumulate
    across threads in the order the threads finish: the one such op in the study's models, the input
    embedding's gradient (``index_put`` with accumulation, compiled to ``atomic_add``), made two
    same-seed runs on 2 threads give different weights (README: after 6,000 steps, models that had
    learnt different things). It now goes through :func:`matmul_embedding_gradient`, where the guard
    changes nothing and costs nothing (``benchmarks/bench_determinism.py``). Not applied on CUDA,
    where it needs ``CUBLAS_WORKSPACE_CONFIG``."""
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def one_hot_lookup(embedding: torch.nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """``embedding(ids)`` computed as ``one_hot(ids) @ weight``: the same rows, bit for bit, and the
    same gradient as ``nn.Embedding`` (none to ``padding_idx``'s row), but the weight's gradient is a
    matrix product instead of an accumulation into looked-up rows. Compiled training uses it
    (:func:`matmul_embedding_gradient`); cheap for a small vocabulary (61 tokens here)."""
    weight = embedding.weight
    rows = F.one_hot(ids, embedding.num_embeddings).to(weight.dtype) @ weight
    if embedding.padding_idx is None:
        return rows
    return torch.where((ids == embedding.padding_idx).unsqueeze(-1), weight[embedding.padding_idx].detach(), rows)


@contextmanager
def matmul_embedding_gradient(model: torch.nn.Module, enabled: bool):
    """While the block runs, ``model``'s input embedding looks its rows up with :func:`one_hot_lookup`.
    Why: inductor compiles the lookup's gradient (``index_put`` with accumulation) into ``atomic_add``
    across threads, in the order the threads finish, so compiled runs on 2 threads were not repeatable;
    :func:`deterministic_kernels` fixes that at ~10% of the tokens/s, a matrix product fixes it and is
    faster than either (``benchmarks/bench_determinism.py``). Left alone: embeddings that are not a plain
    ``nn.Embedding`` or that renormalise (``max_norm``)."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    swap = enabled and type(embedding) is torch.nn.Embedding and embedding.max_norm is None
    if swap:
        embedding.forward = partial(one_hot_lookup, embedding)
    try:
        yield
    finally:
        if swap:
            del embedding.forward


def cxx_compiler_available() -> bool:
    """Whether torch.compile's CPU backend (inductor) can build kernels here: it needs a C++ compiler."""
    return any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++"))
