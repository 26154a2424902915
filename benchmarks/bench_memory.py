"""Peak memory of one decoding step per batch row, on a model with LLaDA's vocabulary (126,464).

The model is the tests' tiny LLaDA (``tests/fixtures/checkpoints.py``: LLaDA's modelling code and
vocabulary, hidden size 32), so the logits dominate every allocation as they do on LLaDA-8B, where the
rest of a forward pass is per-token activations of width 4,096 to 12,288, against 126,464 logits.
For each dtype (the checkpoint's bf16, and float32), canvas width T and batch B, the peak is measured
twice: for the model's forward pass alone, and for ``generate`` (forward + the engine's statistics at
the masked positions; ``tokens_per_step`` is set so that the decode takes two steps, whose first has the
most masks). With ``--shift`` the same runs go through the aligned adapter (Dream's logits shifted
back in place).

Method (CPU): Linux's peak resident set size. Before each run ``/proc/self/clear_refs`` is written
with 5, which resets the peak (``VmHWM``) to the current RSS; the peak after the run minus the RSS
before it is the memory the run added at its high point. PyTorch's CPU allocator takes its blocks from glibc's
malloc; the benchmark first fixes glibc's mmap threshold at 64 KiB (``mallopt``, which also turns off
its dynamic raise to 32 MiB) and its trim threshold at 0, so every tensor block is mapped when
allocated and unmapped when freed, and the resident set follows live tensor memory as it is written.
(``tracemalloc`` does not see tensors; the profiler's CPU memory events do not give a live total.)
The unit is one float32 copy of the logits, B x T x V x 4 bytes: ``copies`` = peak / that.

Run: ``python benchmarks/bench_memory.py --out benchmarks/results/memory.json``
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import re
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.checkpoints import LLADA_VOCAB, build_llada  # noqa: E402

from mdlm_study.core.records import write_record  # noqa: E402
from mdlm_study.engine import generate  # noqa: E402
from mdlm_study.models.loader import ModelAdapter, load_model  # noqa: E402

PROMPT = 16  # real tokens before the masks
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def exact_malloc() -> None:
    """Every block of 64 KiB or more mmapped and returned to the system when freed (module docstring)."""
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(M_MMAP_THRESHOLD, 1 << 16) and libc.mallopt(M_TRIM_THRESHOLD, 0)):
        raise RuntimeError("mallopt failed: this benchmark needs glibc")


def _status(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {key}: this benchmark needs Linux")
    return int(match.group(1)) * 1024


def peak_bytes(run) -> int:
    """Bytes the resident set grew by at its highest point while ``run()`` ran (module docstring)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    result = run()
    peak = _status("VmHWM") - before
    del result
    gc.collect()
    return peak


def canvas(batch: int, width: int, mask_id: int, seed: int = 0) -> torch.Tensor:
    ids = torch.randint(0, 120_000, (batch, width), generator=torch.Generator().manual_seed(seed))
    ids[:, PROMPT:] = mask_id
    return ids


def measure(denoiser, mask_id: int, batch: int, width: int) -> dict:
    ids = canvas(batch, width, mask_id)
    unit = batch * width * LLADA_VOCAB * 4
    n_masked = width - PROMPT
    with torch.no_grad():
        denoiser(ids[:1, :8])  # warm up kernels and lazily built buffers outside the measurement
        forward = peak_bytes(lambda: denoiser(ids).logits)
    decode = peak_bytes(lambda: generate(denoiser, ids, sampler="entropy", mask_id=mask_id, tokens_per_step=(n_masked + 1) // 2))
    return {"batch": batch, "T": width, "masked": n_masked, "vocab": LLADA_VOCAB, "logits_fp32_bytes": unit,
            "forward_peak_bytes": forward, "decode_peak_bytes": decode, "forward_copies": forward / unit,
            "decode_copies": decode / unit, "decode_peak_bytes_per_row": decode / batch,
            "engine_extra_copies": (decode - forward) / unit}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/memory.json")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
    parser.add_argument("--shift", action="store_true", help="also through the aligned adapter (in-place shift)")
    args = parser.parse_args(argv)
    exact_malloc()
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = build_llada(Path(tmp) / "llada")
        for dtype in args.dtypes:
            loaded = load_model(path, trust_remote_code=True, dtype=dtype)
            variants = {"llada": loaded.denoiser()}
            if args.shift:
                variants["aligned_shift"] = ModelAdapter(loaded.model, family="llada", shift=True)
            for name, denoiser in variants.items():
                for width in args.widths:
                    for batch in args.batches:
                        row = {"model": "tiny LLaDA (real vocabulary, hidden 32)", "variant": name, "dtype": dtype,
                               **measure(denoiser, loaded.special.mask_id, batch, width)}
                        print(f"{dtype:8s} {name:13s} T={width:4d} B={batch}: forward {row['forward_copies']:.2f}, "
                              f"decode {row['decode_copies']:.2f} fp32 logits copies "
                              f"({row['decode_peak_bytes_per_row'] / 2**20:.0f} MiB per row)", flush=True)
                        rows.append(row)
            del loaded, variants
    write_record(args.out, {"benchmark": "memory",
                            "method": "VmHWM after clear_refs=5, minus VmRSS before (Linux; glibc mmap threshold 64 KiB, trim 0)",
                            "unit": "one float32 B x T x V logits copy", "results": rows})
    return rows


if __name__ == "__main__":
    main()
