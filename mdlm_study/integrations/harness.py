"""An lm-evaluation-harness model, ``--model mdlm_study``: any task, any sampler of the engine.

    lm_eval --model mdlm_study --include_path my_tasks --tasks gsm8k \\
        --model_args pretrained=GSAI-ML/LLaDA-8B-Instruct,trust_remote_code=True,dtype=bfloat16,device=cuda,sampler=med,med_lambda=0.2,gen_length=256,block_size=32

(``import mdlm_study.integrations.harness`` registers the class; the ``lm_eval`` CLI needs
``python -c "import mdlm_study.integrations.harness, lm_eval.__main__ as m; m.cli_evaluate()" ...``, see docs/real_models.md).

- ``generate_until``: canvas = BOS + prompt + ``gen_length`` masks (or, with ``answer_len > 0``, the
  paper's reasoning-as-infilling template: reasoning masks, ``delimiter``, answer masks, ``suffix``),
  left-padded in batches of ``batch_size``, filled by ``mdlm_study.engine.generate``. The text is
  cut at the first EOS/EOT, then at the request's ``until`` strings, after decoding (as LLaDA's
  ``eval_llada.py``). ``gen_length`` and ``temperature`` come from ``model_args``; the request's
  ``max_gen_toks`` is ignored (the canvas length is part of the method).
- ``loglikelihood``: LLaDA's Monte-Carlo estimate (``get_log_likelihood.py``): per draw, a
  stratified number of continuation tokens is masked, the cross-entropy on them is divided by the
  masked fraction; ``mc_num`` draws in batches of ``mc_batch_size``, with a generator seeded by
  ``(seed, request index)``. It is a lower bound (ELBO) on log p(continuation | context).
  ``is_greedy`` is always False (LLaDA's ``is_check_greedy=False``).
- ``loglikelihood_rolling``: the same bound on the whole text given BOS (so perplexities derived from
  it are upper bounds); texts longer than the model's ``max_length`` raise (no chunking).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.parameters import parse_flags
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.decoding import decode_canvas, decode_rows
from mdlm_study.engine.denoiser import logits_of
from mdlm_study.engine.likelihood import stratified_masks
from mdlm_study.engine.templates import build_canvas, read_canvas
from mdlm_study.models import LoadedMDLM, load_model
from mdlm_study.models.paper_setting import gsm8k_template


def stratified_mask(seq: torch.Tensor, n_prompt: int, *, mask_id: int, generator: torch.Generator):
    """LLaDA's forward process for likelihoods: row i of ``seq`` [B, L] gets ``k_i`` of its ``T``
    continuation tokens masked, ``k_i`` stratified over 1..T across the rows
    (:func:`mdlm_study.engine.likelihood.stratified_masks`). Returns the noisy batch [B, L], the bool mask
    [B, L] and the masked fractions ``k_i / T`` [B, 1]."""
    batch, length = seq.shape
    target = stratified_masks(1, length - n_prompt, batch, generator)[0]  # [B, T]
    masked = torch.cat([torch.zeros(batch, n_prompt, dtype=torch.bool), target], dim=1).to(seq.device)
    noisy = torch.where(masked, torch.full_like(seq, mask_id), seq)
    return noisy, masked, (target.sum(1, keepdim=True).float() / target.shape[1]).to(seq.device)


@torch.no_grad()
def mc_loglikelihood(denoiser, prefix: list[int], target: list[int], *, mask_id: int, mc_num: int, batch_size: int,
                     generator: torch.Generator, device="cpu") -> float:
    """Monte-Carlo ELBO of ``target`` given ``prefix`` (module docstring); ``denoiser`` returns aligned logits."""
    if mc_num < 1 or batch_size < 1 or mc_num % batch_size:
        raise ValueError(f"mc_num must be a positive multiple of mc_batch_size, got mc_num={mc_num}, mc_batch_size={batch_size}")
    if not target:
        return 0.0
    seq = torch.tensor(prefix + target, device=device)[None].repeat(batch_size, 1)
    total = 0.0
    for _ in range(mc_num // batch_size):
        noisy, masked, frac = stratified_mask(seq, len(prefix), mask_id=mask_id, generator=generator)
        logits = logits_of(denoiser(noisy))
        ce = F.cross_entropy(logits[masked].float(), seq[masked], reduction="none") / frac.expand_as(masked)[masked]
        total += ce.sum().item() / batch_size
    return -total / (mc_num // batch_size)


def apply_stops(text: str, until) -> str:
    """Cut ``text`` at the earliest stop string."""
    for stop in [until] if isinstance(until, str) else (until or []):
        if stop:
            text = text.split(stop)[0]
    return text


@register_model("mdlm_study")
class MDLMHarnessLM(LM):
    """The harness model (module docstring). ``loaded`` lets tests and notebooks pass a loaded model;
    every other ``model_args`` key that is not a parameter below goes to ``generate`` as a rule
    parameter (e.g. ``med_lambda=0.2``)."""

    def __init__(self, pretrained: str | None = None, *, loaded: LoadedMDLM | None = None, family: str | None = None,
                 device: str = "cpu", dtype: str | None = None, trust_remote_code: bool = False, sampler: str = "l2r",
                 gen_length: int = 256, block_size: int | None = None, tokens_per_step: int = 1, temperature: float = 0.0,
                 exit_gamma: float | None = None, answer_len: int = 0, delimiter: str = " The answer is \\boxed{", suffix: str = "}",
                 batch_size: int | str = 1, mc_num: int = 128, mc_batch_size: int = 32, seed: int = 1234, max_batch_size=None,
                 **rule_params):
        super().__init__()
        if (pretrained is None) == (loaded is None):
            raise ValueError("pass exactly one of pretrained=<name or path> and loaded=<LoadedMDLM>")
        self.loaded = loaded or load_model(pretrained, device=device, dtype=dtype, family=family, trust_remote_code=trust_remote_code)
        self._device = next(self.loaded.model.parameters()).device
        self.batch_size = _positive_int("batch_size", batch_size)
        self.gen_length = _positive_int("gen_length", gen_length)
        if exit_gamma is not None and answer_len < 1:
            raise ValueError(f"exit_gamma={exit_gamma} needs an answer slot: set answer_len >= 1")
        self.template = replace(gsm8k_template(gen_length=self.gen_length, answer_len=answer_len, prompt_suffix=""), delimiter=delimiter,
                                suffix=suffix) if answer_len > 0 else None  # the notebooks' GSM8K template: one definition
        self.config = DecodeConfig(sampler, block_size=block_size, tokens_per_step=tokens_per_step, temperature=temperature,
                                   exit_gamma=exit_gamma, seed=seed, **parse_flags(rule_params, DecodeConfig.BOOL_FIELDS))
        self.mc_num, self.mc_batch_size, self.seed = mc_num, mc_batch_size, seed
        self.chat_applied = False  # set once lm-eval formats requests with the chat template (it brings its BOS)
        self._setup_distributed()

    # ---- distributed (lm-eval splits requests by rank and gathers through these) ----
    def _setup_distributed(self) -> None:
        from accelerate import PartialState  # deferred: distributed setup only when the harness starts

        state = PartialState()
        self.accelerator = None
        if state.num_processes > 1:
            from accelerate import Accelerator  # deferred: only with several processes

            self.accelerator = Accelerator()
            self._rank, self._world_size = self.accelerator.process_index, self.accelerator.num_processes

    def all_gather(self, tensor):
        return self.accelerator.gather(tensor) if self.accelerator else tensor

    def gather_object(self, obj, dst=0):
        if not self.accelerator:
            return [obj]
        from accelerate.utils import gather_object  # deferred: only with several processes

        gathered = gather_object([obj])
        return gathered if self.rank == dst else None

    def barrier(self) -> None:
        if self.accelerator:
            self.accelerator.wait_for_everyone()

    # ---- chat (lm-eval's --apply_chat_template formats each request with these) ----
    @property
    def tokenizer_name(self) -> str:
        return getattr(self.loaded.tokenizer, "name_or_path", "").replace("/", "__")

    def chat_template(self, chat_template=False) -> str | None:
        return getattr(self.loaded.tokenizer, "chat_template", None) if chat_template else None

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The request as the tokenizer's chat template writes it (its own BOS included, so canvases
        then skip theirs); ``ValueError`` for a tokenizer without one (a Base model)."""
        if not getattr(self.loaded.tokenizer, "chat_template", None):
            raise ValueError(f"{self.tokenizer_name or 'this tokenizer'} has no chat template: drop --apply_chat_template for a Base model")
        self.chat_applied = True
        return self.loaded.tokenizer.apply_chat_template(chat_history, add_generation_prompt=add_generation_prompt, tokenize=False)

    # ---- tokens ----
    def _encode(self, text: str) -> list[int]:
        return list(self.loaded.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def _prefix(self) -> list[int]:
        bos = self.loaded.special.bos_id
        return [] if bos is None or self.chat_applied else [bos]

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Trailing spaces of the context move to the continuation (lm-eval's ``TemplateLM`` rule)."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole, head = self._encode(context + continuation), self._encode(context)
        return self._prefix() + head, whole[len(head):]

    def _check_length(self, n: int) -> None:
        if n > self.loaded.max_length:
            raise ValueError(f"sequence of {n} tokens exceeds the model's max_length={self.loaded.max_length}")

    # ---- loglikelihood ----
    def _score(self, index: int, prefix: list[int], target: list[int]) -> float:
        self._check_length(len(prefix) + len(target))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return mc_loglikelihood(self.loaded.denoiser(aligned=True), prefix, target, mask_id=self.loaded.special.mask_id,
                                mc_num=self.mc_num, batch_size=self.mc_batch_size, generator=generator, device=self._device)

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        return [(self._score(i, *self._encode_pair(*req.args)), False) for i, req in enumerate(requests)]

    def loglikelihood_rolling(self, requests) -> list[float]:
        return [self._score(i, self._prefix(), self._encode(req.args[0])) for i, req in enumerate(requests)]

    # ---- generation ----
    def _plain_canvas(self, contexts: list[str]):
        prompts = [self._prefix() + self._encode(c) for c in contexts]
        width = max(map(len, prompts)) + self.gen_length
        self._check_length(width)
        special = self.loaded.special
        pad = special.pad_id if special.pad_id is not None else special.eos_id if special.eos_id is not None else special.mask_id
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):
            ids[row, width - self.gen_length - len(prompt):] = torch.tensor(prompt + [special.mask_id] * self.gen_length)
            attn[row, width - self.gen_length - len(prompt):] = 1
        return ids, attn

    def _texts(self, sequences: torch.Tensor, canvas) -> list[str]:
        if canvas is not None:
            t = self.template
            return [r.reasoning + t.delimiter + r.answer + t.suffix for r in read_canvas(self.loaded.tokenizer, sequences, canvas)]
        stops = self.loaded.stop_ids
        texts = []
        for row in sequences[:, -self.gen_length:].tolist():
            cut = next((i for i, tok in enumerate(row) if tok in stops), len(row))
            texts.append(self.loaded.tokenizer.decode(row[:cut], skip_special_tokens=True))
        return texts

    def _generate_batch(self, contexts: list[str], start: int) -> list[str]:
        """Decode one batch of requests; request ``start + i`` is row key ``(start + i, 0)``, so its
        random stream does not depend on the batch size."""
        keys = [(start + i, 0) for i in range(len(contexts))]
        options = dict(batch_size=len(contexts), keys=keys, shift_logits=self.loaded.shift_logits,
                       length_buckets=self.loaded.honours_padding is False)
        if self.template is not None:
            template = replace(self.template, add_bos=False) if self.chat_applied else self.template
            canvas = build_canvas(self.loaded.tokenizer, contexts, template, max_length=self.loaded.max_length)
            out = decode_canvas(self.loaded.denoiser(), canvas, self.config, **options)
            return self._texts(out.sequences, canvas)
        ids, attn = self._plain_canvas(contexts)
        out = decode_rows(self.loaded.denoiser(), ids, attn, self.config, mask_id=self.loaded.special.mask_id, **options)
        return self._texts(out.sequences, None)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        texts = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            outputs = self._generate_batch([req.args[0] for req in batch], start)
            texts += [apply_stops(text, req.args[1].get("until")) for text, req in zip(outputs, batch, strict=True)]
        return texts


def _positive_int(name: str, value) -> int:
    """A count from lm-eval's model arguments, which arrive as strings (``batch_size=8``) or ints: the
    string must spell an integer, and the integer is checked as every count is (:func:`int_at_least`)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return int_at_least(name, value)
