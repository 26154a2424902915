"""Plain progress lines for a long training run (:class:`ProgressReport`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


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
