"""The decoding grids, each defined once: fixed k, and notebook 03's sweep of the adaptive rules.

- :data:`FIXED_KS`: the fixed tokens per step of the paper's Table B (k = 1, 2, 4);
- the adaptive rules' sweep comes from their registration (``Param.sweep``, :mod:`.rules`):
  :func:`rule_grids` gives every swept parameter's values, the registered ones replaced by a
  notebook's ``sweeps`` (``{"med_lambda": [0.2]}``; ``[]`` leaves the parameter's rules out, and
  values for a parameter registered without a sweep put its rules in); :func:`rule_sweep` turns them
  into labelled :class:`DecodeConfig`\\ s, one per rule and combination of its parameters' values
  (``"med λ=0.2"``, ``"fast τ=0.9"``), and :func:`rule_sweep_size` counts them (the GPU-hour estimate).

A rule registered anywhere (a ``.py`` file given to notebook 03's ``rule_modules``) reaches the sweep,
its table, the figure's sidecar and the cost estimate through these functions, with nothing listed
by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from mdlm_study.core import paper
from mdlm_study.engine.config import DecodeConfig
from mdlm_study.engine.rules import RULES, Param, Rule

FIXED_KS = tuple(paper.TABLE_B_GSM8K)  # Table B's fixed tokens per step (mdlm_study.core.paper)


def _parameters() -> dict[str, Param]:
    """Every registered rule parameter by name (rules sharing a parameter share its ``Param``)."""
    return {param.name: param for rule in RULES.values() for param in rule.params}


def _values(param: Param, given) -> list[float]:
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise ValueError(f"sweeps[{param.name!r}] must be a list of values {param.expect} (or [] to leave it out), got {given!r}")
    for value in given:
        param.validate(value)
    return list(given)


def rule_grids(overrides: Mapping[str, Sequence[float]] | None = None) -> dict[str, list[float]]:
    """Each swept rule parameter -> its values: the registered ``Param.sweep``, replaced by
    ``overrides[name]``; parameters without values are left out. ``ValueError`` naming an unknown
    parameter or a value out of its range."""
    overrides = dict(overrides or {})
    known = _parameters()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"sweeps names unknown rule parameter(s) {unknown}; registered: {sorted(known)}")
    grids = {name: _values(param, overrides[name]) if name in overrides else list(param.sweep) for name, param in known.items()}
    return {name: values for name, values in grids.items() if values}


def swept_rules(grids: Mapping[str, Sequence[float]], rules: Sequence[str] | None = None) -> list[Rule]:
    """The rules (those named in ``rules``, default all), in registration order, that take parameters
    and have values for every one of them."""
    unknown = sorted(set(rules or ()) - set(RULES))
    if unknown:
        raise ValueError(f"unknown rule(s) {unknown}; registered: {sorted(RULES)}")
    return [rule for rule in RULES.values() if (rules is None or rule.name in rules) and rule.params
            and all(grids.get(p.name) for p in rule.params)]


def rule_sweep(grids: Mapping[str, Sequence[float]], base: DecodeConfig | None = None, *,
               rules: Sequence[str] | None = None) -> dict[str, DecodeConfig]:
    """label -> ``base`` with each swept rule (of ``rules``, default all) and each combination of its
    parameters' values (the product, in the parameters' order), e.g. ``"med_budget λ=0.05"``."""
    base = base or DecodeConfig()
    configs = {}
    for rule in swept_rules(grids, rules):
        for values in itertools.product(*(grids[p.name] for p in rule.params)):
            label = f"{rule.label} " + ", ".join(f"{p.symbol or p.name}={v}" for p, v in zip(rule.params, values, strict=True))
            configs[label] = base.replace(sampler=rule.name, **{p.name: v for p, v in zip(rule.params, values, strict=True)})
    return configs


def rule_sweep_size(grids: Mapping[str, Sequence[float]]) -> int:
    """How many configurations :func:`rule_sweep` decodes (without building them)."""
    count = 0
    for rule in swept_rules(grids):
        size = 1
        for param in rule.params:
            size *= len(grids[param.name])
        count += size
    return count
