"""Special token ids of a masked diffusion LM, in one frozen place (no bare ids in the package)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the tokens every sampler, template and trainer needs.

    ``mask_id`` is required; the others are ``None`` when a tokenizer has no such token.
    """

    mask_id: int
    eos_id: int | None = None
    pad_id: int | None = None
    bos_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("mask_id", "eos_id", "pad_id", "bos_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")

    @classmethod
    def from_tokenizer(cls, tokenizer) -> SpecialTokens:
        """Read the ids from a Hugging Face tokenizer; raise if it has no mask token."""
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise ValueError(
                f"tokenizer {type(tokenizer).__name__} has no mask token (mask_token_id=None); "
                "a masked diffusion LM needs one"
            )
        return cls(
            mask_id=int(mask_id),
            eos_id=_maybe_int(getattr(tokenizer, "eos_token_id", None)),
            pad_id=_maybe_int(getattr(tokenizer, "pad_token_id", None)),
            bos_id=_maybe_int(getattr(tokenizer, "bos_token_id", None)),
        )


def _maybe_int(value) -> int | None:
    return None if value is None else int(value)
