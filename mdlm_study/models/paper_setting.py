"""The paper's generation setting for real models, in one place, and what a run of it costs.

Real models (LLaDA-8B, Dream-7B) get the paper's setting (:mod:`mdlm_study.core.paper`) by default:
generation length L = 256 masked positions (246 reasoning + an answer slot of 10), the delimiter `` The answer is \\boxed{`` and a closing
``}`` after the slot (:data:`mdlm_study.engine.templates.GSM8K_TEMPLATE`), semi-autoregressive blocks of 32
(also for fixed k in blocks), the block sweep 1 / 32 / 128 of the any-order comparison (and the whole
canvas), and the tokenizer's chat template for
Instruct models (a tokenizer that ships one). The study's own tiny models keep the study's defaults
(the whole canvas as one block, blocks 1 / 4 / 8 / whole, fixed k in blocks of 8). A notebook parameter left at ``None``
means "this default" (:func:`setting_for`, :meth:`Setting.resolve`).

Cost: :func:`estimate_cost` turns problems x NFE x seconds per NFE into GPU-hours;
:func:`notebook_nfe_per_problem` bounds the NFE a notebook spends per problem from its
parameters (:func:`notebook_fixed_nfe`: what it spends whatever the number of problems), :func:`seconds_per_nfe` estimates one forward pass from the model size, and
:func:`problems_within_budget` caps the number of problems to fit a GPU-hour budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from mdlm_study.core import paper
from mdlm_study.core.checks import int_at_least
from mdlm_study.engine.grids import rule_grids, rule_sweep_size
from mdlm_study.engine.templates import GSM8K_TEMPLATE, Template

PAPER_GEN_LENGTH = paper.GEN_LENGTH  # L: masked positions of the canvas (reasoning + answer slot)
PAPER_ANSWER_LEN = paper.ANSWER_LEN  # A: the answer slot
PAPER_BLOCK_SIZE = paper.BLOCK_SIZE  # semi-autoregressive block for every rule
PAPER_BLOCK_SIZES = (*paper.TABLE_A_BLOCK_SIZES, 0)  # the any-order vs left-to-right sweep: Table A's blocks, and the whole canvas (0)
PAPER_FIXED_K_BLOCK_SIZE = paper.BLOCK_SIZE  # fixed k inside blocks (Table B)
STUDY_BLOCK_SIZE = 0  # the study's tiny models: the whole canvas (0 = no blocks)
STUDY_BLOCK_SIZES = (1, 4, 8, 0)
STUDY_FIXED_K_BLOCK_SIZE = 8
# One forward pass on LLaDA-8B: 2 x P x T FLOP at a sustained rate (A100 bf16 312 TFLOP/s peak at 40%).
LLADA_8B_PARAMETERS = 8.0e9
A100_SUSTAINED_FLOPS = 0.4 * 312e12


@dataclass(frozen=True)
class Setting:
    """The defaults a notebook resolves its ``None`` parameters to, for one model and task."""

    template: Template
    block_size: int  # 0 = the whole canvas
    block_sizes: tuple[int, ...]
    fixed_k_block_size: int
    paper: bool  # True: the paper's setting (a real model)

    @property
    def gen_length(self) -> int:
        return self.template.reasoning_len + self.template.answer_len

    def resolve(self, name: str, value):
        """``value``, or this setting's default for ``name`` when ``value is None`` (lists come back as lists)."""
        if value is not None:
            return value
        if name == "answer_len":
            return self.template.answer_len
        if name in ("gen_length", "block_size", "fixed_k_block_size"):
            return getattr(self, name)
        if name == "block_sizes":
            return list(self.block_sizes)
        raise ValueError(f"no paper default for {name!r}; known: gen_length, answer_len, block_size, block_sizes, fixed_k_block_size")


def gsm8k_template(*, gen_length: int = PAPER_GEN_LENGTH, answer_len: int = PAPER_ANSWER_LEN, chat: bool = False,
                   prompt_suffix: str | None = None) -> Template:
    """:data:`~mdlm_study.engine.templates.GSM8K_TEMPLATE` with ``gen_length`` masked positions, ``answer_len``
    of them in the answer slot, the chat template or not. ``prompt_suffix`` defaults to nothing under
    the chat template (the assistant header ends the prompt) and to the template's newline otherwise;
    the harness, whose prompts come formatted, passes ``""``."""
    if gen_length <= answer_len:
        raise ValueError(f"gen_length={gen_length} must exceed answer_len={answer_len} (a reasoning slot of at least 1)")
    suffix = ("" if chat else GSM8K_TEMPLATE.prompt_suffix) if prompt_suffix is None else prompt_suffix
    return replace(GSM8K_TEMPLATE, reasoning_len=gen_length - answer_len, answer_len=answer_len, chat=chat, prompt_suffix=suffix)


def setting_for(task_template: Template, *, real_model: bool, chat: bool = False, gsm8k: bool = False,
                gen_length: int | None = None, answer_len: int | None = None) -> Setting:
    """The defaults for a model and task: the paper's (real models) or the study's (tiny models).

    ``task_template`` is the task's own template; for GSM8K it is rebuilt by :func:`gsm8k_template`
    with ``chat`` (the tokenizer has a chat template) on real models. ``gen_length`` / ``answer_len``
    override the slot sizes (``None``: the task's, i.e. L = 256 and A = 10 on GSM8K)."""
    if gsm8k:
        length = PAPER_GEN_LENGTH if gen_length is None else gen_length
        answer = PAPER_ANSWER_LEN if answer_len is None else answer_len
        template = gsm8k_template(gen_length=length, answer_len=answer, chat=chat and real_model)
    else:
        answer = task_template.answer_len if answer_len is None else answer_len
        length = task_template.reasoning_len + task_template.answer_len if gen_length is None else gen_length
        if length < answer:
            raise ValueError(f"gen_length={length} is shorter than answer_len={answer}")
        template = replace(task_template, reasoning_len=length - answer, answer_len=answer, chat=chat and real_model)
    if real_model:
        return Setting(template, PAPER_BLOCK_SIZE, PAPER_BLOCK_SIZES, PAPER_FIXED_K_BLOCK_SIZE, paper=True)
    return Setting(template, STUDY_BLOCK_SIZE, STUDY_BLOCK_SIZES, STUDY_FIXED_K_BLOCK_SIZE, paper=False)


# --- cost -----------------------------------------------------------------------------------------

def estimate_cost(n_problems: int, nfe_per_problem: float, seconds_per_nfe: float, *, n_gpus: int = 1) -> dict:
    """Forward passes, seconds and GPU-hours of decoding ``n_problems`` at ``nfe_per_problem`` each, one
    pass of one sequence taking ``seconds_per_nfe`` (a GPU-second figure: batching shares the GPU, it does
    not cut the FLOPs of a compute-bound pass). ``wall_hours`` spreads the work over ``n_gpus``."""
    for name, value in (("n_problems", n_problems), ("nfe_per_problem", nfe_per_problem), ("seconds_per_nfe", seconds_per_nfe)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    int_at_least("n_gpus", n_gpus)
    nfe = n_problems * nfe_per_problem
    seconds = nfe * seconds_per_nfe
    return {"n_problems": n_problems, "nfe_per_problem": nfe_per_problem, "nfe": nfe, "seconds_per_nfe": seconds_per_nfe,
            "gpu_seconds": seconds, "gpu_hours": seconds / 3600, "n_gpus": n_gpus, "wall_hours": seconds / 3600 / n_gpus}


def seconds_per_nfe(tokens: int, *, parameters: float = LLADA_8B_PARAMETERS, flops_per_second: float = A100_SUSTAINED_FLOPS) -> float:
    """One forward pass of one sequence of ``tokens`` tokens: 2 x parameters x tokens FLOP at
    ``flops_per_second`` (default: LLaDA-8B on an A100 at 40% of its bf16 peak; attention adds ~1%)."""
    if tokens < 1 or parameters <= 0 or flops_per_second <= 0:
        raise ValueError(f"tokens, parameters and flops_per_second must be positive, got {tokens}, {parameters}, {flops_per_second}")
    return 2 * parameters * tokens / flops_per_second


def _fixed(gen_length: int, k: int) -> int:
    return math.ceil(gen_length / k)


def notebook_nfe_per_problem(notebook: str, params: Mapping, *, gen_length: int) -> int:
    """An upper bound on the forward passes a notebook spends on one problem, from its
    parameters: fixed-k rules take ceil(L / k) passes, adaptive rules (MED, EB, Fast-dLLM, early exit)
    at most L (one token per pass at worst; the paper's MED spends about a third of them, Table C). Notebook 02: every
    (rule, block) pair plus L2R and the history decode; 03: the fixed-k sweep (``ks``), every
    configuration of the adaptive rules' sweep (``sweeps``, resolved by
    :func:`~mdlm_study.engine.grids.rule_grids` from the rules registered now: MED's two readings,
    EB, Fast-dLLM and any rule registered with sweep values) and the fixed-k-in-blocks table; 04: the
    history decode and its Table C sweep; 05: the free decoding, ``n_samples`` posterior samples and
    the decoding of the base model and of every (arm, seed) fine-tuned (the fine-tuning itself is
    :func:`notebook_fixed_nfe`); 06: one pass per prefix and score (``mc_samples`` for ``mc_loglik``)
    of a gold and a corrupted trace of ``params["max_steps"]`` steps, and the baseline's pass per step."""
    L = gen_length
    if notebook.startswith("02"):
        return L * (1 + len(params["rules"]) * len(params["block_sizes"]) + 1)
    if notebook.startswith("03"):
        fixed = sum(_fixed(L, k) for k in params["ks"])
        adaptive = rule_sweep_size(rule_grids(params.get("sweeps")))
        blocks = fixed if params.get("fixed_k_block_size") else 0
        return fixed + L * adaptive + blocks
    if notebook.startswith("04"):
        return L * (1 + 2 * (1 + len(params["gammas"])) + 2)
    if notebook.startswith("05"):
        return L * (1 + params["n_samples"] + 1 + 3 * len(params["seeds"]))
    if notebook.startswith("06"):
        per_prefix = sum(params["mc_samples"] if m == "mc_loglik" else 1 for m in params["methods"])
        return 2 * ((params["max_steps"] + 1) * per_prefix + params["max_steps"])
    raise ValueError(f"no NFE bound for notebook {notebook!r}; expected 02, 03, 04, 05 or 06")


def notebook_fixed_nfe(notebook: str, params: Mapping, *, gen_length: int) -> int:
    """Forward-pass equivalents a notebook spends whatever the number of test problems: for 05, one
    posterior sample of each of the ``n_finetune`` training problems (L passes) and the fine-tuning
    (3 arms x ``seeds`` runs of ``finetune_steps`` x ``finetune_batch_size`` examples, a training
    step of one example counted as 3 passes: forward and backward); 0 for the others."""
    if not notebook.startswith("05"):
        return 0
    training = 3 * 3 * len(params["seeds"]) * params["finetune_steps"] * params["finetune_batch_size"]
    return params["n_finetune"] * gen_length + training


def problems_within_budget(gpu_hours: float, nfe_per_problem: float, seconds_per_nfe: float, *, n_available: int) -> int:
    """How many problems (at most ``n_available``, at least 1) fit ``gpu_hours`` at ``nfe_per_problem``
    passes of ``seconds_per_nfe`` each (:func:`estimate_cost` inverted)."""
    if not gpu_hours > 0:
        raise ValueError(f"gpu_hours must be > 0, got {gpu_hours!r}")
    per_problem = estimate_cost(1, nfe_per_problem, seconds_per_nfe)["gpu_hours"]
    fit = math.floor(gpu_hours / per_problem) if per_problem > 0 else n_available
    return max(1, min(n_available, fit))
