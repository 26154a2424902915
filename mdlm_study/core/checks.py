"""Argument checks shared across the package: one rule and one message for "an integer of at least m",
so that a bad count reads the same wherever it is passed (``ValueError: batch_size must be an int >= 1,
got 0``)."""

from __future__ import annotations

import numbers


def is_int(value) -> bool:
    """An integer of any integral type (Python's or NumPy's), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_at_least(name: str, value, minimum: int = 1) -> int:
    """``value`` as a Python int when it is an integer >= ``minimum``; else a ``ValueError`` naming
    ``name`` and the bad value (a float, even 2.0, and a bool are refused: a count is never either)."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
