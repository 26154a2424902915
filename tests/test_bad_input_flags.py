"""Bad boolean flags, as data (tests/bad_input.py): every flag is read by ``parse_bool``, so a
``"false"``, ``"no"`` or ``0`` is False everywhere (and a remote-code model is then refused), and
anything that is not a boolean is a ``ValueError`` naming the flag. Stand-in checkpoints only."""

import functools
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bad_input import Case, check  # noqa: E402
from stand_ins import save_llada  # noqa: E402

from mdlm_study.core.parameters import parse_bool, parse_flags  # noqa: E402
from mdlm_study.models import load_model  # noqa: E402
from mdlm_study.runner import main as runner  # noqa: E402

REFUSED = r"run code shipped with the checkpoint.*trust_remote_code=True"  # the loader's refusal


@functools.cache
def llada() -> str:
    """A LLaDA stand-in checkpoint (remote code), written once per session."""
    return str(save_llada(Path(tempfile.mkdtemp(prefix="flags_")) / "llada"))


@functools.cache
def loaded_llada():
    return load_model(llada(), trust_remote_code=True)


def harness(**kwargs):
    from mdlm_study.integrations.harness import MDLMHarnessLM

    return MDLMHarnessLM(**kwargs)


def harness_from_model_args(args: str):
    """The harness as ``lm_eval --model_args`` builds it (lm-eval parses the string)."""
    from mdlm_study.integrations.harness import MDLMHarnessLM

    return MDLMHarnessLM.create_from_arg_string(args)


def distributed(*extra: str):
    from mdlm_study.integrations.distributed import main

    out = Path(tempfile.mkdtemp(prefix="flags_")) / "rows.jsonl"
    return main(["--checkpoint", llada(), "--trust-remote-code", "--n-problems", "1", "--cpu", "--out", str(out), *extra])


def experiment(trust_remote_code):
    from mdlm_study.runner.experiment import load_experiment

    return load_experiment("default", "arithmetic", checkpoints_dir="/nonexistent", data_dir="/nonexistent", n_problems=1,
                           trust_remote_code=trust_remote_code)


CASES = [
    Case("flags", "maybe", lambda: parse_bool("maybe", name="smoke"), match=r"smoke must be a boolean .*'maybe'"),
    Case("flags", "empty string", lambda: parse_bool("", name="trust_remote_code"), match=r"trust_remote_code must be a boolean .*''"),
    Case("flags", "two", lambda: parse_bool(2, name="propagate"), match=r"propagate must be a boolean .*got 2"),
    Case("flags", "None", lambda: parse_bool(None, name="smoke"), match=r"smoke must be a boolean .*None"),
    Case("flags", "float one", lambda: parse_bool(1.0, name="smoke"), match=r"smoke .*got 1\.0"),
    Case("flags", "typo tru", lambda: parse_bool("tru", name="answer_last"), match=r"answer_last .*'tru'"),
    Case("flags", "loader trust_remote_code false string", lambda: load_model(llada(), trust_remote_code="false"), match=REFUSED),
    Case("flags", "loader trust_remote_code no", lambda: load_model(llada(), trust_remote_code="no"), match=REFUSED),
    Case("flags", "loader trust_remote_code 0", lambda: load_model(llada(), trust_remote_code=0), match=REFUSED),
    Case("flags", "loader trust_remote_code maybe", lambda: load_model(llada(), trust_remote_code="maybe"),
         match=r"trust_remote_code must be a boolean .*'maybe'"),
    Case("flags", "harness trust_remote_code no", lambda: harness(pretrained=llada(), trust_remote_code="no"), match=REFUSED),
    Case("flags", "harness model_args trust_remote_code=no",
         lambda: harness_from_model_args(f"pretrained={llada()},trust_remote_code=no"), match=REFUSED),
    Case("flags", "harness model_args trust_remote_code=2",
         lambda: harness_from_model_args(f"pretrained={llada()},trust_remote_code=2"), match=r"trust_remote_code .*got 2"),
    Case("flags", "harness model_args answer_last=maybe",
         lambda: harness_from_model_args(f"pretrained={llada()},trust_remote_code=yes,answer_last=maybe"),
         match=r"answer_last must be a boolean .*'maybe'"),
    Case("flags", "harness answer_last 2", lambda: harness(loaded=loaded_llada(), answer_last=2), match=r"answer_last .*got 2"),
    Case("flags", "distributed --answer-last maybe", lambda: distributed("--answer-last", "maybe"),
         match=r"--answer-last must be true or false, got 'maybe'"),
    Case("flags", "rule flags return_history=sometimes", lambda: parse_flags({"return_history": "sometimes"}, ["return_history"]),
         match=r"return_history .*'sometimes'"),
    Case("flags", "experiment trust_remote_code maybe", lambda: experiment("maybe"), match=r"trust_remote_code .*'maybe'"),
    Case("flags", "runner trust_remote_code=maybe", lambda: runner(["--smoke", "--check", "-p", "trust_remote_code=maybe"]),
         match=r"'trust_remote_code' must be a boolean .*'maybe'"),
    Case("flags", "runner smoke=2", lambda: runner(["--smoke", "--check", "-p", "smoke=2"]), match=r"'smoke' must be a boolean .*got 2"),
    Case("flags", "runner propagate=perhaps", lambda: runner(["--smoke", "--check", "--only", "06", "-p", "propagate=perhaps"]),
         match=r"06_step_scoring.*'propagate' .*'perhaps'"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_flag(case):
    check(case)


def test_every_spelling_of_true_and_false_means_the_same_everywhere():
    """The same strings that are refused above for a remote-code model load it when they say yes."""
    assert load_model(llada(), trust_remote_code="yes").family == "llada"
    lm = harness_from_model_args(f"pretrained={llada()},trust_remote_code=1,answer_last=no")
    assert lm.config.answer_last is False
    assert harness(loaded=loaded_llada(), answer_last="TRUE").config.answer_last is True
