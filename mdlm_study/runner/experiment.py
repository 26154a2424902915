"""What a notebook needs to run one experiment on a model and a task, chosen by parameters alone.

Every model is loaded by :func:`mdlm_study.models.loader.load_model` (its docstring: what a name resolves
to). ``load_experiment(model="default", task="arithmetic")`` gives the embedded default (a study model
trained by notebook 01, its 3-step test problems and template); with ``checkpoints_dir="models"`` the
released models instead (``mdlm_study.models.released``: ``default``, ``base``, ``default_seed1``, ..., no
training); ``model="GSAI-ML/LLaDA-8B-Instruct",
task="gsm8k", data_path=...`` gives a real model (any model that is not a study model: a hub name or a
local folder), GSM8K problems from a local jsonl and the paper's setting (:mod:`mdlm_study.models.paper_setting`: 246
reasoning + 10 answer positions after ``The answer is \\boxed{``, closed by ``}``, blocks of 32, the chat
template of Instruct models). No code changes between the two.

A real model goes everywhere as ONE object: ``exp.model`` is its denoiser adapter
(:meth:`~mdlm_study.models.loader.LoadedMDLM.denoiser`: Dream's 4-D attention mask and position ids, LLaDA's
unmasked calls), aligned (Dream's shifted logits are moved back in place, so every caller reads
position i at output i and ``shift_logits`` is False), and, for a model that ignores attention masks
(``honours_padding is False``), run one length bucket at a time
(:class:`~mdlm_study.engine.batching.BucketedDenoiser`), so a padded row gets what it gets alone. Its special
ids are the loader's (``exp.special``; LLaDA's tokenizer declares no mask token of its own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mdlm_study.core.parameters import parse_bool
from mdlm_study.core.special_tokens import SpecialTokens
from mdlm_study.engine.batching import BucketedDenoiser
from mdlm_study.engine.templates import Template, prompt_ids
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.models import LoadedMDLM, load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.loader import STUDY_KINDS
from mdlm_study.models.paper_setting import (
    A100_SUSTAINED_FLOPS,
    Setting,
    estimate_cost,
    notebook_fixed_nfe,
    notebook_nfe_per_problem,
    problems_within_budget,
    seconds_per_nfe,
    setting_for,
)
from mdlm_study.tasks.benchmark_data import load_gsm8k
from mdlm_study.tasks.data import read_records, read_split
from mdlm_study.tasks.task import Task, get_task


@dataclass
class Experiment:
    model: object  # a denoiser: model(input_ids, attention_mask=...) -> .logits, aligned with input_ids
    tokenizer: object
    problems: list
    template: Template
    evaluate: Callable  # evaluate(problems, config: DecodeConfig | dict | None = None, **settings) -> DataFrame
    task: str
    shift_logits: bool = False  # always False here: exp.model returns aligned logits
    special: SpecialTokens | None = None  # the model's ids (the loader's for real models)
    setting: Setting | None = None  # the defaults a notebook's None parameters resolve to
    loaded: LoadedMDLM | None = None  # the real model's loader record (None for study models)
    cost: dict = field(default_factory=dict)  # the budget estimate, when limit_to_budget ran
    task_object: Task | None = None  # the Task itself (``task`` is its name)
    evaluate_model: Callable | None = None  # evaluate_model(model, problems, config=None, **settings): exp.evaluate for another model

    @functools.cached_property
    def weights_sha256(self) -> str:
        """SHA-256 of the model's weights (:func:`mdlm_study.models.checkpoints.weights_sha256`), for records."""
        return self.loaded.weights_sha256() if self.loaded is not None else weights_sha256(self.model)

    def evaluate_loaded(self, loaded: LoadedMDLM, problems, config=None, **settings):
        """Evaluate another load of the model (e.g. with a LoRA adapter, :mod:`mdlm_study.training.lora`) exactly
        as :attr:`evaluate` evaluates ``exp.model``: same template, batching and denoiser adapter."""
        if self.evaluate_model is None:
            raise ValueError("this experiment has no evaluate_model (it was not built by load_experiment)")
        return self.evaluate_model(real_denoiser(loaded), problems, config=config, **settings)

    def resolve(self, name: str, value):
        """A notebook parameter's value, or the model's paper default when it is ``None`` (:class:`Setting`)."""
        return self.setting.resolve(name, value)

    def limit_to_budget(self, gpu_hours: float | None, notebook: str, params: Mapping, *,
                        flops_per_second: float = A100_SUSTAINED_FLOPS) -> dict:
        """Keep only as many problems as fit ``gpu_hours`` (``None``: all) for ``notebook`` run with
        ``params`` (:func:`~mdlm_study.models.paper_setting.notebook_nfe_per_problem`, an upper bound), one
        forward pass costing :func:`~mdlm_study.models.paper_setting.seconds_per_nfe` at the canvas's mean
        width and the model's parameter count. Returns (and keeps in ``exp.cost``) the estimate of
        the run that remains."""
        gen_length = self.template.reasoning_len + self.template.answer_len
        nfe = notebook_nfe_per_problem(notebook, params, gen_length=gen_length)
        fixed = notebook_fixed_nfe(notebook, params, gen_length=gen_length)
        width = self.mean_canvas_tokens()
        n_params = sum(p.numel() for p in self.model.parameters())
        per_nfe = seconds_per_nfe(width, parameters=n_params, flops_per_second=flops_per_second)
        if gpu_hours is not None:
            left = gpu_hours - estimate_cost(1, fixed, per_nfe)["gpu_hours"]
            if left <= 0:
                raise ValueError(f"gpu_hours={gpu_hours} does not cover {notebook}'s fixed cost of {fixed} forward passes "
                                 f"({estimate_cost(1, fixed, per_nfe)['gpu_hours']:.3g} GPU-hours)")
            self.problems = self.problems[:problems_within_budget(left, nfe, per_nfe, n_available=len(self.problems))]
        self.cost = {**estimate_cost(len(self.problems), nfe, per_nfe), "canvas_tokens": width, "parameters": n_params,
                     "gpu_hours_budget": gpu_hours}
        if fixed:
            total = estimate_cost(1, nfe * len(self.problems) + fixed, per_nfe)
            self.cost.update(fixed_nfe=fixed, nfe=total["nfe"], gpu_seconds=total["gpu_seconds"], gpu_hours=total["gpu_hours"],
                             wall_hours=total["wall_hours"])
        return self.cost

    def mean_canvas_tokens(self) -> float:
        """Mean canvas width over the problems: prompt + reasoning + delimiter + answer + suffix tokens."""
        t = self.template
        fixed = t.reasoning_len + t.answer_len + sum(len(self.tokenizer(s, add_special_tokens=False)["input_ids"])
                                                      for s in (t.delimiter, t.suffix) if s)
        prompts = [len(prompt_ids(self.tokenizer, p.question, t, self.special)) for p in self.problems]
        return fixed + sum(prompts) / max(1, len(prompts))


def real_denoiser(loaded: LoadedMDLM):
    """The one callable every path uses for a real model (module docstring)."""
    denoiser = loaded.denoiser(aligned=True)
    return BucketedDenoiser(denoiser) if loaded.honours_padding is False else denoiser


def _check_special(loaded: LoadedMDLM) -> None:
    """The canvas builder reads the tokenizer's ids; they must be the loader's (the loader declares
    LLaDA's mask token on its tokenizer), or every canvas would carry wrong special tokens."""
    try:
        from_tokenizer = SpecialTokens.from_tokenizer(loaded.tokenizer)
    except ValueError:
        from_tokenizer = None
    if from_tokenizer != loaded.special:
        raise ValueError(f"the tokenizer's special ids {from_tokenizer} differ from the model's {loaded.special}")


def experiment_problems(task: Task, data_dir: str | Path, data_path: str | None) -> list:
    """The problems a notebook evaluates: ``data_path`` when given (a file of the task's records; GSM8K
    in its release format), else the task's test split under ``data_dir``."""
    if task.name == "gsm8k":
        if not data_path:
            raise ValueError("task='gsm8k' needs data_path= a local GSM8K jsonl (e.g. the test.jsonl of the GSM8K release)")
        return load_gsm8k(data_path)
    if data_path:
        return read_records(data_path, task.from_row)
    return read_split(task, data_dir, "test")


def load_experiment(model: str, task: str, *, checkpoints_dir: str | Path, data_dir: str | Path, n_problems: int, device: str = "cpu",
                    data_path: str | None = None, trust_remote_code: bool = False, batch_size: int = 256, dtype=None,
                    gen_length: int | None = None, answer_len: int | None = None) -> Experiment:
    """The model, problems, template and evaluate function of one notebook run. ``model`` is anything
    :func:`~mdlm_study.models.loader.load_model` loads (``checkpoints_dir``: where a study model's name is
    looked up); a study model (a released or trained one, by name or as a released folder) runs as the
    study runs it, any other as a real model (module docstring).

    ``gen_length`` / ``answer_len``: masked positions of the canvas and of its answer slot (``None``:
    the task's, L = 256 and A = 10 on GSM8K); ``dtype`` (real models): e.g. ``"bfloat16"`` (``None``: the
    checkpoint's)."""
    trust_remote_code = parse_bool(trust_remote_code, name="trust_remote_code")  # also for study models, which ignore it
    task = get_task(task)
    loaded = load_model(model, checkpoints_dir=checkpoints_dir, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    if loaded.kind in STUDY_KINDS:  # the study's own model: called directly, the study's setting (exp.loaded stays None)
        net, tok, special, max_length = loaded.model, loaded.tokenizer, SpecialTokens.from_tokenizer(loaded.tokenizer), None
        loaded = None
    else:
        _check_special(loaded)
        net, tok, special, max_length = real_denoiser(loaded), loaded.tokenizer, loaded.special, loaded.max_length
    problems, base, evaluate_fn = experiment_problems(task, data_dir, data_path), task.template, partial(evaluate_task, task)
    setting = setting_for(base, real_model=loaded is not None, chat=bool(loaded and loaded.chat), gsm8k=task.name == "gsm8k",
                          gen_length=gen_length, answer_len=answer_len)
    problems = problems[:n_problems]
    evaluate_model = partial(_evaluate_with, evaluate_fn, tokenizer=tok, template=setting.template, batch_size=batch_size, max_length=max_length)
    return Experiment(net, tok, problems, setting.template, partial(evaluate_model, net), task.name, False, special, setting, loaded,
                      task_object=task, evaluate_model=evaluate_model)


def _evaluate_with(fn: Callable, model, problems, config=None, *, tokenizer, template: Template, batch_size: int, max_length,
                   **settings):
    """``fn(model, tokenizer, problems, template, config, ...)``: the task's evaluation of one model."""
    return fn(model, tokenizer, problems, template=template, config=config, batch_size=batch_size, max_length=max_length, **settings)
