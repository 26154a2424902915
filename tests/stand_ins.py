"""Tiny randomly initialised checkpoints of every model family ``mdlm_study.models.loader`` loads.

Each builder writes a model and its tokenizer into a directory so the test loads it back through
``load_model`` exactly like a real checkpoint; nothing is downloaded.

- LLaDA and Dream: the real-architecture fixtures of ``tests/fixtures`` (remote code re-implementing
  the hub files, real config keys, vocabulary sizes, special ids and parameter names, bf16 weights),
  so LoRA targets and the loader's transformers-5 compatibility are tested on what a user downloads.
- BERT / ModernBERT come from tiny configs; ``tiny`` is the project's own model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from fixtures.checkpoints import checkpoint
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    ModernBertConfig,
    ModernBertForMaskedLM,
    PreTrainedTokenizerFast,
)

WORDS = [str(d) for d in range(10)] + ["+", "-", "=", "?", ".", "is", "the", "answer", "what", "yes", "no", "a", "b", "c", "Q:", "A:"]


def word_tokenizer(specials: dict[str, int], roles: dict[str, str], words=WORDS) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer: ``specials`` at fixed ids, ``words`` after them; ``roles``
    maps e.g. ``eos_token`` to one of the specials."""
    first = max(specials.values()) + 1 if max(specials.values()) < 1000 else 0
    used = set(specials.values())
    free = (i for i in range(first, first + 10 * len(words)) if i not in used)
    vocab = {**specials, **{w: next(free) for w in words}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", **roles)


def save_llada(out_dir: Path, *, seed: int = 0, revision: str = "current", instruct: bool = True) -> Path:
    """A tiny LLaDA-8B checkpoint (``fixtures.checkpoints.build_llada``): vocabulary 126,464,
    ``<|mdm_mask|>`` at 126336 not declared as the mask token. ``revision="original"``: the first
    release, which ignores the attention mask."""
    return checkpoint("llada", out_dir, seed=seed, revision=revision, instruct=instruct)


def save_dream(out_dir: Path, *, seed: int = 0, instruct: bool = True) -> Path:
    """A tiny Dream-7B checkpoint (``fixtures.checkpoints.build_dream``): vocabulary 152,064, mask
    ``<|mask|>`` 151666 declared by its (remote, slow) tokenizer, logits shifted by one position."""
    return checkpoint("dream", out_dir, seed=seed, instruct=instruct)


def _bert_tokenizer() -> PreTrainedTokenizerFast:
    specials = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    return word_tokenizer(specials, {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"})


def save_bert(out_dir: Path, *, seed: int = 0, arch: str = "bert") -> Path:
    """A BERT (``arch="bert"``) or ModernBERT (``arch="modernbert"``) masked LM from a tiny config."""
    tok = _bert_tokenizer()
    common = dict(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    if arch == "modernbert":
        model = ModernBertForMaskedLM(ModernBertConfig(**common, global_attn_every_n_layers=1, local_attention=128,
                                                       cls_token_id=2, sep_token_id=3, bos_token_id=2, eos_token_id=3))
    else:
        model = BertForMaskedLM(BertConfig(**common))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return Path(out_dir)


def save_without_mask(out_dir: Path) -> Path:
    """A BERT checkpoint whose tokenizer has no mask token (bad input for ``load_model``)."""
    save_bert(out_dir)
    cfg = Path(out_dir) / "tokenizer_config.json"
    data = json.loads(cfg.read_text())
    data.pop("mask_token", None)
    cfg.write_text(json.dumps(data))
    special = Path(out_dir) / "special_tokens_map.json"
    if special.exists():
        data = json.loads(special.read_text())
        data.pop("mask_token", None)
        special.write_text(json.dumps(data))
    return Path(out_dir)


def save_tiny(out_dir: Path, tokenizer, *, seed: int = 0) -> Path:
    """The project's own tiny model (``mdlm_study.models.tiny_model``) for ``tokenizer``."""
    from mdlm_study.models.tiny_model import ModelConfig, build_model

    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=seed)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
