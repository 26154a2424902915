"""What notebooks 05 (posterior traces, fine-tuning) and 06 (step scoring) need, for a model and a task
chosen by parameters alone, as :func:`mdlm_study.runner.experiment.load_experiment` gives notebooks 02-04.

- a study task with exact step labels and a posterior split (:func:`step_tasks`: ``arithmetic``,
  ``chains``): a study model, the task's posterior problem set, exact step labels
  (:func:`~mdlm_study.tasks.arithmetic.grade_trace`, ``corrupt_trace``) and full fine-tuning of the
  base snapshot (:func:`~mdlm_study.training.finetune.run_finetune_experiment`; the ``base`` model is
  the arithmetic task's, so fine-tuning runs on ``arithmetic`` only).
- ``task="gsm8k"``: any model :func:`~mdlm_study.runner.experiment.load_experiment` loads (LLaDA-8B,
  Dream-7B: the paper's setting, budget mode), GSM8K problems from ``data_path`` as
  :class:`~mdlm_study.tasks.gsm8k.GSM8KItem`\\ s, traces checked step by step by their equations and
  written conclusion (:func:`~mdlm_study.tasks.gsm8k.grade_gsm8k_trace`), step scoring on gold
  solutions corrupted at one calculator annotation (:data:`~mdlm_study.experiments.scoring.GSM8K_LABELS`), and
  fine-tuning of the model itself through LoRA
  (:func:`~mdlm_study.training.lora.run_lora_finetune_experiment`) on problems of ``finetune_data_path``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from mdlm_study.core.records import problems_sha256
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import Template
from mdlm_study.experiments.evaluate import evaluate_task
from mdlm_study.experiments.posterior import sample_posterior
from mdlm_study.experiments.scoring import ARITHMETIC_LABELS, GSM8K_LABELS, StepLabels, evaluate_step_scoring
from mdlm_study.models import load_model
from mdlm_study.models.loader import STUDY_KINDS, study_model_dir
from mdlm_study.models.paper_setting import setting_for
from mdlm_study.runner.experiment import Experiment, load_experiment
from mdlm_study.tasks.benchmark_data import load_gsm8k
from mdlm_study.tasks.data import read_split
from mdlm_study.tasks.gsm8k import grade_gsm8k_trace, gsm8k_item
from mdlm_study.tasks.task import get_task, task_names
from mdlm_study.training.finetune import run_finetune_experiment
from mdlm_study.training.lora import run_lora_finetune_experiment
from mdlm_study.training.train import TrainConfig

FINETUNE_TASK = "arithmetic"  # the task of the released base snapshot that full fine-tuning starts from


def step_tasks() -> tuple[str, ...]:
    """The tasks notebooks 05 and 06 run: every registered study task whose reasoning steps are checked
    exactly and which has a posterior split, and ``gsm8k`` (real models)."""
    study = (get_task(name) for name in task_names())
    return tuple(sorted(t.name for t in study if t.step_labels and "posterior" in t.splits)) + ("gsm8k",)


@dataclass
class TraceStudy:
    model: object  # a denoiser with aligned logits
    tokenizer: object
    problems: list  # arithmetic Problems or GSM8KItems: question, answer (final), uid, reasoning, steps
    template: Template
    task: str
    labels: StepLabels
    grader: Callable | None  # grade(problem, steps) for sample_posterior (None: the arithmetic task's exact grade)
    provenance: dict
    batch_size: int
    checkpoints_dir: str
    device: str
    exp: Experiment | None = None  # the GSM8K path's experiment (real model, setting, budget)

    def free_decoding(self, config: DecodeConfig) -> pd.DataFrame:
        """One row per problem of the model decoding freely (``correct``: the task's answer grader)."""
        if self.exp is None:
            return evaluate_task(self.task, self.model, self.tokenizer, self.problems, self.template, config, batch_size=self.batch_size)
        return self.exp.evaluate(self.problems, config)

    def posterior(self, problems: Sequence, config: DecodeConfig, *, n_samples: int, base: tuple | None = None) -> pd.DataFrame:
        """:func:`~mdlm_study.experiments.posterior.sample_posterior` of the study's model, or of ``base`` = (model,
        tokenizer), graded by the task."""
        model, tokenizer = (self.model, self.tokenizer) if base is None else base
        return sample_posterior(model, tokenizer, problems, self.template, config, n_samples=n_samples, batch_size=self.batch_size,
                                grader=self.grader)

    def finetune_pool(self, n_finetune: int, *, data_dir: str | Path, finetune_data_path: str | None = None) -> list:
        """The fine-tuning problems: the last ``n_finetune`` training problems of the study task, or the
        first ``n_finetune`` of the GSM8K file ``finetune_data_path`` (its uids prefixed ``train-``)."""
        if self.exp is None:
            return read_split(self.task, data_dir, "train")[-n_finetune:]
        if not finetune_data_path:
            raise ValueError("task='gsm8k' fine-tunes on finetune_data_path= a local GSM8K jsonl (e.g. the train.jsonl of the GSM8K release)")
        return [replace(gsm8k_item(p), uid=f"train-{p.uid}") for p in load_gsm8k(finetune_data_path)[:n_finetune]]

    def finetune_base(self) -> tuple:
        """(model, tokenizer) the fine-tuning arms start from (its posterior traces are the posterior
        arm): the study's below-ceiling base snapshot, or the real model itself."""
        if self.exp is None:
            if self.task != FINETUNE_TASK:
                raise ValueError(f"fine-tuning on task {self.task!r}: the base snapshot it starts from is the {FINETUNE_TASK!r} task's; "
                                 "so Table E's arms run on that task")
            base = load_model("base", checkpoints_dir=self.checkpoints_dir, device=self.device)
            return base.model, base.tokenizer
        return self.model, self.tokenizer

    def finetune(self, train_pool: Sequence, base_posterior: pd.DataFrame, config: TrainConfig, *, seeds: Sequence[int]) -> pd.DataFrame:
        """Table E: one row per (arm, seed) plus the base row (full fine-tuning, or LoRA on a real model)."""
        if self.exp is None:
            return run_finetune_experiment(study_model_dir("base", self.checkpoints_dir), train_pool, self.problems, base_posterior, self.template,
                                           config=config, seeds=seeds, eval_kwargs={"batch_size": self.batch_size})
        if self.exp.loaded is None:
            raise ValueError(f"fine-tuning on {self.task} goes through LoRA and needs a real model (a Hugging Face name or path), got a study model")
        def evaluate(loaded, problems):
            return self.exp.evaluate_loaded(loaded, problems, DecodeConfig("l2r"))
        return run_lora_finetune_experiment(self.exp.loaded, train_pool, self.problems, base_posterior, self.template, config=config,
                                            evaluate=evaluate, grade=grade_gsm8k_trace, seeds=seeds)

    def score_steps(self, **options) -> pd.DataFrame:
        """:func:`~mdlm_study.experiments.scoring.evaluate_step_scoring` with the task's corruption and labels."""
        return evaluate_step_scoring(self.model, self.tokenizer, self.problems, self.template, labels=self.labels,
                                     batch_size=self.batch_size, **options)

    def limit_to_budget(self, gpu_hours: float | None, notebook: str, params: Mapping) -> dict | None:
        """The GSM8K path's budget (:meth:`Experiment.limit_to_budget`, trimming the problems too);
        ``None`` on the arithmetic task, which has no budget mode (a budget there is refused)."""
        if self.exp is None:
            if gpu_hours is not None:
                raise ValueError(f"gpu_hours={gpu_hours}: budget mode is for real models on task='gsm8k'")
            return None
        cost = self.exp.limit_to_budget(gpu_hours, notebook, params)
        self.problems = self.problems[: len(self.exp.problems)]
        self.provenance["data_sha256"] = problems_sha256(self.exp.problems)
        return cost


def load_trace_study(model: str, task: str, *, checkpoints_dir: str, data_dir: str, n_problems: int, device: str = "cpu",
                     data_path: str | None = None, trust_remote_code: bool = False, batch_size: int = 256, dtype=None,
                     gen_length: int | None = None, answer_len: int | None = None) -> TraceStudy:
    """The model, problems, template and step labels of notebook 05 or 06 (module docstring)."""
    allowed = step_tasks()
    if task not in allowed:
        raise ValueError(f"notebooks 05 and 06 grade reasoning step by step: task must be one of {allowed}, got {task!r}")
    if task != "gsm8k":
        loaded = load_model(model, checkpoints_dir=checkpoints_dir, device=device)
        if loaded.kind not in STUDY_KINDS:  # a study model's exact step labels; a real model's traces are checked on gsm8k
            raise ValueError(f"task={task!r} in notebooks 05 and 06 runs a study model (of kind {STUDY_KINDS}), but {model!r} "
                             f"loaded as kind {loaded.kind!r}; run real models with task='gsm8k'")
        problems = read_split(task, data_dir, "posterior")[:n_problems]
        template = setting_for(get_task(task).template, real_model=False, gen_length=gen_length, answer_len=answer_len).template
        provenance = {"model": model, "weights_sha256": loaded.weights_sha256(), "data_sha256": problems_sha256(problems)}
        return TraceStudy(loaded.model, loaded.tokenizer, problems, template, task, ARITHMETIC_LABELS, None, provenance, batch_size,
                          checkpoints_dir, device)
    exp = load_experiment(model, task, checkpoints_dir=checkpoints_dir, data_dir=data_dir, n_problems=n_problems, device=device,
                          data_path=data_path, trust_remote_code=trust_remote_code, batch_size=batch_size, dtype=dtype,
                          gen_length=gen_length, answer_len=answer_len)
    provenance = {"model": model, "weights_sha256": exp.weights_sha256, "data_sha256": problems_sha256(exp.problems)}
    return TraceStudy(exp.model, exp.tokenizer, [gsm8k_item(p) for p in exp.problems], exp.template, task, GSM8K_LABELS,
                      grade_gsm8k_trace, provenance, batch_size, checkpoints_dir, device, exp)
