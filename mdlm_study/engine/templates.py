"""Reasoning-as-infilling canvases (the paper's template): ``prompt | reasoning slot | delimiter | answer slot | suffix``.

A batch of canvases is left-padded: every row ends at the same column, so the reasoning, delimiter,
answer and suffix spans sit at the same columns in every row and only the prompt start differs.
Spans are ``[B, 2]`` LongTensors of ``(start, end)``, end exclusive, in canvas coordinates.

The same builder makes the three canvases the study needs:
- decoding: both slots masked;
- posterior sampling (§6): the answer written into its slot (then EOS fill), the reasoning masked;
- training and step scoring: reasoning (or a prefix of it) and answer written in, the rest EOS
  (training) or masked (scoring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from mdlm_study.core.checks import int_at_least
from mdlm_study.core.special_tokens import SpecialTokens


@dataclass(frozen=True)
class Template:
    """The canvas layout; lengths are in tokens and are recorded with every result (docs/decisions.md, "Canvas layout")."""

    reasoning_len: int = 44  # R: masked reasoning positions (0 = answer-only baseline)
    answer_len: int = 4  # A: masked answer positions
    delimiter: str = "\n####"  # fixed text between the slots (LLaDA: " The answer is \\boxed{")
    answer_prefix: str = " "  # text the answer is tokenized with (so " 31" tokenizes as in context)
    suffix: str = ""  # fixed text after the answer slot (e.g. "}")
    prompt_suffix: str = "\n"  # appended to every question
    add_bos: bool = True  # start the prompt with the tokenizer's BOS token, if it has one
    step_separator: str = "\n"  # the task's step separator (GSM8K: newline)
    chat: bool = False  # wrap the question in the tokenizer's chat template (Instruct models)

    def __post_init__(self) -> None:
        if self.reasoning_len < 0:
            raise ValueError(f"reasoning_len must be >= 0 (0 = answer-only), got {self.reasoning_len}")
        int_at_least("answer_len", self.answer_len)
        if not self.delimiter:
            raise ValueError("delimiter must be non-empty: it separates the reasoning from the answer")


# The study's templates (one definition, shared by notebooks, benchmarks, the harness and the CLI).
ARITHMETIC_TEMPLATE = Template(reasoning_len=24, answer_len=4, delimiter="\n####", answer_prefix=" ")
ANSWER_ONLY_TEMPLATE = replace(ARITHMETIC_TEMPLATE, reasoning_len=0)  # the answer-only baseline: no reasoning slot
SUDOKU_TEMPLATE = Template(reasoning_len=0, answer_len=16, delimiter="\n####", answer_prefix="")  # the grid is the answer
# The paper's GSM8K layout: L = 256 masked positions = 246 reasoning + 10 answer, after ``The answer is \boxed{``,
# closed by ``}`` (the answer is read up to it). The one GSM8K definition: notebooks, harness and CLI derive
# their variants (another L, the chat template, no prompt suffix) with ``mdlm_study.models.paper_setting.gsm8k_template``.
GSM8K_TEMPLATE = Template(reasoning_len=246, answer_len=10, delimiter=" The answer is \\boxed{", answer_prefix="", suffix="}",
                          prompt_suffix="\n", add_bos=False)


@dataclass
class Canvas:
    """A batch of canvases and their spans."""

    input_ids: torch.Tensor  # [B, L]
    attention_mask: torch.Tensor  # [B, L], 1 = real token, 0 = left padding
    prompt: torch.Tensor  # [B, 2]
    reasoning: torch.Tensor  # [B, 2]
    delimiter: torch.Tensor  # [B, 2]
    answer: torch.Tensor  # [B, 2]
    suffix: torch.Tensor  # [B, 2]
    template: Template
    special: SpecialTokens

    def span_mask(self, name: str) -> torch.Tensor:
        """BoolTensor [B, L], True inside the named span of each row."""
        span = getattr(self, name)
        cols = torch.arange(self.input_ids.shape[1])
        return (cols >= span[:, :1]) & (cols < span[:, 1:])

    @property
    def response_mask(self) -> torch.Tensor:
        """The reasoning and answer slots: the positions an MDLM generates (and is trained on)."""
        return self.span_mask("reasoning") | self.span_mask("answer")


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _check_joins(tokenizer, left: str, right: str, what: str) -> None:
    """Raise when ``left + right`` does not tokenize as ``left`` then ``right`` (a BPE merge across
    the boundary would shift every span)."""
    if _encode(tokenizer, left + right) != _encode(tokenizer, left) + _encode(tokenizer, right):
        raise ValueError(
            f"{what}: {right!r} tokenizes differently after {left[-30:]!r} than alone; "
            "change the delimiter/answer_prefix so the boundary is a token boundary"
        )


def prompt_ids(tokenizer, question: str, template: Template, special: SpecialTokens, *, chat: bool = False) -> list[int]:
    """The prompt tokens: BOS (if any and asked for), the question (through the tokenizer's chat
    template, which brings its own BOS, when ``chat`` or ``template.chat``), then ``prompt_suffix``."""
    if chat or template.chat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"template.chat is set but tokenizer {type(tokenizer).__name__} has no chat template "
                             "(a Base model: use a template with chat=False)")
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False)
        return _encode(tokenizer, text + template.prompt_suffix)
    bos = [special.bos_id] if template.add_bos and special.bos_id is not None else []
    return bos + _encode(tokenizer, question + template.prompt_suffix)


def answer_ids(tokenizer, answer: str, template: Template, special: SpecialTokens) -> list[int]:
    """The answer slot filled with a known answer (docs/decisions.md, "Answer fill"): the answer tokens, then EOS fill.
    Raises when the answer does not fit the slot."""
    ids = _encode(tokenizer, template.answer_prefix + answer)
    if len(ids) > template.answer_len:
        raise ValueError(f"answer {answer!r} takes {len(ids)} tokens, more than the answer slot ({template.answer_len})")
    return ids + [_fill_id(special)] * (template.answer_len - len(ids))


def reasoning_fits(tokenizer, reasoning: str, template: Template) -> bool:
    """Whether ``reasoning`` fits the template's reasoning slot (what :func:`reasoning_ids` checks)."""
    return len(_encode(tokenizer, reasoning)) <= template.reasoning_len


def reasoning_ids(tokenizer, reasoning: str, template: Template, special: SpecialTokens, *, fill: str = "eos") -> list[int]:
    """The reasoning slot holding ``reasoning`` (or a prefix of a trace), then EOS fill (training)
    or masks (``fill="mask"``: the rest to be infilled, as in step scoring)."""
    if fill not in ("eos", "mask"):
        raise ValueError(f"fill must be 'eos' or 'mask', got {fill!r}")
    ids = _encode(tokenizer, reasoning)
    if len(ids) > template.reasoning_len:
        raise ValueError(f"reasoning takes {len(ids)} tokens, more than the reasoning slot ({template.reasoning_len})")
    pad = _fill_id(special) if fill == "eos" else special.mask_id
    return ids + [pad] * (template.reasoning_len - len(ids))


def _fill_id(special: SpecialTokens) -> int:
    if special.eos_id is None:
        raise ValueError("the tokenizer has no EOS token to fill the unused slot positions with")
    return special.eos_id


def build_canvas(
    tokenizer,
    questions: Sequence[str],
    template: Template,
    *,
    answers: Sequence[str] | None = None,
    reasonings: Sequence[str] | None = None,
    reasoning_fill: str = "eos",
    chat: bool = False,
    max_length: int | None = None,
    special: SpecialTokens | None = None,
) -> Canvas:
    """Left-padded canvases for a batch of questions.

    ``answers`` writes the answers into the answer slot (posterior sampling); ``reasonings`` writes
    each reasoning text into the reasoning slot, followed by ``reasoning_fill`` (``"eos"`` for a
    complete trace, ``"mask"`` for a prefix). ``max_length`` (the model's maximum) is enforced.
    ``special``: the model's ids (``LoadedMDLM.special``: LLaDA's tokenizer declares no mask token);
    read from the tokenizer when omitted.
    """
    special = SpecialTokens.from_tokenizer(tokenizer) if special is None else special
    if not questions:
        raise ValueError("questions is empty")
    for name, values in (("answers", answers), ("reasonings", reasonings)):
        if values is not None and len(values) != len(questions):
            raise ValueError(f"{name} has {len(values)} entries for {len(questions)} questions")
    delim = _encode(tokenizer, template.delimiter)
    suffix = _encode(tokenizer, template.suffix)
    rows = []
    for i, question in enumerate(questions):
        prompt = prompt_ids(tokenizer, question, template, special, chat=chat)
        reasoning = (
            reasoning_ids(tokenizer, reasonings[i], template, special, fill=reasoning_fill)
            if reasonings is not None
            else [special.mask_id] * template.reasoning_len
        )
        if answers is not None:
            _check_joins(tokenizer, template.delimiter, template.answer_prefix + answers[i], "answer")
            answer = answer_ids(tokenizer, answers[i], template, special)
        else:
            answer = [special.mask_id] * template.answer_len
        rows.append((prompt, reasoning + delim + answer + suffix))
    _check_joins(tokenizer, questions[0] + template.prompt_suffix + "x", template.delimiter, "delimiter")
    return _assemble(rows, template, special, len(delim), len(suffix), max_length)


def _assemble(rows, template: Template, special: SpecialTokens, n_delim: int, n_suffix: int, max_length: int | None) -> Canvas:
    width = max(len(p) + len(rest) for p, rest in rows)
    if max_length is not None and width > max_length:
        raise ValueError(f"canvas length {width} exceeds the model's maximum length {max_length}")
    pad = special.pad_id if special.pad_id is not None else special.eos_id
    if pad is None:
        raise ValueError("the tokenizer has neither a PAD nor an EOS token to left-pad with")
    batch = len(rows)
    input_ids = torch.full((batch, width), pad, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    prompt_start = torch.zeros(batch, dtype=torch.long)
    for i, (prompt, rest) in enumerate(rows):
        row = prompt + rest
        input_ids[i, width - len(row) :] = torch.tensor(row)
        attention_mask[i, width - len(row) :] = 1
        prompt_start[i] = width - len(row)
    r0 = width - (template.reasoning_len + n_delim + template.answer_len + n_suffix)
    bounds = [r0, r0 + template.reasoning_len, r0 + template.reasoning_len + n_delim]
    bounds += [bounds[-1] + template.answer_len, width]

    def span(start, end):
        return torch.stack([torch.as_tensor(start).expand(batch), torch.as_tensor(end).expand(batch)], dim=1).clone()

    return Canvas(
        input_ids=input_ids,
        attention_mask=attention_mask,
        prompt=span(prompt_start, torch.tensor(r0)),
        reasoning=span(bounds[0], bounds[1]),
        delimiter=span(bounds[1], bounds[2]),
        answer=span(bounds[2], bounds[3]),
        suffix=span(bounds[3], bounds[4]),
        template=template,
        special=special,
    )


@dataclass(frozen=True)
class Readout:
    """A filled canvas read back as text."""

    reasoning: str
    steps: list[str]
    answer: str


def _decode_span(tokenizer, ids: torch.Tensor) -> str:
    return tokenizer.decode(ids.tolist(), skip_special_tokens=True)


def read_canvas(tokenizer, sequences: torch.Tensor, canvas: Canvas) -> list[Readout]:
    """Split filled canvases into reasoning text, steps and answer text. Special tokens (EOS fill,
    padding, masks left by an early exit) are dropped; the answer is cut at the template's suffix."""
    out = []
    template = canvas.template
    for row in range(sequences.shape[0]):
        r0, r1 = canvas.reasoning[row].tolist()
        a0, a1 = canvas.answer[row].tolist()
        reasoning = _decode_span(tokenizer, sequences[row, r0:r1]).strip()
        answer = _decode_span(tokenizer, sequences[row, a0:a1])
        if template.suffix.strip() and template.suffix.strip() in answer:
            answer = answer.split(template.suffix.strip())[0]
        steps = [s.strip() for s in reasoning.split(template.step_separator) if s.strip()]
        out.append(Readout(reasoning=reasoning, steps=steps, answer=answer.strip()))
    return out
