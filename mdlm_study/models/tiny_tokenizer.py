"""The tiny model's tokenizer: a Hugging Face ``PreTrainedTokenizerFast`` built with ``tokenizers``.

Word-level, closed vocabulary. Spaces become ``▁`` and stay attached to the next piece (as in
SentencePiece), so decoding is an exact round trip; every digit is its own token and a space
before a number is a token of its own (``" 38"`` → ``"▁", "3", "8"``), so a digit has one embedding
wherever it appears; a newline is its own token (the step separator); ``####`` is one token (GSM8K's
answer delimiter). Special tokens: ``[PAD] [UNK] [BOS] [EOS] [MASK]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]", "mask_token": "[MASK]"}
SPACE = "\u2581"
PIECE_PATTERN = rf"{SPACE}?#+|{SPACE}?[A-Za-z]+|{SPACE}(?=\d)|\d|{SPACE}?[^\sA-Za-z\d{SPACE}]|\n|{SPACE}"


def _pre_tokenize(text: str) -> list[str]:
    return [piece for piece, _ in _backend(vocab={"[UNK]": 0}).pre_tokenizer.pre_tokenize_str(text.replace(" ", SPACE))]


def _backend(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Replace(" ", SPACE)
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="isolated")
    tokenizer.decoder = decoders.Sequence([decoders.Fuse(), decoders.Replace(SPACE, " ")])
    return tokenizer


def build_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is every piece of ``texts`` plus all digits, with and without a
    leading space, in a deterministic order (special tokens first, then sorted pieces)."""
    pieces = set()
    for text in texts:
        pieces.update(_pre_tokenize(text))
    pieces.update(str(d) for d in range(10))
    pieces.add(SPACE)
    pieces.update({"\n", "####", SPACE + "####"})
    specials = list(SPECIAL_TOKENS.values())
    vocab = {token: i for i, token in enumerate(specials + sorted(pieces - set(specials)))}
    return PreTrainedTokenizerFast(tokenizer_object=_backend(vocab), clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved with ``save_pretrained``; raise if it has no mask token."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.mask_token_id is None:
        raise ValueError(f"tokenizer at {path} has no mask token; a masked diffusion LM needs one")
    return tokenizer


def digit_ids(tokenizer) -> set[int]:
    """Ids of the tokens that are one digit (the tiny tokenizer spells numbers digit by digit)."""
    return {i for token, i in tokenizer.get_vocab().items() if len(token) == 1 and token.isdigit()}


def digit_runs(ids: list[int], inside: list[bool], digits: set[int]) -> list[tuple[int, int]]:
    """(start, end) of every maximal run of digit tokens (one number) at positions where ``inside``."""
    runs, col = [], 0
    while col < len(ids):
        if not (inside[col] and ids[col] in digits):
            col += 1
            continue
        end = col
        while end < len(ids) and inside[end] and ids[end] in digits:
            end += 1
        runs.append((col, end))
        col = end
    return runs
