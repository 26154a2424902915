"""Notebooks 02-04 on GSM8K with the tiny real-architecture LLaDA and Dream checkpoints, run by the
GPU command of docs/real_models.md itself: the command is read from the docs, and only the model, the
data file, the counts (smoke sizes, problems, canvas) and the hardware (device, dtype) are changed."""

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
from fixtures.checkpoints import checkpoint

from mdlm_study.runner import main

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("notebooks")]

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "real_models.md"
GSM8K_SAMPLE = Path(__file__).resolve().parent / "fixtures" / "gsm8k_sample.jsonl"
MARKER = "<!-- the command tests/test_real_notebooks.py runs -->"
# What the test may change in the documented command: the model and data, the counts, the hardware.
CHANGED = {"model", "data_path", "n_problems", "batch_size", "gen_length", "answer_len", "device", "dtype"}
SMOKE = {"n_problems": 2, "batch_size": 2, "gen_length": 4, "answer_len": 2, "device": "cpu", "dtype": "float32"}
TABLES = ("02_any_order_vs_l2r", "03_parallel_decoding", "04_early_exit")


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


def smoke_argv(argv: list[str], model: Path, out: Path) -> list[str]:
    """The documented command with the test's model, data, counts and hardware, run with --smoke."""
    kept, skip = [], False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "-p" and argv[i + 1].split("=", 1)[0] in CHANGED:
            skip = True
            continue
        if word == "--out":
            skip = True
            continue
        kept.append({"--full": "--smoke"}.get(word, word))
    values = {**SMOKE, "model": str(model), "data_path": str(GSM8K_SAMPLE)}
    return kept + ["--out", str(out)] + [x for key, value in values.items() for x in ("-p", f"{key}={value}")]


def test_the_documented_command_changes_only_what_a_gpu_run_sets():
    argv = documented_command()
    params = params_of(argv)
    assert "--full" in argv and argv[argv.index("--only") + 1:argv.index("--only") + 4] == ["02", "03", "04"]
    assert params["model"] == "GSAI-ML/LLaDA-8B-Instruct" and params["task"] == "gsm8k" and params["trust_remote_code"] == "true"
    assert set(params) - CHANGED == {"task", "trust_remote_code"}  # every paper setting comes from the model's defaults


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_notebooks_02_to_04_run_on_the_real_architectures(tmp_path, family):
    model = checkpoint(family, tmp_path / family)
    out = tmp_path / "out"
    argv = smoke_argv(documented_command(), model, out)
    assert set(params_of(argv)) == set(params_of(documented_command())) | set(SMOKE) | {"model", "data_path"}
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


def test_the_readme_shows_the_same_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(MARKER, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert shlex.split(block.replace("\\\n", " "))[3:] == documented_command()
