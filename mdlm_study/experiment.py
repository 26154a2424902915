"""What a notebook needs to run one experiment on a model and a task, chosen by parameters alone.

``load_experiment(model="default", task="arithmetic")`` gives the embedded default (a study model
trained by notebook 01, its 3-step test problems and template); with ``checkpoints_dir="models"`` the
released models instead (``mdlm_study.released``: ``default``, ``base``, ``default_seed1``, ..., no training); ``model="GSAI-ML/LLaDA-8B-Instruct",
task="gsm8k", data_path=...`` gives a real model (loaded by :func:`mdlm_study.loader.load_mdlm`),
GSM8K problems from a local jsonl and the paper's template (246 reasoning + 10 answer positions
after ``The answer is \\boxed{``, the paper's template). No code changes between the two.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from mdlm_study.benchmark_data import load_gsm8k
from mdlm_study.checkpoints import weights_sha256
from mdlm_study.data import read_problems, read_puzzles
from mdlm_study.evaluate import evaluate_arithmetic, evaluate_gsm8k, evaluate_sudoku
from mdlm_study.loader import load_mdlm
from mdlm_study.parameters import parse_bool
from mdlm_study.recipes import RECIPES, load_study_model
from mdlm_study.released import is_release_dir, released_names, released_path
from mdlm_study.templates import ARITHMETIC_TEMPLATE, GSM8K_TEMPLATE, SUDOKU_TEMPLATE, Template

TASKS = ("arithmetic", "sudoku", "gsm8k")


@dataclass
class Experiment:
    model: object
    tokenizer: object
    problems: list
    template: Template
    evaluate: Callable  # evaluate(problems, config: DecodeConfig | dict | None = None, **settings) -> DataFrame
    task: str
    shift_logits: bool = False

    @functools.cached_property
    def weights_sha256(self) -> str:
        """SHA-256 of the model's weights (:func:`mdlm_study.checkpoints.weights_sha256`), for records."""
        return weights_sha256(self.model)


def load_experiment(model: str, task: str, *, checkpoints_dir: str | Path, data_dir: str | Path, n_problems: int, device: str = "cpu",
                    data_path: str | None = None, trust_remote_code: bool = False, batch_size: int = 256) -> Experiment:
    trust_remote_code = parse_bool(trust_remote_code, name="trust_remote_code")  # also for study models, which ignore it
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if is_release_dir(checkpoints_dir) and "/" not in model and not Path(model).exists():
        released_path(model, checkpoints_dir)  # a study model name: unknown ones are refused listing the released ones
    if model in RECIPES or model == "base" or (is_release_dir(checkpoints_dir) and model in released_names(checkpoints_dir)):
        net, tok, _ = load_study_model(model, checkpoints_dir, device=device)
        shift = False
    else:
        loaded = load_mdlm(model, device=device, trust_remote_code=trust_remote_code)
        net, tok, shift = loaded.model, loaded.tokenizer, loaded.shift_logits
    if task == "arithmetic":
        problems, template, fn = read_problems(Path(data_dir) / "arithmetic_test.jsonl"), ARITHMETIC_TEMPLATE, evaluate_arithmetic
    elif task == "sudoku":
        problems, template, fn = read_puzzles(Path(data_dir) / "sudoku_test.jsonl"), SUDOKU_TEMPLATE, evaluate_sudoku
    else:
        if data_path is None:
            raise ValueError("task='gsm8k' needs data_path= a local GSM8K jsonl (e.g. the test.jsonl of the GSM8K release)")
        problems, template, fn = load_gsm8k(data_path), GSM8K_TEMPLATE, evaluate_gsm8k
    problems = problems[:n_problems]
    evaluate = partial(fn, net, tok, template=template, batch_size=batch_size, shift_logits=shift)
    return Experiment(net, tok, problems, template, lambda probs, config=None, **kw: evaluate(probs, config=config, **kw), task, shift)
