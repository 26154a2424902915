"""Shared fixtures: a tokenizer and a tiny model built in seconds, never downloaded; the longest modules first."""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.tasks.sudoku import generate_puzzles

torch.set_num_threads(1)

# Modules whose tests run notebooks or fresh interpreters for minutes, longest first. They are collected first, so
# pytest-xdist hands them out at the start and the short tests fill both workers at the end, instead of one worker
# running a notebook alone while the other has nothing left.
LONGEST_FIRST = ("test_real_notebooks.py", "test_notebooks.py", "test_adapting.py", "test_kill_resume.py", "test_tasks.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def problems():
    return generate_problems(ArithmeticConfig(), 400, seed=0)


@pytest.fixture(scope="session")
def tokenizer(problems):
    texts = [p.question + "\n" + p.reasoning + "\n#### " + p.answer for p in problems]
    texts += [s.question + "\n" + s.answer for s in generate_puzzles(20, seed=0)]
    return build_tokenizer(texts)


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    return build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=0).eval()
