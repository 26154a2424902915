"""Data-parallel evaluation and posterior sampling over a problem list with ``accelerate``.

The problems are cut into contiguous batches of ``batch_size`` (batch k = problems
``[k*bs, (k+1)*bs)``), and batch k goes to process ``k % world_size``. Each batch is decoded with a
generator seeded by ``(seed, first index of the batch)``, so a batch is the same tensor with the
same seed whatever the number of processes: the gathered output is identical, row for row, to a
single-process run. Every process returns one dict per problem tagged with its original ``index``;
the main process gathers them (``accelerate.utils.gather_object``), sorts by index, checks that no
problem is missing or duplicated, and writes ONE jsonl file.

    accelerate launch --multi_gpu --num_processes 2 -m mdlm_study.integrations.distributed \\
        --checkpoint checkpoints/default --task arithmetic --n-problems 500 --sampler med \\
        --med-lambda 0.2 --out results/med.jsonl

On a machine without GPUs add ``--cpu`` AFTER the module name (our flag: ``Accelerator(cpu=True)``,
gloo backend). ``accelerate launch --cpu --num_processes 2`` starts ONE process in accelerate 1.15
unless an MPI hostfile is given (its CPU launcher needs ``mpirun``); the result is still correct,
just not parallel: the CLI prints how many processes took part. ``torchrun --nproc_per_node 2 -m
mdlm_study.integrations.distributed --cpu ...`` also works.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import gather_object

from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.config import add_config_arguments, config_from_arguments
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.posterior import sample_posterior
from mdlm_study.models import load_model
from mdlm_study.tasks.data import read_records
from mdlm_study.tasks.task import Task, get_task, task_names

Work = Callable[[range], list[dict]]
MODES = ("eval", "posterior")


def batch_ranges(n: int, batch_size: int) -> list[range]:
    """Contiguous index batches covering ``range(n)``."""
    if n < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    return [range(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def shard(batches: Sequence[range], rank: int, world_size: int) -> list[range]:
    """The batches of process ``rank``: every ``world_size``-th batch, starting at ``rank``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    return list(batches[rank::world_size])


def run_sharded(n: int, work: Work, *, batch_size: int, rank: int = 0, world_size: int = 1,
                gather: Callable[[list], list] | None = None) -> list[dict] | None:
    """Run ``work(rows) -> one dict per row`` on this process's batches, gather, and return all
    rows in the original order on rank 0 (``None`` on the other ranks)."""
    local = []
    for rows in shard(batch_ranges(n, batch_size), rank, world_size):
        results = work(rows)
        if len(results) != len(rows):
            raise ValueError(f"work returned {len(results)} results for {len(rows)} problems (rows {rows.start}..{rows.stop - 1})")
        local += [{"index": i, **result} for i, result in zip(rows, results, strict=True)]
    gathered = gather(local) if gather is not None else local
    if rank != 0:
        return None
    ordered = sorted(gathered, key=lambda row: row["index"])
    if [row["index"] for row in ordered] != list(range(n)):
        raise ValueError(f"gathered {len(ordered)} rows for {n} problems: some are missing or duplicated")
    return ordered


def write_jsonl(rows: Sequence[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    return path


def task_work(loaded, task: Task, problems, template, config: DecodeConfig, *, mode: str) -> Work:
    """The per-batch callable: ``eval`` decodes and grades by the task's rule
    (:func:`~mdlm_study.experiments.evaluate.evaluate_task`); ``posterior`` (tasks with step labels) samples the
    reasoning with the gold answer written into its slot (:func:`~mdlm_study.experiments.posterior.sample_posterior`,
    one sample per problem) and grades the trace step by step. Rows are keyed by their global problem
    index, so the output does not depend on the number of processes."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if mode == "posterior" and not task.step_labels:
        raise ValueError(f"--mode posterior grades traces step by step; task {task.name!r} has no step labels")
    options = dict(shift_logits=loaded.shift_logits, length_buckets=not loaded.honours_padding)

    def work(rows: range) -> list[dict]:
        batch = [problems[i] for i in rows]
        if mode == "eval":
            table = evaluate_task(task, loaded.denoiser(), loaded.tokenizer, batch, template, config, batch_size=len(batch),
                                        max_length=loaded.max_length, first_row=rows.start, **options)
            return json.loads(table.to_json(orient="records"))
        table = sample_posterior(loaded.denoiser(), loaded.tokenizer, batch, template, config, n_samples=1, batch_size=len(batch),
                                 first_problem=rows.start, **options)
        return json.loads(table.drop(columns=["problem", "sample", "steps"]).to_json(orient="records"))

    return work


def _problems(args, task: Task) -> list:
    if args.problems:
        problems = read_records(args.problems, task.from_row)
    elif task.generate is not None:
        problems = task.generate(task.split_configs["test"], args.n_problems, seed=args.problem_seed)
    else:
        raise ValueError(f"task {task.name!r} has no generator: pass --problems FILE")
    if args.n_problems > len(problems):
        raise ValueError(f"--n-problems {args.n_problems} but {args.problems} holds only {len(problems)} problems")
    return problems[: args.n_problems]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mdlm_study.integrations.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a released study model's name, a checkpoint folder or a hub name (mdlm_study.models.load_model)")
    p.add_argument("--task", default="arithmetic", help=f"a registered task ({', '.join(task_names())}) or module:attribute")
    p.add_argument("--problems", default=None, help="jsonl of problems (mdlm_study.tasks.data); default: generate them")
    p.add_argument("--n-problems", type=int, required=True)
    p.add_argument("--problem-seed", type=int, default=12345, help="seed of generated problems")
    p.add_argument("--mode", default="eval", choices=MODES)
    add_config_arguments(p)
    p.add_argument("--batch-size", type=int, default=16, help="problems per generate call")
    p.add_argument("--reasoning-len", type=int, default=None, help="override the template's reasoning slot")
    p.add_argument("--answer-len", type=int, default=None, help="override the template's answer slot")
    p.add_argument("--dtype", default=None)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--cpu", action="store_true", help="run every process on CPU (gloo backend)")
    p.add_argument("--out", required=True, help="the one jsonl file the main process writes")
    return p


def _template(args):
    overrides = {k: v for k, v in (("reasoning_len", args.reasoning_len), ("answer_len", args.answer_len)) if v is not None}
    return replace(get_task(args.task).template, **overrides)


def main(argv: Sequence[str] | None = None) -> list[dict] | None:
    """CLI entry point; works under ``accelerate launch`` and as a plain single process."""
    args = build_parser().parse_args(argv)
    accelerator = Accelerator(cpu=args.cpu)
    loaded = load_model(args.checkpoint, device=str(accelerator.device), dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    task = get_task(args.task)
    work = task_work(loaded, task, _problems(args, task), _template(args), config_from_arguments(args), mode=args.mode)
    rows = run_sharded(args.n_problems, work, batch_size=args.batch_size, rank=accelerator.process_index,
                       world_size=accelerator.num_processes, gather=gather_object if accelerator.num_processes > 1 else None)
    if rows is not None:
        write_jsonl(rows, args.out)
        print(f"wrote {len(rows)} rows from {accelerator.num_processes} process(es) to {args.out}")
    accelerator.wait_for_everyone()
    return rows


if __name__ == "__main__":
    main()
