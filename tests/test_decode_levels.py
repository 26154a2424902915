"""The decode entry points, level by level: the table in ``mdlm_study/engine/__init__.py`` and the one in
docs/decisions.md are the same and name functions that exist, and the two text-level functions decode
alike."""

import ast
import importlib
import itertools
import re
from pathlib import Path

import torch

from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import Template
from mdlm_study.experiments.analysis import decode_questions_with_history
from mdlm_study.experiments.evaluate import decode_questions

ROOT = Path(__file__).resolve().parents[1]


HEADER = "| level | function | input → output | called by |"


def _table(text: str) -> list[str]:
    """The table's lines: its header, its rule and one row per level."""
    after = text.split(HEADER, 1)[1].splitlines()[1:]
    return [HEADER, *itertools.takewhile(lambda line: line.startswith("|"), after)]


def test_the_docstring_and_the_docs_hold_one_table():
    docstring = ast.get_docstring(ast.parse((ROOT / "mdlm_study" / "engine" / "__init__.py").read_text()))
    docs = (ROOT / "docs" / "decisions.md").read_text()
    assert _table(docstring) == _table(docs) and len(_table(docs)) == 10  # header, rule, 8 levels


def test_every_function_the_table_names_exists():
    rows = _table((ROOT / "docs" / "decisions.md").read_text())[2:]
    named = [re.findall(r"`([\w.]+)`", row.split(" | ")[1]) for row in rows]
    for first, *others in named:
        module, name = f"mdlm_study.{first}".rsplit(".", 1)
        module = importlib.import_module(module)
        for function in (name, *others):
            assert callable(getattr(module, function)), f"{module.__name__}.{function}"


def test_the_two_text_levels_decode_alike(tiny_model, tokenizer, problems):
    template = Template(reasoning_len=6, answer_len=3, delimiter="\n####", answer_prefix=" ")
    questions = [p.question for p in problems[:3]]
    config = DecodeConfig("entropy", tokens_per_step=2)
    canvas, plain = decode_questions(tiny_model, tokenizer, questions, template, config, batch_size=2)
    again, kept = decode_questions_with_history(tiny_model, tokenizer, questions, template, config, batch_size=2)
    assert torch.equal(canvas.input_ids, again.input_ids) and torch.equal(plain.sequences, kept.sequences)
    assert plain.history is None and len(kept.history) == int(kept.nfe.max())
