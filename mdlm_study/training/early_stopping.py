"""Early stopping inside the paper's regime: choose which of a run's kept weights stands for the run.

A seed of the deep regime's recipe makes one transition, from answering almost nothing to composing the chain
through its written steps, at a step that varies from seed to seed; after it the seed keeps learning, and the
longer it trains the deeper the chains it also composes in one pass, without reasoning (docs/recipe_history.md,
"12,000 steps against the spread"). So the weights at one fixed step put the seeds at different points of that
path. Selection keeps the weights every few steps (``python -m mdlm_study.training.recipes chains --keep-every N``),
decodes each kept set on the task's **posterior split** (the study's development split, never the test split the
claims are measured on) and takes the most accurate one whose answer is still not read off the blank reasoning
slot: the highest exact-answer accuracy among the candidates whose blank-slot accuracy is at most
``max_blank_slot``, the earliest step on a tie. The diagnostics are the regime's own
(:func:`mdlm_study.experiments.regime.diagnose`: entropy order, one token per pass), read on the chains of at
least ``min_steps`` steps (:data:`~mdlm_study.experiments.regime.DEEP_MIN_STEPS`), as the regime is on the test
split. The bound sits below the paper regime's 25% (:data:`~mdlm_study.experiments.regime.PAPER_REGIME`) by
about two binomial standard deviations of a blank-slot accuracy near 20% on the development split's ~260 deep
chains, so that a candidate chosen on it stays inside the test split's bound.

    python -m mdlm_study.training.early_stopping CKPT/seed0/chains --out benchmarks/results/machine/early_stopping_seed0.json

writes one record (every candidate's diagnostics, the rule, the chosen step and its weights' SHA-256; the
provenance of every record) and prints the chosen folder, which any command loading a model takes
(``benchmarks/bench_regime.py --models <folder>``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.records import problems_sha256, write_record
from mdlm_study.experiments.regime import DEEP_MIN_STEPS, PAPER_REGIME, deep_chains, diagnose
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import SNAPSHOT, read_record
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.task import get_task


@dataclass(frozen=True)
class StoppingRule:
    """Which kept weights stand for a run (module docstring): the most accurate candidate at or after
    ``from_step`` whose blank-slot accuracy is at most ``max_blank_slot``, both read on the ``split`` chains of
    at least ``min_steps`` steps (the first ``n_problems`` of the split, all of them when None)."""

    max_blank_slot: float = 0.20
    min_steps: int = DEEP_MIN_STEPS
    from_step: int = 1
    split: str = "posterior"
    n_problems: int | None = None

    def __post_init__(self) -> None:
        bound = PAPER_REGIME["blank_slot_accuracy"][1]
        if isinstance(self.max_blank_slot, bool) or not isinstance(self.max_blank_slot, int | float) or not 0 <= self.max_blank_slot <= bound:
            raise ValueError(f"max_blank_slot must be a number in [0, {bound}] (the paper regime's bound), got {self.max_blank_slot!r}")
        int_at_least("min_steps", self.min_steps)
        int_at_least("from_step", self.from_step)
        if self.n_problems is not None:
            int_at_least("n_problems", self.n_problems)
        if self.split == "test":
            raise ValueError("split must not be 'test': the claims are measured there, so a choice made on it would be judged on itself")


def candidates(run_dir: str | Path, from_step: int = 1, *, record: dict | None = None, last: int | None = None) -> list[tuple[int, Path]]:
    """A finished run's kept weights as ``(step, folder)``, earliest first: every snapshot its ``training.json``
    lists (``step<N>``) and the run's own final weights (the run folder, at its last step), from ``from_step`` on
    (and only the ``last`` latest of them, when given). A folder that holds no finished run is a ``ValueError``
    (``read_record``), as is a listed candidate that no folder holds; ``record`` is that file when the caller
    has read it already."""
    if last is not None:
        int_at_least("last", last)
    run_dir = Path(run_dir)
    record = read_record(run_dir) if record is None else record
    found = []
    for name in record.get("snapshots", []):
        if SNAPSHOT.fullmatch(name) is None:
            raise ValueError(f"{run_dir}: training.json lists {name!r}, not a snapshot (step<N>)")
        found.append((int(name.removeprefix("step")), run_dir / name))
    found.append((int(record["train"]["steps"]), run_dir))
    kept = sorted((step, folder) for step, folder in found if step >= from_step)[-(last or 0):]
    if not kept:
        raise ValueError(f"{run_dir}: no kept weights at or after from_step={from_step} (steps {sorted(s for s, _ in found)})")
    missing = [str(folder) for _, folder in kept if not folder.is_dir()]
    if missing:
        raise ValueError(f"{run_dir}: training.json lists snapshots that no folder holds: {missing}")
    return kept


def choose(table: pd.DataFrame, rule: StoppingRule) -> pd.Series:
    """The row of ``table`` (one per candidate: ``step``, ``accuracy``, ``blank_slot_accuracy``) the rule takes: the
    highest accuracy among the rows with a blank slot at most ``rule.max_blank_slot``, the earliest step on a tie.
    No row inside the bound is a ``ValueError`` naming the lowest blank slot seen."""
    inside = table[table["blank_slot_accuracy"] <= rule.max_blank_slot]
    if inside.empty:
        lowest = table.loc[table["blank_slot_accuracy"].idxmin()]
        raise ValueError(f"no candidate keeps the blank slot at or below {rule.max_blank_slot}: the lowest is "
                         f"{lowest['blank_slot_accuracy']:.3f} at step {int(lowest['step'])}")
    return inside.sort_values(["accuracy", "step"], ascending=[False, True]).iloc[0]


def score_candidates(run_dir: str | Path, rule: StoppingRule, data_dir: str | Path = "data", *, diagnose_fn=diagnose,
                     record: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Decode every candidate (:func:`candidates`) on the rule's problems; return one row per candidate (step,
    folder, weights SHA-256, accuracy, blank-slot accuracy, exit saving, share right at half the passes) and what
    the problems were (task, split, count, SHA-256). ``record``: the run's ``training.json``, if already read."""
    record = read_record(run_dir) if record is None else record
    task = get_task(record["task"])
    problems = read_split(task, data_dir, rule.split)[: rule.n_problems]
    keep, kept = deep_chains(problems, rule.min_steps)
    if not kept:
        raise ValueError(f"min_steps={rule.min_steps}: none of the {len(problems)} {rule.split} problems takes that many steps")
    rows = []
    for step, folder in candidates(run_dir, rule.from_step, record=record):
        loaded = load_model(Path(folder))
        found = diagnose_fn(loaded.model, loaded.tokenizer, problems, task.template, task, keep=keep)
        rows.append({"step": step, "folder": str(folder), "weights_sha256": loaded.weights_sha256(), "accuracy": found["accuracy"],
                     "blank_slot_accuracy": found["blank_slot_accuracy"], "exit_saving": found["exit_saving"],
                     "right_at_half": found["right_at_half"]})
        print(f"[select] step {step}: accuracy {found['accuracy']:.3f}, blank slot {found['blank_slot_accuracy']:.3f}", flush=True)
    about = {"task": task.name, "split": rule.split, "problems": task.file(rule.split), "problems_sha256": problems_sha256(problems),
             "n_problems": len(problems), "n_deep": len(kept)}
    return pd.DataFrame(rows), about


def choose_weights(run_dir: str | Path, rule: StoppingRule, data_dir: str | Path = "data", *, diagnose_fn=diagnose) -> dict:
    """Score a run's candidates and choose one (:func:`choose`); return the selection record (the rule, the
    problems, every candidate, the chosen one, and the run's training summary)."""
    record = read_record(run_dir)
    table, about = score_candidates(run_dir, rule, data_dir, diagnose_fn=diagnose_fn, record=record)
    chosen = choose(table, rule)
    # weights_sha256 first: the chosen weights, the ones a record index names this record by
    return {"weights_sha256": chosen["weights_sha256"], "run": str(run_dir), "run_weights_sha256": record["weights_sha256"], "recipe": record["recipe"], "seed": record["train"]["seed"],
            "steps": record["train"]["steps"], "rule": asdict(rule), **about, "candidates": table.to_dict("records"),
            "chosen": {key: chosen[key].item() if hasattr(chosen[key], "item") else chosen[key] for key in table.columns}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Choose a run's kept weights by early stopping inside the paper's regime.")
    parser.add_argument("run", help="a finished run folder trained with --keep-every (e.g. CKPT/seed0/chains)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--max-blank-slot", type=float, default=StoppingRule.max_blank_slot)
    parser.add_argument("--min-steps", type=int, default=StoppingRule.min_steps)
    parser.add_argument("--from-step", type=int, default=StoppingRule.from_step)
    parser.add_argument("--n-problems", type=int, default=None)
    parser.add_argument("--out", required=True, help="the selection record (JSON)")
    args = parser.parse_args(argv)
    rule = StoppingRule(max_blank_slot=args.max_blank_slot, min_steps=args.min_steps, from_step=args.from_step, n_problems=args.n_problems)
    selection = choose_weights(args.run, rule, args.data_dir)
    write_record(Path(args.out), selection, command=["python", "-m", "mdlm_study.training.early_stopping", *(sys.argv[1:] if argv is None else argv)])
    print(f"[select] chosen: step {selection['chosen']['step']} ({selection['chosen']['folder']})", flush=True)
    return selection


if __name__ == "__main__":
    main()
