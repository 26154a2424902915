"""docs/adapting.md runs as written. Adding a rule: the rule file it shows, loaded by notebook 03's
smoke run through the command it shows, is swept (the table's rows), recorded (the figure's and
the table's sidecars) and counted in the GPU-hour estimate, with nothing else edited."""

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from rule_registry import scratch_rules

from mdlm_study.models.paper_setting import notebook_nfe_per_problem
from mdlm_study.runner import main as runner

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adapting.md"
N_PROBLEMS = 8


def _section(title: str) -> str:
    return DOC.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(title: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(title), flags=re.S)


@pytest.fixture(scope="module")
def rule_run(tmp_path_factory):
    """The rule file written where the doc says, notebook 03's smoke run with the doc's command and fewer problems
    (the count is all the test changes: what it checks is that the rule is swept, recorded and costed)."""
    folder = tmp_path_factory.mktemp("adapting")
    (rule_file,), (command,) = _blocks("Adding a decoding rule", "python"), _blocks("Adding a decoding rule", "bash")
    (folder / "my_rules.py").write_text(rule_file)
    argv = shlex.split(command.strip())
    assert argv[:3] == ["python", "-m", "mdlm_study.runner"]
    argv = [arg.replace("my_rules.py", str(folder / "my_rules.py")) for arg in argv[3:]]
    runner([*argv, "-p", f"n_problems={N_PROBLEMS}", "--out", str(folder / "out")])
    return folder, rule_file


pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("adapting_run")]  # one worker runs the module: notebook 03 once


def test_the_rule_is_in_notebook_03s_table(rule_run):
    folder, _ = rule_run
    table = pd.read_csv(folder / "out" / "figures" / "tables" / "03_parallel_decoding.csv")
    rows = table[table["sampler"] == "near_lowest"]
    assert list(rows["label"]) == ["near_lowest δ=0.05", "near_lowest δ=0.2"]
    assert list(rows["near_delta"]) == [0.05, 0.2] and rows["accuracy"].between(0, 1).all() and (rows["mean_nfe"] > 0).all()
    assert {"entropy", "med", "eb", "fast_threshold"} <= set(table["sampler"])  # the study's rules are still there


def test_the_figure_sidecar_and_the_cost_estimate_count_it(rule_run):
    folder, rule_file = rule_run
    figure = json.loads((folder / "out" / "figures" / "03_accuracy_vs_nfe.json").read_text())
    params = figure["params"]
    assert params["sweeps"]["near_delta"] == [0.05, 0.2] and params["rule_modules"][0].endswith("my_rules.py")
    table = json.loads((folder / "out" / "figures" / "tables" / "03_parallel_decoding.json").read_text())
    assert table["params"]["sweeps"] == params["sweeps"] and table["params"]["n_problems"] == N_PROBLEMS
    cost, length = params["cost"], params["gen_length"]
    without = {key: value for key, value in params["sweeps"].items() if key != "near_delta"}
    assert cost["nfe_per_problem"] == notebook_nfe_per_problem("03", {**params, "sweeps": without}, gen_length=length) + 2 * length
    with scratch_rules():
        exec(compile(rule_file, "docs/adapting.md: rule", "exec"), {})
        assert cost["nfe_per_problem"] == notebook_nfe_per_problem("03", params, gen_length=length)
