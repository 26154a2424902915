"""A scratch rule registry for tests that register rules (the README's, docs/adapting.md's, toy ones)."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from mdlm_study.engine.rules import RULES


@contextmanager
def scratch_rules(*names: str):
    """Inside the block, ``RULES`` without ``names`` (so a test can register a rule the package may
    already ship a copy of); afterwards the registry and the imported modules are as before."""
    saved, modules = dict(RULES), set(sys.modules)
    for name in names:
        RULES.pop(name, None)
    try:
        yield RULES
    finally:
        RULES.clear()
        RULES.update(saved)
        for module in set(sys.modules) - modules:
            if module.startswith("_rules_"):  # rule files loaded by load_rule_modules
                del sys.modules[module]
