"""Bad input to decoding: the engine, its configuration, the batched decode, posterior sampling and
the templates refuse each with a ValueError naming the value, never a silently wrong answer."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from bad_input import Case, check
from toy_denoisers import ChainDenoiser

from mdlm_study.engine import DecodeConfig, generate
from mdlm_study.engine.decoding import decode_canvas
from mdlm_study.engine.templates import Template, build_canvas
from mdlm_study.experiments.posterior import sample_posterior
from mdlm_study.models.tiny_model import load_tiny
from mdlm_study.models.tiny_tokenizer import build_tokenizer
from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems

V, MASK = 12, 11


def model():
    targets = torch.randint(1, 10, (4, 12), generator=torch.Generator().manual_seed(0))
    return ChainDenoiser(targets, V, MASK)


def ids(batch=2, length=8, prompt=2):
    x = torch.full((batch, length), MASK)
    x[:, :prompt] = 1
    return x


def run(x=None, m=None, **kwargs):
    kwargs.setdefault("sampler", "entropy")
    return generate(m or model(), ids() if x is None else x, mask_id=kwargs.pop("mask_id", MASK), **kwargs)


def constant_logits(value):
    return lambda x, attention_mask=None: torch.full((*x.shape, V), value)


@cache
def tokenizer():
    problems = generate_problems(ArithmeticConfig(), 50, seed=0)
    return build_tokenizer([p.question + "\n" + p.reasoning + "\n#### " + p.answer for p in problems])


SMALL = Template(reasoning_len=6, answer_len=2)


def canvas(template=SMALL, **kwargs):
    return build_canvas(tokenizer(), ["1+2=?"], template, **kwargs)


def posterior(**kwargs):
    problems = generate_problems(ArithmeticConfig(), 2, seed=1)
    return sample_posterior(model(), tokenizer(), problems, Template(reasoning_len=6, answer_len=4), **kwargs)


CASES = [
    # the engine's inputs
    Case("engine", "float input_ids", lambda: run(ids().float()), match=r"input_ids must hold integer token ids, got dtype torch.float32"),
    Case("engine", "negative token id", lambda: run(torch.tensor([[1, -3, MASK, MASK]])), match=r"negative token id"),
    Case("engine", "mask_id -1", lambda: run(mask_id=-1), match=r"mask_id must be an int >= 0 .*got -1"),
    Case("engine", "mask_id a float", lambda: run(mask_id=11.0), match=r"mask_id must be an int >= 0 .*got 11.0"),
    Case("engine", "mask_id outside the vocabulary", lambda: run(ids() * 0 + 50, mask_id=50), match=r"mask_id=50 .*vocabulary of 12"),
    Case("engine", "no mask token", lambda: run(torch.ones(2, 8, dtype=torch.long)), match=r"no mask token"),
    Case("engine", "1-D input_ids", lambda: run(torch.full((8,), MASK)), match=r"input_ids must be a non-empty \[B, L\] tensor of token ids, got \(8,\)"),
    Case("engine", "attention mask of 2s", lambda: run(attention_mask=torch.full((2, 8), 2)), match=r"attention_mask must hold only 0"),
    Case("engine", "attention mask of all zeros", lambda: run(attention_mask=torch.zeros(2, 8, dtype=torch.long)),
         match=r"attention_mask rows \[0, 1\] are all zeros"),
    Case("engine", "one attention-mask row of zeros",
         lambda: run(attention_mask=torch.stack([torch.ones(8, dtype=torch.long), torch.zeros(8, dtype=torch.long)])),
         match=r"attention_mask rows \[1\] are all zeros"),
    Case("engine", "attention mask of the wrong shape", lambda: run(attention_mask=torch.ones(2, 3)), match=r"attention_mask shape"),
    Case("engine", "NaN logits", lambda: run(m=constant_logits(float("nan"))), match=r"NaN"),
    Case("engine", "+inf logits", lambda: run(m=constant_logits(float("inf"))), match=r"inf"),
    Case("engine", "all -inf logits", lambda: run(m=constant_logits(float("-inf"))), match=r"no finite logit"),
    Case("engine", "model returns 2-D", lambda: run(m=lambda x, attention_mask=None: torch.zeros(2, 8)), match=r"shape \[B, L, V\]"),
    Case("engine", "model returns another batch", lambda: run(m=lambda x, attention_mask=None: torch.zeros(1, 8, V)),
         match=r"\[B, L, V\] = \[2, 8, V\]"),
    Case("engine", "answer span beyond the canvas", lambda: run(answer_span=(5, 99)), match=r"answer_span must satisfy"),
    Case("engine", "empty answer span", lambda: run(answer_span=(4, 4)), match=r"answer_span must satisfy"),
    Case("engine", "answer span of floats", lambda: run(answer_span=torch.tensor([4.0, 6.0])), match=r"answer_span must hold integer"),
    Case("engine", "answer span of the wrong shape", lambda: run(answer_span=torch.tensor([[4, 6]] * 3)), match=r"answer_span must be"),
    Case("engine", "exit without an answer span", lambda: run(exit_gamma=0.1), match=r"needs answer_span"),
    Case("engine", "suppressed id outside the vocabulary", lambda: run(suppress_token_ids=[99]), match=r"suppress_token_ids .*99"),
    Case("engine", "suppressed id negative", lambda: run(suppress_token_ids=[-1]), match=r"suppress_token_ids must hold ints >= 0"),
    Case("engine", "sampling without a generator", lambda: run(temperature=1.0), match=r"needs a generator"),
    Case("engine", "random order without a generator", lambda: run(sampler="random"), match=r"needs a generator"),
    Case("engine", "config and keywords together", lambda: run(config=DecodeConfig(), block_size=2), match=r"either config= or"),
    Case("engine", "config a dict", lambda: generate(model(), ids(), mask_id=MASK, config={"sampler": "l2r"}),
         match=r"config must be a DecodeConfig, got dict"),
    Case("engine", "neither sampler nor config", lambda: generate(model(), ids(), mask_id=MASK), match=r"needs sampler=\.\.\."),
    # the configuration
    Case("config", "unknown sampler", lambda: DecodeConfig("greedy"), match=r"unknown sampler 'greedy'"),
    Case("config", "lambda < 0", lambda: DecodeConfig("med", med_lambda=-0.1), match=r"med_lambda must be >= 0, got -0.1"),
    Case("config", "lambda NaN", lambda: DecodeConfig("med", med_lambda=float("nan")), match=r"med_lambda must be a real number"),
    Case("config", "lambda missing", lambda: DecodeConfig("med"), match=r"needs med_lambda"),
    Case("config", "lambda a string", lambda: DecodeConfig("med", med_lambda="0.2"), match=r"med_lambda must be a real number .*'0.2'"),
    Case("config", "EB budget < 0", lambda: DecodeConfig("eb", eb_gamma=-1), match=r"eb_gamma must be >= 0, got -1"),
    Case("config", "tau 0", lambda: DecodeConfig("fast_threshold", tau=0.0), match=r"tau must be in \(0, 1\], got 0.0"),
    Case("config", "factor 0", lambda: DecodeConfig("fast_factor", factor=0), match=r"factor must be > 0, got 0"),
    Case("config", "misspelt rule parameter", lambda: DecodeConfig("med", med_lamda=0.2), match=r"unknown rule parameter\(s\) \['med_lamda'\]"),
    Case("config", "k for an adaptive rule", lambda: DecodeConfig("med", med_lambda=0.2, tokens_per_step=2), match=r"tokens_per_step=2 only"),
    Case("config", "k = 0", lambda: DecodeConfig(tokens_per_step=0), match=r"tokens_per_step must be an int >= 1, got 0"),
    Case("config", "k a float", lambda: DecodeConfig(tokens_per_step=2.5), match=r"tokens_per_step must be an int >= 1, got 2.5"),
    Case("config", "block size 0", lambda: DecodeConfig(block_size=0), match=r"block_size must be an int >= 1, got 0"),
    Case("config", "block size a bool", lambda: DecodeConfig(block_size=True), match=r"block_size must be an int >= 1, got True"),
    Case("config", "temperature < 0", lambda: DecodeConfig(temperature=-1.0), match=r"temperature must be a finite number >= 0, got -1.0"),
    Case("config", "temperature inf", lambda: DecodeConfig(temperature=float("inf")), match=r"temperature must be a finite number"),
    Case("config", "gamma < 0", lambda: DecodeConfig(exit_gamma=-0.1), match=r"exit_gamma must be a number >= 0, got -0.1"),
    Case("config", "gamma NaN", lambda: DecodeConfig(exit_gamma=float("nan")), match=r"exit_gamma must be a number >= 0, got nan"),
    Case("config", "unknown exit rule", lambda: DecodeConfig(exit_rule="oracle"), match=r"unknown exit_rule 'oracle'"),
    Case("config", "entropy exit without gamma", lambda: DecodeConfig(exit_rule="entropy"), match=r"needs exit_gamma"),
    Case("config", "answer_last a string", lambda: DecodeConfig(answer_last="false"), match=r"answer_last must be True or False, got 'false'"),
    Case("config", "seed negative", lambda: DecodeConfig(seed=-1), match=r"seed must be an int >= 0, got -1"),
    Case("config", "seed a float", lambda: DecodeConfig(seed=0.5), match=r"seed must be an int >= 0, got 0.5"),
    Case("config", "unknown key in a record", lambda: DecodeConfig.from_dict({"sampler": "l2r", "blok_size": 8}),
         match=r"unknown DecodeConfig key\(s\) \['blok_size'\]"),
    # the batched decode and posterior sampling
    Case("decode", "batch size 0", lambda: decode_canvas(model(), canvas(), DecodeConfig(), batch_size=0), match=r"batch_size must be an int >= 1, got 0"),
    Case("decode", "keys of the wrong length", lambda: decode_canvas(model(), canvas(), DecodeConfig(), keys=[(0, 0), (1, 0)]),
         match=r"2 keys for 1 rows"),
    Case("decode", "config a string", lambda: decode_canvas(model(), canvas(), "entropy"), match=r"config must be a DecodeConfig, got str"),
    Case("posterior", "an exit while the answer is given", lambda: posterior(exit_gamma=0.5), match=r"exit_gamma=0.5\) makes no sense"),
    Case("posterior", "zero samples", lambda: posterior(n_samples=0), match=r"n_samples must be an int >= 1, got 0"),
    Case("posterior", "numpy sample count", lambda: posterior(n_samples=np.float64(2)), match=r"n_samples must be an int >= 1"),
    Case("posterior", "no problems", lambda: sample_posterior(model(), tokenizer(), [], Template()), match=r"problems is empty"),
    # templates and checkpoints
    Case("templates", "no answer slot", lambda: Template(answer_len=0), match=r"answer_len must be an int >= 1, got 0"),
    Case("templates", "negative reasoning slot", lambda: Template(reasoning_len=-1), match=r"reasoning_len must be >= 0"),
    Case("templates", "no delimiter", lambda: Template(delimiter=""), match=r"delimiter must be non-empty"),
    Case("templates", "answer longer than its slot", lambda: canvas(answers=["123456789"]), match=r"answer .*slot|longer"),
    Case("templates", "answers for other questions", lambda: canvas(answers=["1", "2"]), match=r"answers has 2 entries for 1 questions"),
    Case("templates", "no questions", lambda: build_canvas(tokenizer(), [], Template()), match=r"questions is empty"),
    Case("checkpoints", "a folder that is not a checkpoint", lambda: load_tiny("tests"), match=r"tests"),
    Case("checkpoints", "a missing folder", lambda: load_tiny("/nonexistent/ckpt"), match=r"no such checkpoint directory"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.area}: {c.name}")
def test_bad_input(case):
    check(case)
