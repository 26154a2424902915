"""Notebooks 02-06 on GSM8K with the tiny real-architecture LLaDA and Dream checkpoints, run by the
GPU command of docs/real_models.md itself: the command is read from the docs, and only the model, the
data files, the counts (smoke sizes, problems, canvas, samples, fine-tuning steps and seeds) and the
hardware (device, dtype) are changed. The command runs in two parts: 02-04 on a canvas of 4 positions,
05-06 on short GSM8K-format solutions (``fixtures/gsm8k_short.jsonl``) and a canvas that holds them
(step scoring and fine-tuning need whole gold traces in the reasoning slot)."""

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
from fixtures.checkpoints import checkpoint

from mdlm_study.runner import main

pytestmark = pytest.mark.notebooks  # no group: each test runs its own notebooks, so the two may run side by side

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "real_models.md"
GSM8K_SAMPLE = Path(__file__).resolve().parent / "fixtures" / "gsm8k_sample.jsonl"
GSM8K_SHORT = Path(__file__).resolve().parent / "fixtures" / "gsm8k_short.jsonl"  # 2-step solutions of 21-26 tokens
MARKER = "<!-- the command tests/test_real_notebooks.py runs -->"
# What the test may change in the documented command: the model and data, the counts, the hardware.
CHANGED = {"model", "data_path", "finetune_data_path", "n_problems", "batch_size", "gen_length", "answer_len", "n_samples",
           "n_finetune", "finetune_steps", "finetune_batch_size", "seeds", "mc_samples", "device", "dtype"}
SMOKE = {"n_problems": 2, "batch_size": 2, "gen_length": 4, "answer_len": 2, "device": "cpu", "dtype": "float32"}
# 05-06: a canvas holding the short solutions (30 reasoning positions), one sample, one seed, one fine-tuning step
SMOKE_TRACES = {**SMOKE, "gen_length": 32, "n_samples": 1, "n_finetune": 2, "finetune_steps": 1, "finetune_batch_size": 2,
                "seeds": "[0]", "mc_samples": 2}
TABLES = ("02_any_order_vs_l2r", "03_parallel_decoding", "04_early_exit")
PARTS = (("02", "03", "04"), ("05", "06"))


def documented_command() -> list[str]:
    """The runner command in the ```bash block after :data:`MARKER` in docs/real_models.md."""
    text = DOCS.read_text()
    assert MARKER in text, f"{DOCS.name} lost the marked GPU command"
    block = text.split(MARKER, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:3] == ["python", "-m", "mdlm_study.runner"], words[:3]
    return words[3:]


def params_of(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "-p")


def smoke_argv(argv: list[str], model: Path, out: Path, *, only: tuple[str, ...] = PARTS[0], smoke: dict = SMOKE,
               data: Path = GSM8K_SAMPLE) -> list[str]:
    """The documented command for the notebooks ``only``, with the test's model, data, counts and
    hardware, run with --smoke."""
    kept, skip = [], 0
    for i, word in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if word == "-p" and argv[i + 1].split("=", 1)[0] in CHANGED:
            skip = 1
            continue
        if word == "--out":
            skip = 1
            continue
        if word == "--only":
            skip = next((j for j, w in enumerate(argv[i + 1:]) if w.startswith("-")), len(argv) - i - 1)
            kept += ["--only", *only]
            continue
        kept.append({"--full": "--smoke"}.get(word, word))
    values = {**smoke, "model": str(model), "data_path": str(data)}
    if "05" in only:  # the runner refuses an override that no selected notebook declares
        values["finetune_data_path"] = str(data)
    return kept + ["--out", str(out)] + [x for key, value in values.items() for x in ("-p", f"{key}={value}")]


def test_the_documented_command_changes_only_what_a_gpu_run_sets():
    argv = documented_command()
    params = params_of(argv)
    assert "--full" in argv and argv[argv.index("--only") + 1:argv.index("--only") + 6] == ["02", "03", "04", "05", "06"]
    assert params["model"] == "GSAI-ML/LLaDA-8B-Instruct" and params["task"] == "gsm8k" and params["trust_remote_code"] == "true"
    assert set(params) - CHANGED == {"task", "trust_remote_code"}  # every paper setting comes from the model's defaults
    assert params["finetune_data_path"] != params["data_path"]  # fine-tuning problems are not the test problems


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_notebooks_02_to_06_run_on_the_real_architectures(tmp_path, family):
    model = checkpoint(family, tmp_path / family)
    out = tmp_path / "out"
    argv = smoke_argv(documented_command(), model, out)
    assert set(params_of(argv)) == set(params_of(documented_command())) - {"finetune_data_path"} | set(SMOKE) | {"model", "data_path"}
    main(argv)
    for name in TABLES:
        table = pd.read_csv(out / "figures" / "tables" / f"{name}.csv")
        record = json.loads((out / "figures" / "tables" / f"{name}.json").read_text())
        assert len(table) > 0 and (table["mean_nfe"] > 0).all() and table["accuracy"].between(0, 1).all(), name
        assert set(table["task"].dropna()) == {"gsm8k"} if "task" in table else True
        params = record["params"]
        assert params["model"] == str(model) and params["gen_length"] == 4 and params["answer_len"] == 2, name
        assert params["cost"]["n_problems"] == 2 and params["cost"]["nfe"] > 0, name
    three = json.loads((out / "figures" / "tables" / "03_parallel_decoding.json").read_text())["params"]
    assert three["block_size"] == 32 and three["fixed_k_block_size"] == 32  # the paper's blocks by default
    main(smoke_argv(documented_command(), model, out, only=PARTS[1], smoke=SMOKE_TRACES, data=GSM8K_SHORT))
    check_trace_notebooks(out / "figures" / "tables", model)


def check_trace_notebooks(tables: Path, model: Path) -> None:
    """05: free decoding, posterior traces graded by their equations, LoRA arms; 06: gold and corrupted
    solutions scored, each corruption at its known step."""
    runs = pd.read_csv(tables / "05_finetuning.csv")
    # a random model's posterior traces may re-tokenize longer than the slot: that arm is then left out (with a warning)
    assert list(runs["arm"][:2]) == ["base", "gold"] and set(runs["arm"]) <= {"base", "gold", "posterior", "both"}
    assert list(runs["n_train"][:2]) == [0, 2] and runs["accuracy"].between(0, 1).all() and (runs["mean_nfe"] > 0).all()
    gain = pd.read_csv(tables / "05_filtering.csv")
    assert gain["n"].iloc[0] == 2 and gain["fraction_correct"].between(0, 1).all()  # 2 problems x 1 sample, all graded
    for name in ("05_finetuning", "06_step_scoring"):
        params = json.loads((tables / f"{name}.json").read_text())["params"]
        assert params["model"] == str(model) and params["task"] == "gsm8k" and params["gen_length"] == 32, name
        assert params["cost"]["n_problems"] == 2 and params["cost"]["nfe"] > 0, name
    assert json.loads((tables / "05_finetuning.json").read_text())["params"]["cost"]["fixed_nfe"] > 0
    scoring = pd.read_csv(tables / "06_step_scoring.csv")
    assert set(scoring["score"]) >= {"answer_loglik", "answer_entropy", "mc_loglik", "trace_pll"}
    assert (scoring["n_gold"] == 2).all() and (scoring["n_corrupted"] == 2).all() and scoring["auroc"].between(0, 1).all()


def test_the_readme_shows_the_same_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(MARKER, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert shlex.split(block.replace("\\\n", " "))[3:] == documented_command()
