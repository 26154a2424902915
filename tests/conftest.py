"""Shared fixtures: a tokenizer and a tiny model built in seconds, never downloaded."""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
from mdlm_study.tasks.sudoku import generate_puzzles

torch.set_num_threads(1)


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
