"""The README's "Adding a decoding rule" example runs as written: the rule registers, its test passes,
a bad parameter is refused, and it decodes through the engine; it runs beside a packaged copy of
the same rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from rule_registry import scratch_rules

from mdlm_study.engine import RULES, DecodeConfig, Param, generate, register_rule
from tests.toy_denoisers import ChainDenoiser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Adding a decoding rule", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def readme_rule():
    namespace: dict = {}
    with scratch_rules("near_lowest_entropy"):  # the package may ship a copy of the rule
        blocks = _blocks()
        assert len(blocks) == 2, "the section shows the rule and its test"
        exec(compile(blocks[0], "README: rule", "exec"), namespace)
        exec(compile(blocks[1], "README: test", "exec"), namespace)
        yield namespace


def test_the_readme_rule_registers_validates_and_decodes(readme_rule):
    assert readme_rule["config"] == DecodeConfig("near_lowest_entropy", delta=0.1, exit_gamma=0.1)
    with pytest.raises(ValueError, match="delta must be >= 0, got -1"):
        DecodeConfig("near_lowest_entropy", delta=-1)
    targets = torch.randint(1, 10, (3, 9), generator=torch.Generator().manual_seed(0))
    ids = torch.full((2, 9), 11)
    ids[:, 0] = torch.tensor([0, 1])
    out = generate(ChainDenoiser(targets, 12, 11), ids, mask_id=11, config=DecodeConfig("near_lowest_entropy", delta=0.1))
    assert not (out.sequences == 11).any() and torch.equal(out.sequences[:, 1:], targets[:2, 1:])


def test_the_readme_rule_runs_beside_a_packaged_copy():
    shipped = RULES.get("near_lowest_entropy")
    with scratch_rules("near_lowest_entropy"):
        register_rule("near_lowest_entropy", params=[Param("delta", lambda v: v >= 0, ">= 0", example=0.2)])(lambda *a, **k: None)
        packaged = RULES["near_lowest_entropy"]
        namespace: dict = {}
        with scratch_rules("near_lowest_entropy"):
            exec(compile(_blocks()[0], "README: rule", "exec"), namespace)
            assert RULES["near_lowest_entropy"] is not packaged
        assert RULES["near_lowest_entropy"] is packaged
    assert RULES.get("near_lowest_entropy") is shipped
