"""Data-parallel evaluation and posterior sampling over a problem list with ``accelerate``.

The problems are cut into contiguous batches of ``batch_size`` (batch k = problems
``[k*bs, (k+1)*bs)``), and batch k goes to process ``k % world_size``. Each batch is decoded with a
generator seeded by ``(seed, first index of the batch)``, so a batch is the same tensor with the
same seed whatever the number of processes: the gathered output is identical, row for row, to a
single-process run. Every process returns one dict per problem tagged with its original ``index``;
the main process gathers them (``accelerate.utils.gather_object``), sorts by index, checks that no
problem is missing or duplicated, and writes ONE jsonl file.

    accelerate launch --multi_gpu --num_processes 2 -m mdlm_study.distributed \\
        --checkpoint checkpoints/default --task arithmetic --n-problems 500 --sampler med \\
        --param med_lambda=0.2 --out results/med.jsonl

On a machine without GPUs add ``--cpu`` AFTER the module name (our flag: ``Accelerator(cpu=True)``,
gloo backend). ``accelerate launch --cpu --num_processes 2`` starts ONE process in accelerate 1.15
unless an MPI hostfile is given (its CPU launcher needs ``mpirun``); the result is still correct,
just not parallel: the CLI prints how many processes took part. ``torchrun --nproc_per_node 2 -m
mdlm_study.distributed --cpu ...`` also works.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from mdlm_study.parameters import parse_flags

Work = Callable[[range], list[dict]]
TASKS = ("arithmetic",)
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


def arithmetic_work(loaded, problems, template, *, mode: str, sampler: str, seed: int, **generate_kwargs) -> Work:
    """The per-batch callable for the arithmetic task: ``eval`` decodes and grades
    (``mdlm_study.evaluate.evaluate_arithmetic``); ``posterior`` samples the reasoning with the gold
    answer written into its slot (the paper's posterior sampling) and grades the trace step by step."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    kwargs = dict(sampler=sampler, shift_logits=loaded.shift_logits, max_length=loaded.max_length, **generate_kwargs)

    def work(rows: range) -> list[dict]:
        batch = [problems[i] for i in rows]
        batch_seed = seed * 1_000_003 + rows.start
        if mode == "eval":
            from mdlm_study.evaluate import evaluate_arithmetic

            table = evaluate_arithmetic(loaded.denoiser(), loaded.tokenizer, batch, template, batch_size=len(batch), seed=batch_seed, **kwargs)
            return json.loads(table.to_json(orient="records"))
        return _posterior_rows(loaded, batch, template, batch_seed, kwargs)

    return work


def _posterior_rows(loaded, batch, template, seed: int, kwargs: dict) -> list[dict]:
    from mdlm_study.evaluate import decode
    from mdlm_study.tasks.arithmetic import grade_trace
    from mdlm_study.templates import read_canvas

    canvas, out = decode(loaded.denoiser(), loaded.tokenizer, [p.question for p in batch], template,
                         answers=[p.answer for p in batch], batch_size=len(batch), seed=seed, **kwargs)
    rows = []
    for i, (problem, read) in enumerate(zip(batch, read_canvas(loaded.tokenizer, out["sequences"], canvas), strict=True)):
        grade = grade_trace(problem, read.steps)
        rows.append({"uid": problem.uid, "answer": problem.answer, "reasoning": read.reasoning, "trace_correct": grade.correct,
                     "first_wrong": grade.first_wrong, "nfe": int(out["nfe"][i]), "logprob": float(out["logprob"][i])})
    return rows


def parse_params(items: Sequence[str]) -> dict:
    """``["med_lambda=0.2", "answer_last=false"]`` -> ``{"med_lambda": 0.2, "answer_last": False}``."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"rule parameter must look like name=value, got {item!r}")
        params[key] = _literal(value)
    return params


def _literal(value: str):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _problems(args) -> list:
    from mdlm_study.data import read_problems
    from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems

    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; expected one of {TASKS}")
    problems = read_problems(args.problems) if args.problems else generate_problems(ArithmeticConfig(), args.n_problems, seed=args.problem_seed)
    if args.n_problems > len(problems):
        raise ValueError(f"--n-problems {args.n_problems} but {args.problems} holds only {len(problems)} problems")
    return problems[: args.n_problems]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mdlm_study.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint directory or hub name (mdlm_study.loader.load_mdlm)")
    p.add_argument("--task", default="arithmetic", choices=TASKS)
    p.add_argument("--problems", default=None, help="jsonl of problems (mdlm_study.data); default: generate them")
    p.add_argument("--n-problems", type=int, required=True)
    p.add_argument("--problem-seed", type=int, default=12345, help="seed of generated problems")
    p.add_argument("--mode", default="eval", choices=MODES)
    p.add_argument("--sampler", default="l2r", help="rule name of mdlm_study.sampling.generate")
    p.add_argument("--param", action="append", default=[], help="rule parameter name=value (repeatable)")
    p.add_argument("--block-size", type=int, default=None)
    p.add_argument("--tokens-per-step", type=int, default=1)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--exit-gamma", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=16, help="problems per generate call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reasoning-len", type=int, default=None, help="override the template's reasoning slot")
    p.add_argument("--answer-len", type=int, default=None, help="override the template's answer slot")
    p.add_argument("--dtype", default=None)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--cpu", action="store_true", help="run every process on CPU (gloo backend)")
    p.add_argument("--out", required=True, help="the one jsonl file the main process writes")
    return p


def _template(args):
    from dataclasses import replace

    from mdlm_study.templates import ARITHMETIC_TEMPLATE

    overrides = {k: v for k, v in (("reasoning_len", args.reasoning_len), ("answer_len", args.answer_len)) if v is not None}
    return replace(ARITHMETIC_TEMPLATE, **overrides)


def main(argv: Sequence[str] | None = None) -> list[dict] | None:
    """CLI entry point; works under ``accelerate launch`` and as a plain single process."""
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    from mdlm_study.loader import load_mdlm

    args = build_parser().parse_args(argv)
    accelerator = Accelerator(cpu=args.cpu)
    loaded = load_mdlm(args.checkpoint, device=str(accelerator.device), dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    generate_kwargs = dict(block_size=args.block_size, tokens_per_step=args.tokens_per_step, temperature=args.temperature,
                           exit_gamma=args.exit_gamma, **parse_flags(parse_params(args.param)))
    work = arithmetic_work(loaded, _problems(args), _template(args), mode=args.mode, sampler=args.sampler, seed=args.seed, **generate_kwargs)
    rows = run_sharded(args.n_problems, work, batch_size=args.batch_size, rank=accelerator.process_index,
                       world_size=accelerator.num_processes, gather=gather_object if accelerator.num_processes > 1 else None)
    if rows is not None:
        write_jsonl(rows, args.out)
        print(f"wrote {len(rows)} rows from {accelerator.num_processes} process(es) to {args.out}")
    accelerator.wait_for_everyone()
    return rows


if __name__ == "__main__":
    main()
