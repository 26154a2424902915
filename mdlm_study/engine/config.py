"""``DecodeConfig``: every decoding setting in one frozen, validated, serialisable object.

    DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1, block_size=32)

- the rule (``sampler``, a name of ``rules.RULES``) and its own parameters (``med_lambda``,
  ``eb_gamma``, ``tau``, ``factor``, or whatever a registered rule declares), checked against the
  rule's ``Param`` specs: each rule owns its parameters, so adding one touches only its module;
- ``tokens_per_step`` (fixed-count rules), ``block_size`` (LLaDA's semi-autoregressive blocks,
  ``None`` = the whole canvas), ``temperature`` (0 = argmax);
- the early exit on the answer slot: ``exit_rule`` (``"entropy"``: H_UB < ``exit_gamma``, the
  paper's rule; ``"prophet"``: Prophet's logit-gap rule, ``prophet_thresholds``) or none;
- ``answer_last`` (the answer slot decoded after the reasoning, docs/decisions.md, "Answer slot decoded last"),
  ``suppress_token_ids`` (never committed inside masked positions, e.g. EOS in the reasoning);
- ``seed``: the seed policy. Row r (problem index) and sample s of a decoded set get their own
  random stream, a pure function of ``(seed, r, s)`` (``decoding.row_generator``), so the same seed
  gives the same bits whatever the batch size, the batch order or the number of processes.

Every ``ValueError`` names the bad value. ``to_dict()`` / ``from_dict()`` round-trip exactly (rule
parameters sit at the top level of the dict, as in the result records); ``replace(...)`` derives
variants and validates them again.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields

from mdlm_study.core.checks import int_at_least, is_int
from mdlm_study.engine import rules as _rules
from mdlm_study.engine.exit import EXIT_RULES, PROPHET_THRESHOLDS


@dataclass(frozen=True, init=False)
class DecodeConfig:
    sampler: str  # selection rule, a key of rules.RULES
    rule_params: tuple[tuple[str, float], ...]  # the rule's own parameters, sorted by name
    tokens_per_step: int  # positions per step for fixed-count rules (1 for adaptive rules)
    block_size: int | None  # semi-autoregressive block size; None = the whole canvas
    temperature: float  # 0 = argmax; > 0 = Gumbel-max sampling at this temperature
    exit_rule: str | None  # None, "entropy" (H_UB < exit_gamma) or "prophet"
    exit_gamma: float | None  # the entropy exit's threshold γ, nats (inf: exit on the first pass)
    prophet_thresholds: tuple[float, float, float] | None  # Prophet's phase thresholds (prophet exit only)
    answer_last: bool  # the answer slot becomes eligible once the reasoning is committed (docs/decisions.md)
    suppress_token_ids: tuple[int, ...]  # token ids never committed at masked positions
    seed: int  # seeds every random stream (per row and sample)

    def __init__(self, sampler: str = "entropy", *, tokens_per_step=1, block_size=None, temperature=0.0, exit_rule=None,
                 exit_gamma=None, prophet_thresholds=None, answer_last: bool = True, suppress_token_ids=(), seed=0,
                 rule_params=(), **params):
        rule = _rule(sampler)
        given = dict(rule_params.items() if isinstance(rule_params, Mapping) else rule_params)
        given.update(params)
        exit_rule, exit_gamma, thresholds = _exit(exit_rule, exit_gamma, prophet_thresholds)
        values = {
            "sampler": sampler,
            "rule_params": _rule_params(rule, given),
            "tokens_per_step": _count("tokens_per_step", tokens_per_step, rule),
            "block_size": None if block_size is None else int_at_least("block_size", block_size),
            "temperature": _non_negative("temperature", temperature, allow_inf=False),
            "exit_rule": exit_rule,
            "exit_gamma": exit_gamma,
            "prophet_thresholds": thresholds,
            "answer_last": _bool("answer_last", answer_last),
            "suppress_token_ids": _token_ids(suppress_token_ids),
            "seed": int_at_least("seed", seed, 0),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def coerce(cls, config=None, defaults: Mapping | None = None, **settings) -> DecodeConfig:
        """The configuration of a call that takes ``config`` or loose decoding keywords: ``config``
        itself (a ``DecodeConfig`` or a dict of :meth:`to_dict`'s form), else ``DecodeConfig(**defaults,
        **settings)``. Validated here, at the caller's entry point, so a misspelt name fails at once;
        ``ValueError`` when both ``config`` and keywords are given."""
        if config is not None:
            if settings:
                raise ValueError(f"pass either config= or decoding keywords, not both (got config and {sorted(settings)})")
            if isinstance(config, Mapping):
                return cls.from_dict(config)
            if not isinstance(config, cls):
                raise ValueError(f"config must be a DecodeConfig or a dict, got {type(config).__name__}")
            return config
        return cls(**{**(defaults or {}), **settings})

    BOOL_FIELDS = ("answer_last",)  # the boolean settings (for parsers of string-valued options)

    # ---- reading ----
    @property
    def rule(self) -> _rules.Rule:
        return _rules.RULES[self.sampler]

    @property
    def params(self) -> dict[str, float]:
        """The rule's parameters as a dict (what the rule function receives)."""
        return dict(self.rule_params)

    @property
    def needs_noise(self) -> bool:
        """Whether decoding draws random numbers (sampling, or a random order)."""
        return self.temperature > 0 or self.rule.needs_noise

    def __getattr__(self, name: str):
        """Rule parameters read as attributes (``config.med_lambda``); ``None`` for a parameter of
        another rule, so every config answers every record key."""
        if name in _rules.rule_param_names():
            return dict(object.__getattribute__(self, "rule_params")).get(name)
        raise AttributeError(f"DecodeConfig has no attribute {name!r}")

    # ---- serialising ----
    def to_dict(self) -> dict:
        """A flat JSON-ready dict: the fields, with the rule's parameters at the top level."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rule_params"}
        out.update(self.rule_params)
        for name in ("suppress_token_ids", "prophet_thresholds"):
            out[name] = None if out[name] is None else list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> DecodeConfig:
        """The inverse of :meth:`to_dict` (keys that are not fields are the rule's parameters;
        ``None`` values of other rules' parameters, as records hold them, are dropped)."""
        data = dict(data)
        names = {f.name for f in fields(cls)} - {"rule_params"}
        unknown = [k for k in data if k not in names and k not in _rules.rule_param_names()]
        if unknown:
            raise ValueError(f"unknown DecodeConfig key(s) {sorted(unknown)}; fields: {sorted(names)}, "
                             f"rule parameters: {list(_rules.rule_param_names())}")
        params = {k: v for k, v in data.items() if k not in names and v is not None}
        return cls(**{k: v for k, v in data.items() if k in names}, **params)

    def replace(self, **changes) -> DecodeConfig:
        """A validated copy with ``changes`` (fields or rule parameters). Changing the sampler drops
        the old rule's parameters unless they are passed again."""
        data = self.to_dict()
        if "sampler" in changes and changes["sampler"] != self.sampler:
            for name, _ in self.rule_params:
                data.pop(name)
        data.update(changes)
        return DecodeConfig.from_dict(data)

    def label(self) -> str:
        """A short readable name, e.g. ``"med λ=0.2 + exit γ=0.1, blocks of 8"``."""
        text = self.sampler + "".join(f" {_SYMBOLS.get(k, k)}={v:g}" for k, v in self.rule_params)
        if self.rule.fixed_count:
            text += f" k={self.tokens_per_step}"
        if self.exit_rule == "entropy":
            text += f" + exit γ={self.exit_gamma:g}"
        elif self.exit_rule == "prophet":
            text += " + prophet"
        if self.temperature:
            text += f", T={self.temperature:g}"
        if self.block_size:
            text += f", blocks of {self.block_size}"
        return text


_SYMBOLS = {"med_lambda": "λ", "eb_gamma": "γ_EB", "tau": "τ", "factor": "f", "wino_tau": "τ", "wino_tau_back": "τ_back",
            "klass_conf": "τ", "klass_kl": "ε_KL", "klass_history": "H", "pc_lambda": "λ_pos", "pc_alpha": "α",
            "leap_tau": "τ", "leap_relaxed_tau": "τ_relaxed", "leap_radius": "r"}


def _rule(sampler) -> _rules.Rule:
    if sampler not in _rules.RULES:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(_rules.RULES)}")
    return _rules.RULES[sampler]


def _rule_params(rule: _rules.Rule, given: dict) -> tuple[tuple[str, float], ...]:
    """The rule's parameters, each present and in range; a parameter of another rule is an error."""
    own = {p.name: p for p in rule.params}
    unknown = sorted(set(given) - set(own))
    if unknown:
        takes = f"takes {sorted(own)}" if own else "takes no parameters"
        raise ValueError(f"unknown rule parameter(s) {unknown} for sampler {rule.name!r}, which {takes}")
    missing = sorted(set(own) - set(given))
    if missing:
        raise ValueError(f"sampler {rule.name!r} needs {', '.join(f'{m}=...' for m in missing)}")
    values = tuple(sorted((name, own[name].validate(value)) for name, value in given.items()))
    if rule.check is not None:
        rule.check(dict(values))
    return values


def _exit(rule, gamma, thresholds):
    """(exit_rule, exit_gamma, prophet_thresholds), normalised: a γ alone means the entropy rule."""
    if rule is None and gamma is not None:
        rule = "entropy"
    if rule is not None and rule not in EXIT_RULES:
        raise ValueError(f"unknown exit_rule {rule!r}; expected None or one of {EXIT_RULES}")
    if rule == "entropy":
        if gamma is None:
            raise ValueError("exit_rule='entropy' needs exit_gamma=... (the H_UB threshold, nats)")
        gamma = _non_negative("exit_gamma", gamma, allow_inf=True)
    elif gamma is not None:
        raise ValueError(f"exit_gamma={gamma!r} only applies to exit_rule='entropy', not {rule!r}")
    if rule == "prophet":
        thresholds = tuple(PROPHET_THRESHOLDS if thresholds is None else thresholds)
        if len(thresholds) != 3 or not all(_is_real(t) and math.isfinite(t) for t in thresholds):
            raise ValueError(f"prophet_thresholds must be three finite numbers (early, mid, late), got {thresholds!r}")
        thresholds = tuple(float(t) for t in thresholds)
    elif thresholds is not None:
        raise ValueError(f"prophet_thresholds={thresholds!r} only apply to exit_rule='prophet', not {rule!r}")
    return rule, gamma, thresholds


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _count(name: str, value, rule: _rules.Rule) -> int:
    value = int_at_least(name, value)
    if value != 1 and not rule.fixed_count:
        fixed = sorted(r.name for r in _rules.RULES.values() if r.fixed_count)
        raise ValueError(f"{name}={value} only applies to the fixed-count rules {fixed}, not {rule.name!r}")
    return value


def _non_negative(name: str, value, *, allow_inf: bool) -> float:
    if not _is_real(value) or math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number >= 0, got {value!r}")
    return float(value)


def _bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _token_ids(values) -> tuple[int, ...]:
    if values is None:
        return ()
    if is_int(values) or isinstance(values, (str, bytes)):
        raise ValueError(f"suppress_token_ids must be a sequence of token ids, got {values!r}")
    ids = tuple(values)
    bad = [v for v in ids if not is_int(v) or v < 0]
    if bad:
        raise ValueError(f"suppress_token_ids must hold ints >= 0, got {bad}")
    return tuple(sorted({int(v) for v in ids}))


# ---- command lines: one flag per field and per rule parameter, generated from the specs ----
_FLAGS = (  # (field, type, help); bools take true/false
    ("tokens_per_step", int, "positions per step for the fixed-count rules"),
    ("block_size", int, "semi-autoregressive block size (default: the whole canvas)"),
    ("temperature", float, "0 = argmax; > 0 samples at this temperature"),
    ("exit_rule", str, f"early exit on the answer slot: one of {EXIT_RULES}"),
    ("exit_gamma", float, "the entropy exit's threshold γ (nats); alone it means --exit-rule entropy"),
    ("answer_last", "bool", "the answer slot waits for the reasoning (true/false)"),
    ("suppress_token_ids", "ids", "comma-separated token ids never committed at masked positions"),
    ("seed", int, "seeds every random stream (per row and sample)"),
)


def add_config_arguments(parser) -> None:
    """Add ``--sampler`` and one ``--flag`` per DecodeConfig field and registered rule parameter to an
    ``argparse`` parser (unset flags keep DecodeConfig's defaults); read back with
    :func:`config_from_arguments`."""
    group = parser.add_argument_group("decoding (mdlm_study.engine.DecodeConfig)")
    group.add_argument("--sampler", default="entropy", choices=sorted(_rules.RULES), help="selection rule")
    for name, kind, help_text in _FLAGS:
        group.add_argument("--" + name.replace("_", "-"), dest=name, default=None, type=str if kind in _PARSERS else kind, help=help_text)
    for rule in _rules.RULES.values():
        for param in rule.params:
            flag = "--" + param.name.replace("_", "-")
            if flag not in group._option_string_actions and flag not in parser._option_string_actions:
                group.add_argument(flag, dest=param.name, default=None, type=float, help=f"{param.doc} ({param.expect}; rule {rule.name})")


def config_from_arguments(args) -> DecodeConfig:
    """The DecodeConfig of parsed arguments (flags added by :func:`add_config_arguments`): the set
    ones, rule parameters only for the chosen rule (another rule's parameter is an error)."""
    values = vars(args)
    settings = {name: _PARSERS[kind](name, values[name]) if kind in _PARSERS else values[name]
                for name, kind, _ in _FLAGS if values.get(name) is not None}
    params = {name: values[name] for name in _rules.rule_param_names() if values.get(name) is not None}
    return DecodeConfig(values["sampler"], **settings, **params)


def _parse_bool_flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"--{name.replace('_', '-')} must be true or false, got {text!r}")
    return lowered == "true"


def _parse_ids(name: str, text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        raise ValueError(f"--{name.replace('_', '-')} must be comma-separated token ids (ints >= 0), got {text!r}")
    return tuple(int(part) for part in parts)


_PARSERS = {"bool": _parse_bool_flag, "ids": _parse_ids}
