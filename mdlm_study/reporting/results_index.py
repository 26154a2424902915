"""The index of ``benchmarks/results/``: every result file, the model it measures, what it measures
and the command that wrote it, generated from the files themselves.

    python -m mdlm_study.reporting.results_index          # rewrites benchmarks/results/INDEX.md
    python -m mdlm_study.reporting.results_index --check  # exits 1 when INDEX.md is out of date

Results live in one folder per trained model (``benchmarks/results/<model>/``, the names of the
released models in ``models/``), ``machine/`` for measurements of the hardware and the engine that no
one model owns, ``seeds/`` for claims across the training seeds, and ``history/`` for runs of earlier
recipes that ``docs/recipe_history.md`` cites. A file written by
:func:`mdlm_study.core.records.write_record` carries its provenance (commit, command, date) and its
model's weights SHA-256; older files say so in the index.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from mdlm_study.core.records import ROOT, relative

RESULTS = ROOT / "benchmarks" / "results"
INDEX = RESULTS / "INDEX.md"

MEASURES = {  # file-name prefix -> what the file measures (first match wins)
    "decoding": "accuracy and mean NFE of every decoding rule, paired with one-token entropy decoding",
    "faithfulness": "does the answer follow a corrupted written conclusion (counterfactual traces)",
    "answer_source": "where the answer comes from: the reasoning slot vs the answer slot read alone",
    "model": "the study model's headline numbers (accuracy, trace and step accuracy, training time)",
    "budget_curve": "accuracy against training steps, and fixed-k loss along the way",
    "chains_recipe_trials": "the chains recipe's trainings and variants: evaluation curves, loss, the code each ran",
    "variant": "a recipe variant's training curve, blank-slot accuracy and fixed-k loss",
    "seeds": "every decoding claim per training seed, pooled over seeds",
    "memory": "peak memory of decoding per batch row, in logits copies",
    "reproduce_model": "a retrained model's targets (exact answers, answer-only twin, Sudoku) and the machine it trained on (make reproduce)",
    "reproduce_regime": "the retrained deep-regime model's regime diagnostics on the chains test split (make reproduce)",
    "reproduce": "retrained weights compared bit for bit with the released ones",
    "reproduce_zen3/weights": "retrained weights compared bit for bit with the released ones",
    "lanes_zen3/run_": "the default recipe's training record from make reproduce's lanes trial (one thread beside another run; bit-identical to the release)",
    "run_": "a recipe trial's training record, as the trainer wrote it (training.json): model and training configs, warm start, greedy curve, loss, machine, weights SHA-256",
    "training": "training throughput of this machine (tokens/s by thread count and batch)",
    "lanes": "training layouts: the study's recipes alone with every thread against side by side with one thread each (make reproduce's lanes); same weights",
    "sampling": "decoding throughput of the engine by rule and batch; the cost of the finite-logit check",
    "statistics": "time of a decoding step's per-position statistics (entropy, margin, token) by vocabulary size, greedy and sampled",
    "determinism": "run-to-run bit identity of training",
    "recipe_search": "the search over training recipes that chose the default",
    "drill_probe": "the effect of drill examples and learning rates on a short run",
    "frontier_templates": "which candidate prompt templates a model can take (the frontier's second template)",
    "arithmetic_": "one frontier run: every decoder on the training seeds and one template (accuracy, NFE, tokens per forward, AUP)",
    "bad_input": "bad inputs given to every public entry point: clear errors, silent wrong answers, crashes",
    "seeds_traces/seed": "one training seed: Table D, filtering and step scoring on the same held-out problems",
    "seeds_traces/claims": "the trace claims per training seed and pooled with the seed as the unit",
    "seeds_finetune/seed": "one training seed's base snapshot fine-tuned on gold, posterior and both traces (Table E) on the same held-out problems",
    "seeds_finetune/claims": "Table E's comparisons per training seed and pooled with the seed as the unit",
    "seeds_sudoku/seed": "one Sudoku training seed: every Sudoku decoding on the same held-out puzzles",
    "seeds_sudoku/claims": "the Sudoku claims per training seed and pooled with the seed as the unit",
    "seeds_chains/seed": "one chains training seed (the deep regime): its regime diagnostics by depth and every decoding claim's decodings",
    "seeds_chains/claims": "the decoding claims in the deep regime per chains seed, pooled with the seed as the unit; each seed's regime bounds",
    "seeds_chains/errors": "each chains seed's wrongly answered deep test chains by their first wrong result (an arithmetic slip, a miscopied step, ...)",
    "errors": "a recipe trial's wrongly answered deep test chains by their first wrong result, beside its accuracy on them",
    "seeds_chains/answer_only": "the deep regime's answer-only twin on the chains test split",
    "seeds_chains_6k/seed": "one chains training seed of the 6,000-step recipe (before 9,000 steps were adopted), on every test chain",
    "seeds_chains_6k/claims": "the deep regime's claims on the 6,000-step recipe's seeds (before 9,000 steps were adopted)",
    "seeds_chains_6k/answer_only": "the 6,000-step answer-only twin on every chains test chain",
    "seed": "one training seed: every decoding rule on the same held-out problems",
    "claims": "every decoding claim per training seed and pooled with the seed as the unit",
    "regime": "the regime diagnostics: blank-slot accuracy, when the answer settles, exit savings",
    "early_stopping": "a run's kept weights decoded on the posterior split and the set early stopping chooses (training.early_stopping)",
    "averaging": "the uniform mean of a run's last kept weights: the steps and SHA-256 it was made of (training.averaging)",
}


def _describe(path: Path) -> str:
    stem, placed = path.stem, f"{path.parent.name}/{path.stem}"  # a prefix may name the folder too ("seeds_traces/seed")
    return next((text for prefix, text in MEASURES.items() if (placed if "/" in prefix else stem).startswith(prefix)),
                "(not described: add its prefix to MEASURES)")


def _find(value, key: str):
    """The first value of ``key`` anywhere in a JSON value (depth first)."""
    if isinstance(value, dict):
        if key in value and isinstance(value[key], str):
            return value[key]
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        found = _find(child, key)
        if found is not None:
            return found
    return None


def _trainer_command(data) -> str | None:
    """For a training record (the trainer's ``training.json``, which holds its configs rather than a command
    line): the command that writes one; None for anything else."""
    if isinstance(data, dict) and {"recipe", "train", "history", "weights_sha256"} <= data.keys():
        return f"python -m mdlm_study.training.recipes {data['recipe']} (a training record: its configs are in the file)"
    return None


def entry(path: Path, root: Path = RESULTS) -> dict:
    """One index row for a result file under ``root``."""
    data = json.loads(path.read_text())
    provenance = data.get("provenance", {}) if isinstance(data, dict) else {}
    sha = _find(data, "weights_sha256")
    return {
        "file": str(path.relative_to(root)),
        "model": path.parent.name if path.parent != root else "(none)",
        "weights": sha[:12] if sha else "not recorded",
        "measures": _describe(path),
        "command": provenance.get("command") or _trainer_command(data) or "not recorded (written before records carried provenance)",
        "commit": (provenance.get("commit") or "")[:10] + (" (dirty)" if provenance.get("dirty") else ""),
    }


def render(results: Path = RESULTS) -> str:
    """INDEX.md's text for the result files under ``results``."""
    files = sorted(p for p in results.rglob("*.json"))
    lines = ["# Result files", "", "Generated by `python -m mdlm_study.reporting.results_index` from the files themselves; do not edit.", "",
             "| file | model | weights SHA-256 | what it measures | command | commit |", "|---|---|---|---|---|---|"]
    for path in files:
        row = entry(path, results)
        cells = [f"`{row['file']}`", row["model"], f"`{row['weights']}`" if row["weights"] != "not recorded" else row["weights"],
                 row["measures"], f"`{row['command']}`" if row["command"].startswith(("python", "make", "bench")) else row["command"],
                 row["commit"]]
        lines.append("| " + " | ".join(re.sub(r"\|", "\\|", c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if INDEX.md differs from what would be written")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    text, index = render(args.results), args.results / INDEX.name
    if args.check:
        current = index.read_text() if index.exists() else ""
        if current != text:
            print(f"{relative(index)} is out of date: run python -m mdlm_study.reporting.results_index", file=sys.stderr)
            return 1
        return 0
    index.write_text(text)
    print(f"wrote {relative(index)} ({text.count(chr(10)) - 6} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
