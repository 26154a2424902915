"""Selection rules: which masked positions to commit at one step. One short function per rule.

Every rule has the same signature: ``rule(stats, eligible, *, k, params) -> BoolTensor [B, L]``.
``stats`` holds per-position tensors [B, L] computed once per step by the engine:
``entropy`` (nats), ``confidence`` (probability of the chosen token), ``margin`` (top-1 minus
top-2 probability), ``position`` (column index), ``block_position`` (columns from the start of the
current block), ``tokens`` (the token each position would take), ``uniform`` (per-row random
numbers). Rules are vectorised over rows and positions, commit at least one position in every row
that has an eligible one, and break ties by position (leftmost first).

State a rule may ask the engine for (``register_rule`` keywords; ``engine.memory`` keeps it):
``history_length`` (a function of the parameters): ``stats["kl_history"]`` [B, L, H], the KL of each
position's distribution to its distribution at the row's previous steps, oldest first (inf where
there was none); ``needs_prior``: ``stats["prior"]`` [B, L], a static per-token prior (e.g. a
background frequency) of each position's token, from ``generate(..., token_prior=...)``; ``revoke``:
a second function ``revoke(stats, revocable, commit, *, params) -> BoolTensor [B, L]`` returning
committed positions to the mask, given ``stats["verify"]`` (the probability of each revocable
position's token with that position hidden) and ``stats["previous_commits"]`` [B] (positions the
row committed at its previous step in this block; more than the block holds at a block's first
step). Only positions this call decoded are revocable (never the prompt, never a given answer), and
only while the row has made no more passes than it had masks, so every row ends.

A rule's registration is all the study needs to know about it: its parameters' ranges, an example
value of each (``Param.example``: what property tests decode with) and, optionally, the values
notebook 03 sweeps (``Param.sweep``; empty: the rule joins the sweep only when given values). A rule
defined outside the package is registered by importing its module (:func:`load_rule_modules`).

Distributions: entropies and probabilities come from the softmax of the raw, temperature-1 logits
with the mask token removed (docs/decisions.md, "Entropy distribution"). Peers differ: Dream's ``entropy`` is computed after its
temperature / top-p filter; LLaDA's confidence ignores the temperature too (ML-GSAI/LLaDA#37).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

INF = float("inf")


@dataclass(frozen=True)
class Param:
    """One numeric parameter of a rule: its name (the keyword users write), the range it must lie
    in (``check`` and the words ``expect`` used in the error), a one-line meaning, a valid
    ``example`` value, the values notebook 03 sweeps by default (``sweep``, may be empty) and the
    ``symbol`` its sweep labels use (default: the name)."""

    name: str
    check: Callable[[float], bool]
    expect: str  # e.g. ">= 0", "in (0, 1]"
    doc: str = ""
    example: float | None = None  # a valid value (None: the first of ``sweep``)
    sweep: tuple[float, ...] = ()  # notebook 03's values for this parameter; () leaves it out unless given
    symbol: str = ""  # e.g. "λ" in the label "med λ=0.2"

    def __post_init__(self):
        object.__setattr__(self, "sweep", tuple(self.sweep))
        for value in ([self.example] if self.example is not None else []) + list(self.sweep):
            self.validate(value)  # a registration with an invalid example or sweep value fails at import

    def validate(self, value) -> float:
        """``value`` as a float, or ``ValueError`` naming the parameter and the value."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(float(value)):
            raise ValueError(f"{self.name} must be a real number {self.expect}, got {value!r}")
        if not self.check(float(value)):
            raise ValueError(f"{self.name} must be {self.expect}, got {value!r}")
        return float(value)


@dataclass(frozen=True)
class Rule:
    """A selection rule and everything the configuration needs to know about it."""

    name: str
    select: Callable  # select(stats, eligible, *, k, params) -> BoolTensor [B, L]
    params: tuple[Param, ...] = ()  # the rule's own parameters, all required
    fixed_count: bool = False  # commits ``tokens_per_step`` positions per step (else adaptive, k must be 1)
    needs_noise: bool = False  # draws random numbers (the random order), so it needs a seed or generator
    label: str = ""  # the name its sweep labels start with (default: the name), e.g. "fast"
    revoke: Callable | None = None  # revoke(stats, revocable, commit, *, params) -> BoolTensor [B, L] (module docstring)
    history_length: Callable | None = None  # params -> H, the earlier steps' KLs kept per position
    needs_prior: bool = False  # reads stats["prior"], a static per-token prior given to generate
    check: Callable | None = None  # check(params) raises ValueError on a bad combination of parameters

    def __call__(self, stats, eligible, *, k, params):
        return self.select(stats, eligible, k=k, params=params)

    def example_params(self) -> dict[str, float]:
        """A valid value of every parameter (its ``example``, else its first sweep value): what tests
        decode with; ``ValueError`` naming a parameter that has neither."""
        out = {}
        for param in self.params:
            value = param.example if param.example is not None else (param.sweep or (None,))[0]
            if value is None:
                raise ValueError(f"rule {self.name!r}: parameter {param.name!r} has no example value; register it with "
                                 f"Param(..., example=...)")
            out[param.name] = value
        return out


RULES: dict[str, Rule] = {}


def register_rule(name: str, *, params: Sequence[Param] = (), fixed_count: bool = False, needs_noise: bool = False,
                  label: str = "", revoke: Callable | None = None, history_length: Callable | None = None, needs_prior: bool = False,
                  check: Callable | None = None):
    """Decorator: register ``select`` as the rule ``name`` (the ``sampler`` users pass). Its
    parameters become keywords of ``DecodeConfig``/``generate``, validated by ``Param.check`` (and
    ``check`` for combinations); those with ``sweep`` values put the rule into notebook 03's sweep
    (``engine.grids``); the other keywords ask the engine for state (module docstring)."""
    if not name.isidentifier() or name in RULES:
        raise ValueError(f"rule name must be a new identifier, got {name!r} (registered: {sorted(RULES)})")

    def register(select):
        RULES[name] = Rule(name, select, tuple(params), fixed_count, needs_noise, label or name, revoke, history_length, needs_prior, check)
        return select

    return register


def load_rule_modules(modules: Sequence[str]) -> list[str]:
    """Import the modules that register more rules: module names (``my_package.rules``) or paths of
    ``.py`` files. A module already imported is not run again (its rules stay registered once).
    Returns the names of the rules registered by this call; ``ValueError`` names a module that
    cannot be found."""
    before = set(RULES)
    for module in modules:
        if module.endswith(".py"):
            path = Path(module).resolve()
            if not path.is_file():
                raise ValueError(f"rule module {module!r}: no such file")
            name = f"_rules_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, path)
                loaded = importlib.util.module_from_spec(spec)
                sys.modules[name] = loaded
                try:
                    spec.loader.exec_module(loaded)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                raise ValueError(f"rule module {module!r} cannot be imported ({err}); give a module name on the path "
                                 "or a .py file") from None
    return [name for name in RULES if name not in before]


def rule_param_names() -> tuple[str, ...]:
    """Every parameter name any registered rule takes."""
    return tuple(sorted({p.name for rule in RULES.values() for p in rule.params}))


def _ranks(score: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Rank of every position by ``score`` (higher first) among the eligible ones of its row;
    ties keep column order (stable sort); ineligible positions get rank >= the eligible count."""
    masked = torch.where(eligible, score.to(torch.float64), torch.tensor(-INF, dtype=torch.float64))
    order = torch.sort(masked, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(score.shape[1], device=score.device).expand_as(order))
    return ranks


def _top(score: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Commit the ``count`` [B] best-scoring eligible positions of each row."""
    return eligible & (_ranks(score, eligible) < count[:, None])


def _at_least_one(commit: torch.Tensor, score: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Add each row's best position where the rule committed nothing (progress guarantee)."""
    best = _top(score, eligible, torch.ones(score.shape[0], dtype=torch.long, device=score.device))
    return commit | (best & ~commit.any(1, keepdim=True))


def _sorted_prefix(values: torch.Tensor, eligible: torch.Tensor, ascending: bool):
    """Sort each row's eligible values; return (sorted values with +inf/-inf padding, ranks)."""
    score = -values if ascending else values
    ranks = _ranks(score, eligible)
    fill = INF if ascending else -INF
    padded = torch.where(eligible, values.to(torch.float64), torch.tensor(fill, dtype=torch.float64))
    return torch.sort(padded, dim=1, descending=not ascending, stable=True).values, ranks


_MED_LAMBDA = Param("med_lambda", lambda v: v >= 0, ">= 0", "MED entropy threshold λ, nats", example=0.3,
                   sweep=(0.05, 0.2, 0.5, 1.0), symbol="λ")


@register_rule("l2r", fixed_count=True)
def l2r(stats, eligible, *, k, params):
    """Left-to-right: the ``k`` leftmost masked positions (the paper's baseline; equals block size 1)."""
    return _top(-stats["position"].to(torch.float64), eligible, _count(k, eligible))


@register_rule("random", fixed_count=True, needs_noise=True)
def random_order(stats, eligible, *, k, params):
    """``k`` uniformly random masked positions (ancestral-style order; MDLM, Dream ``origin``)."""
    return _top(stats["uniform"], eligible, _count(k, eligible))


@register_rule("confidence", fixed_count=True)
def confidence(stats, eligible, *, k, params):
    """``k`` positions with the highest probability of their chosen token (LLaDA low-confidence
    remasking, Dream ``maskgit_plus``)."""
    return _top(stats["confidence"], eligible, _count(k, eligible))


@register_rule("margin", fixed_count=True)
def margin(stats, eligible, *, k, params):
    """``k`` positions with the largest top-1 minus top-2 probability (Dream ``topk_margin``)."""
    return _top(stats["margin"], eligible, _count(k, eligible))


@register_rule("entropy", fixed_count=True)
def entropy(stats, eligible, *, k, params):
    """``k`` positions with the lowest entropy (the paper's main any-order sampler; Dream ``entropy``)."""
    return _top(-stats["entropy"], eligible, _count(k, eligible))


@register_rule("med", params=[_MED_LAMBDA])
def med(stats, eligible, *, k, params):
    """MED, per-token reading (docs/decisions.md, "MED rule": the per-token reading, the default): commit every eligible position
    with entropy < λ (``med_lambda``); if none, the single lowest-entropy one (docs/decisions.md, "MED fallback")."""
    commit = eligible & (stats["entropy"] < params["med_lambda"])
    return _at_least_one(commit, -stats["entropy"], eligible)


@register_rule("med_budget", params=[_MED_LAMBDA])
def med_budget(stats, eligible, *, k, params):
    """MED, cumulative reading (docs/decisions.md, "MED rule": the cumulative reading): sort by entropy, commit the longest prefix
    whose entropy sum is <= λ (``med_lambda``); at least one position. Bounds each step's KL by λ."""
    values, ranks = _sorted_prefix(stats["entropy"], eligible, ascending=True)
    n = (torch.cumsum(values, 1) <= params["med_lambda"]).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


@register_rule("eb", params=[Param("eb_gamma", lambda v: v >= 0, ">= 0", "EB-Sampler error budget, nats", example=0.3,
                                   sweep=(0.05, 0.2, 0.5, 1.0), symbol="γ")])
def eb(stats, eligible, *, k, params):
    """EB-Sampler (Ben-Hamu et al. 2025): sort by entropy, commit the longest prefix
    U with sum(H_U) - max(H_U) <= γ (``eb_gamma``). Sorted ascending, max is the last element, so
    the test on a prefix of length n is: sum of its first n-1 entropies <= γ (n = 1 always passes)."""
    values, ranks = _sorted_prefix(stats["entropy"], eligible, ascending=True)
    before = torch.cumsum(values, 1) - values  # sum of the previous entries
    n = (before <= params["eb_gamma"]).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


@register_rule("fast_threshold", label="fast", params=[Param("tau", lambda v: 0 < v <= 1, "in (0, 1]", "Fast-dLLM confidence threshold",
                                                             example=0.9, sweep=(0.99, 0.9, 0.7, 0.5), symbol="τ")])
def fast_threshold(stats, eligible, *, k, params):
    """Fast-dLLM threshold rule (NVlabs/Fast-dLLM ``llada/generate.py``): every eligible position with
    confidence >= τ (``tau``), and always the most confident one."""
    commit = eligible & (stats["confidence"] >= params["tau"])
    return _at_least_one(commit, stats["confidence"], eligible)


@register_rule("fast_factor", label="fast", params=[Param("factor", lambda v: v > 0, "> 0", "Fast-dLLM factor f", example=1.0,
                                                          sweep=(0.5, 1.0, 2.0, 4.0), symbol="f")])
def fast_factor(stats, eligible, *, k, params):
    """Fast-dLLM factor rule: sort confidences c_1 >= c_2 >= ...; commit the top n while
    (i + 1)(1 - c_i) < f for every i <= n (``factor``); at least one. (Fast-dLLM's code adds one
    position in an edge case of its scan; we follow the stated rule.)"""
    values, ranks = _sorted_prefix(stats["confidence"], eligible, ascending=False)
    i = torch.arange(1, values.shape[1] + 1, device=values.device, dtype=torch.float64)
    ok = ((i + 1) * (1 - values) < params["factor"]) & torch.isfinite(values)
    n = torch.cumprod(ok.to(torch.long), 1).sum(1).clamp(min=1)
    return eligible & (ranks < n[:, None])


def _count(k: int, eligible: torch.Tensor) -> torch.Tensor:
    return torch.full((eligible.shape[0],), k, dtype=torch.long, device=eligible.device)
