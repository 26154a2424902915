"""The training loop: AdamW with warm-up and cosine decay on the MDLM objective
(:mod:`mdlm_study.training.objective`), checkpoints in safetensors, exact resume.

:func:`train` takes a :class:`~mdlm_study.training.tokenized.TokenizedSet` and a :class:`TrainConfig`.
Every step draws its batch and its masks from a generator seeded by ``(seed, step)``
(:func:`step_generator`), so a run interrupted and resumed from a checkpoint gives bit-identical weights
to an uninterrupted one. It runs in bf16 and through ``torch.compile`` where they help
(:mod:`mdlm_study.training.kernels`) and prints plain progress lines on request (:class:`ProgressReport`).

Checkpoints survive a kill at any instant and load strictly (:mod:`mdlm_study.models.checkpoints`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm  # plain tqdm: tqdm.auto warns "IProgress not found" in a notebook kernel

from mdlm_study.core.checks import int_at_least
from mdlm_study.models.checkpoints import (
    HISTORY_FILE,
    MARKER,
    STATE_FILE,
    as_json,
    check_weights,
    load_weights,
    recover_directory,
    save_checkpoint,
    save_snapshot,
    verify_checkpoint,
)
from mdlm_study.training.kernels import (
    compiled_forward,
    cxx_compiler_available,
    deterministic_kernels,
    matmul_embedding_gradient,
    native_bf16,
)
from mdlm_study.training.objective import COPY_RULES, mdlm_loss
from mdlm_study.training.tokenized import TokenizedSet


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # optimiser steps
    batch_size: int = 128  # examples per step
    lr: float = 2e-3  # peak learning rate
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    warmup: int = 100  # linear warm-up steps
    weight_decay: float = 0.01  # AdamW weight decay
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    grad_clip: float = 1.0  # max global gradient norm
    eps: float = 1e-3  # minimum masking probability (LLaDA's epsilon)
    mask_prompt: bool = False  # also mask prompt tokens (pre-training style)
    loss_weighting: str = "elbo"  # "elbo": CE / p_mask (LLaDA); "flat": mean CE over masked tokens
    suffix_mask_prob: float = 0.0  # fraction of examples whose response is masked from a random cut on (block-diffusion style)
    aux_batch_size: int = 0  # examples per step from the auxiliary set passed to train() (e.g. arithmetic drills); 0 = none
    mask_copies: bool = False  # a number repeated in the response is masked together with its copies, digit by digit (:func:`~mdlm_study.training.objective.copy_groups`)
    copy_rule: str = "tied"  # with mask_copies: "tied" = a group shares one draw; "forward" = a copy is also masked by its own draw (:func:`~mdlm_study.training.objective.mdlm_loss`)
    bf16: bool | None = None  # bf16 autocast for the forward pass; None = only where the device has native bf16 (:func:`native_bf16`)
    compile: bool | None = False  # training forward through torch.compile (:func:`compiled_forward`); None = where a C++ compiler is found
    seed: int = 0  # seeds batches and masks
    eval_every: int = 500  # steps between evaluations (0 = only at the end)
    save_every: int = 500  # steps between checkpoints (0 = only at the end)
    log_every: int = 25  # steps between loss records

    def __post_init__(self) -> None:
        int_at_least("aux_batch_size", self.aux_batch_size, 0)
        int_at_least("steps", self.steps)
        int_at_least("batch_size", self.batch_size)
        for name in ("warmup", "eval_every", "save_every"):
            int_at_least(name, getattr(self, name), 0)
        int_at_least("log_every", self.log_every)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {self.eps}")
        if not 0 <= self.suffix_mask_prob <= 1:
            raise ValueError(f"suffix_mask_prob must be in [0, 1], got {self.suffix_mask_prob}")
        if self.copy_rule not in COPY_RULES:
            raise ValueError(f"copy_rule must be one of {COPY_RULES}, got {self.copy_rule!r}")
        if self.loss_weighting not in ("elbo", "flat"):
            raise ValueError(f"loss_weighting must be 'elbo' or 'flat', got {self.loss_weighting!r}")


def resolved_kernels(config: TrainConfig, device: torch.device | str = "cpu") -> dict:
    """What ``bf16=None`` and ``compile=None`` resolve to on this machine: bf16 autocast where the device has
    native bf16 (:func:`native_bf16`), ``torch.compile`` where a C++ compiler is found. The arithmetic a
    run's weights depend on, so a training record names it."""
    device = torch.device(device)
    return {"bf16": native_bf16(device) if config.bf16 is None else config.bf16,
            "compile": cxx_compiler_available() if config.compile is None else config.compile}


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one training step: a pure function of (seed, step), for exact resume."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def _optimizer(model, config: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


def _check_same_run(directory: Path, marker: dict, config: TrainConfig, run: dict | None) -> None:
    """``ValueError`` naming the settings that differ when a checkpoint was trained with another
    config or belongs to another run: resuming it would mix two trainings."""
    recorded, wanted = marker.get("train_config") or {}, as_json(asdict(config))
    differ = [f"{key}={recorded.get(key)!r} (now {wanted.get(key)!r})" for key in sorted(set(recorded) | set(wanted))
              if recorded.get(key) != wanted.get(key)]
    if differ:
        raise ValueError(f"cannot resume from {directory}: it was trained with a different TrainConfig: {', '.join(differ)}")
    if run is not None and marker.get("run") != as_json(run):
        recorded_run, wanted_run = marker.get("run") or {}, as_json(run)
        keys = sorted(key for key in set(recorded_run) | set(wanted_run) if recorded_run.get(key) != wanted_run.get(key))
        raise ValueError(f"cannot resume from {directory}: it belongs to another run (differs in {', '.join(keys)})")


def _resume(model, optimizer, out_dir: Path, config: TrainConfig, run: dict | None) -> tuple[int, list, float]:
    """(step, history, wall seconds) of the checkpoint in ``out_dir``, its weights and optimiser state
    loaded into ``model`` and ``optimizer``; ``ValueError`` for anything incomplete or foreign."""
    recover_directory(out_dir)
    marker = verify_checkpoint(out_dir)
    if marker.get("kind") != "checkpoint":
        raise ValueError(f"cannot resume from {out_dir}: it is a {marker.get('kind')!r}, not a training checkpoint (no optimiser state)")
    unlisted = [name for name in ("config.json", STATE_FILE, HISTORY_FILE) if name not in marker["files"]]
    if unlisted:
        raise ValueError(f"cannot resume from {out_dir}: its {MARKER} does not list {', '.join(unlisted)}")
    _check_same_run(out_dir, marker, config, run)
    load_weights(model, out_dir)
    check_weights(model, marker, out_dir)
    state = torch.load(out_dir / STATE_FILE, weights_only=True)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise ValueError(f"{out_dir / STATE_FILE}: optimiser state does not fit the model ({err})") from None
    history = json.loads((out_dir / HISTORY_FILE).read_text())
    return marker["step"], history, float(marker.get("wall_seconds", 0.0))


def _batch_loss(model, data: TokenizedSet, size: int, config: TrainConfig, generator, *, mask_id: int, bf16: bool, device,
                trim: bool = True):
    """The objective on ``size`` examples of ``data`` drawn with ``generator``; (loss, tokens in the batch)."""
    index = torch.randint(len(data), (size,), generator=generator)
    input_ids, attn, response, groups = (t.to(device) for t in data.batch(index, trim=trim))
    maskable = attn.bool() if config.mask_prompt else response
    loss, _ = mdlm_loss(model, input_ids, attn, maskable, mask_id=mask_id, eps=config.eps, generator=generator, bf16=bf16,
                        weighting=config.loss_weighting, suffix_mask_prob=config.suffix_mask_prob,
                        groups=groups if config.mask_copies else None, copy_rule=config.copy_rule)
    return loss, int(attn.sum())


def _duration(seconds: float) -> str:
    """A duration at a glance: ``"45s"``, ``"16m"``, ``"1h05m"``."""
    if seconds < 59.5:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _rate(per_second: float) -> str:
    return f"{per_second / 1000:.1f}k" if per_second >= 1000 else f"{per_second:.0f}"


class ProgressReport:
    """Plain progress lines for a long run, e.g.
    ``[train default] step 1500/9750 loss 0.412 acc 0.44 14.7k tok/s 16m left``, printed with
    ``flush=True`` so they stream through papermill and ``make`` (a tqdm bar does not).

    Cadence: a line at a ``log_every`` step once ``min_seconds`` have passed since the last line (the
    first ``log_every`` step always prints, to show the rate early), at any step once ``max_seconds``
    have passed, after every evaluation, and at the end. Tokens/s cover the steps since the last line;
    the time left extrapolates this session's seconds per step (evaluations and checkpoints included).
    ``clock`` and ``write`` are injectable for tests."""

    def __init__(self, label: str, start: int, end: int, total: int, *, log_every: int, min_seconds: float = 30.0,
                 max_seconds: float = 60.0, clock: Callable[[], float] = time.perf_counter, write: Callable[[str], None] | None = None):
        self.prefix, self.start, self.end, self.total, self.log_every = f"[train {label}]", start, end, total, log_every
        self.min_seconds, self.max_seconds, self.clock = min_seconds, max_seconds, clock
        self.write = write or (lambda line: print(line, flush=True))
        self.started = self.last = clock()
        self.tokens, self.lines, self.accuracy = 0, 0, None

    def begin(self, out_dir: Path | None) -> None:
        """Say what the run does: start, or resume from a checkpoint."""
        where = f" ({out_dir})" if out_dir is not None else ""
        if self.start:
            self.write(f"{self.prefix} resuming at step {self.start}/{self.total} from its last checkpoint{where}")
        else:
            self.write(f"{self.prefix} starting {self.total} steps{where}")

    def update(self, done: int, tokens: int, loss, evaluation: dict | None = None) -> None:
        """Count one step's tokens and print a line when one is due (``loss``: a number or a 0-d tensor,
        read only then)."""
        self.tokens += tokens
        if evaluation is not None and "eval_accuracy" in evaluation:
            self.accuracy = float(evaluation["eval_accuracy"])
        now = self.clock()
        since = now - self.last
        boundary = done % self.log_every == 0 and (self.lines == 0 or since >= self.min_seconds)
        if not (boundary or evaluation is not None or since >= self.max_seconds or done == self.end):
            return
        parts = [f"{self.prefix} step {done}/{self.total}", f"loss {float(loss):.3f}"]
        if self.accuracy is not None:
            parts.append(f"acc {self.accuracy:.2f}")
        parts.append(f"{_rate(self.tokens / since) if since > 0 else '-'} tok/s")
        elapsed = now - self.started
        if done == self.total:
            parts.append(f"finished in {_duration(elapsed)}" + (" (this session)" if self.start else ""))
        else:
            parts.append(f"{_duration((self.end - done) * elapsed / max(1, done - self.start))} left")
        self.write(" ".join(parts))
        self.last, self.tokens, self.lines = now, 0, self.lines + 1


def train(
    model,
    data: TokenizedSet,
    config: TrainConfig,
    *,
    mask_id: int,
    out_dir: str | Path | None = None,
    tokenizer=None,
    eval_fn: Callable[[torch.nn.Module], dict] | None = None,
    aux: TokenizedSet | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    snapshots: tuple[int, ...] = (),
    progress: bool = True,
    report: str | None = None,
    run: dict | None = None,
) -> list[dict]:
    """Train ``model`` on ``data``; return the history (loss records and evaluation records).

    With ``aux`` and ``config.aux_batch_size > 0`` every step also draws that many examples from
    ``aux`` (its own, usually much shorter, batch) and adds their loss.

    ``out_dir`` receives a checkpoint every ``config.save_every`` steps and at the end
    (:func:`save_checkpoint`: complete or absent, whatever kills the process). ``resume`` continues
    from that checkpoint (``ValueError`` if there is none, if it is incomplete, or if it was trained
    with another ``config`` or ``run``; ``run`` is whatever identifies the run to its caller, e.g. the
    recipe, recorded in every checkpoint). ``stop_after`` ends the run after that many steps (to
    simulate an interruption in tests) after saving a checkpoint. ``snapshots`` keeps a copy of the
    weights (and tokenizer) at those steps in ``out_dir/step<N>`` (e.g. the fine-tuning experiment's
    base model, an early checkpoint of the same run).

    ``report`` (a label, e.g. the recipe name) prints plain progress lines to stdout
    (:class:`ProgressReport`); ``progress`` shows a tqdm bar, only in an interactive terminal.
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir, the directory holding the checkpoint to resume")
    optimizer = _optimizer(model, config)
    start, history, prior = _resume(model, optimizer, out_dir, config, run) if resume else (0, [], 0.0)
    model.train()
    device = next(model.parameters()).device  # batches and masks are drawn on CPU (reproducible), then moved
    kernels = resolved_kernels(config, device)
    bf16, use_compile = kernels["bf16"], kernels["compile"]
    forward = compiled_forward(model) if use_compile else model
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    timer, tokens = time.perf_counter(), 0
    clock = time.perf_counter()
    bar = tqdm(range(start, end), disable=not (progress and sys.stderr.isatty()), desc="train", initial=start, total=config.steps)
    reporter = None
    if report is not None:
        reporter = ProgressReport(report, start, end, config.steps, log_every=config.log_every,
                                  write=None if bar.disable else lambda line: (tqdm.write(line, file=sys.stdout), sys.stdout.flush()))
        reporter.begin(out_dir)
    with deterministic_kernels(use_compile and device.type == "cpu"), matmul_embedding_gradient(model, use_compile):
        for step in bar:
            generator = step_generator(config.seed, step)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config)
            loss, step_tokens = _batch_loss(forward, data, config.batch_size, config, generator, mask_id=mask_id, bf16=bf16, device=device,
                                            trim=not use_compile)
            if aux is not None and config.aux_batch_size:
                aux_loss, aux_tokens = _batch_loss(forward, aux, config.aux_batch_size, config, generator, mask_id=mask_id, bf16=bf16,
                                                   device=device, trim=not use_compile)
                loss, step_tokens = loss + aux_loss, step_tokens + aux_tokens
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            tokens += step_tokens
            done = step + 1
            if done % config.log_every == 0 or done == config.steps:
                elapsed = time.perf_counter() - timer
                history.append({"step": done, "loss": loss.item(), "lr": lr_at(step, config), "tokens_per_s": tokens / elapsed,
                                "wall_seconds": prior + time.perf_counter() - clock})
                bar.set_postfix(loss=f"{loss.item():.3f}")
                timer, tokens = time.perf_counter(), 0
            evaluation = None
            if eval_fn is not None and ((config.eval_every and done % config.eval_every == 0) or done == config.steps):
                model.eval()
                evaluation = eval_fn(model)
                history.append({"step": done, "wall_seconds": prior + time.perf_counter() - clock, **evaluation})
                model.train()
            if out_dir is not None and done in snapshots:
                save_snapshot(model, out_dir / f"step{done}", done, tokenizer)
            if out_dir is not None and ((config.save_every and done % config.save_every == 0) or done in (end, config.steps)):
                save_checkpoint(model, optimizer, done, history, out_dir, tokenizer, config=config, run=run,
                                wall_seconds=prior + time.perf_counter() - clock)
            if reporter is not None:
                reporter.update(done, step_tokens, loss.detach(), evaluation)
    model.eval()
    return history
