"""Where the paper's decoding effects appear: each decoding claim's effect against dependency depth, in
both regimes (docs/decisions.md, "Two regimes").

A seeds record keeps every decoding's per-problem correctness in the problems' order
(:mod:`mdlm_study.experiments.seeds`), so a claim's paired difference can be read on any subset of the
problems without decoding again. :func:`effects_by_depth` groups the problems by their number of steps
(the default regime: 1-3 operations; the deep regime: chains of 2-8) and pools each group's per-seed
paired differences with the seed as the unit (:func:`~mdlm_study.core.verdicts.seed_pooled_difference`,
random effects), as the claims' verdicts of record are pooled; with one seed, that seed's Tango interval.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import pandas as pd

from mdlm_study.core import verdicts as v
from mdlm_study.experiments.seeds import DEEP_SUFFIX, Claim, counts_for_claims, record_recipe, unbits
from mdlm_study.tasks.data import held_out_problems

# The default regime's seeds study decodes held-out problems of one depth: held_out_problems' default number of operations.
DEFAULT_SEEDS_DEPTH = inspect.signature(held_out_problems).parameters["steps"].default


def paired_counts(reference: Sequence[bool], this: Sequence[bool], keep: Sequence[bool]) -> tuple[int, int, int]:
    """``(n, only_reference, only_this)`` over the problems ``keep`` selects."""
    if not len(reference) == len(this) == len(keep):
        raise ValueError(f"reference, this and keep must be of one length, got {len(reference)}, {len(this)} and {len(keep)}")
    rows = [(r, t) for r, t, k in zip(reference, this, keep, strict=True) if k]
    return len(rows), sum(r and not t for r, t in rows), sum(t and not r for r, t in rows)


def depth_interval(strata: Sequence[tuple[int, int, int]]) -> v.Interval:
    """One depth's difference (this minus reference) over the seeds: random effects with the seed as the
    unit, or the one seed's paired interval."""
    strata = [s for s in strata if s[0] > 0]
    if not strata:
        raise ValueError("no seed has a problem of this depth")
    return v.paired_difference(*strata[0]) if len(strata) == 1 else v.seed_pooled_difference(strata)[0]


def effects_by_depth(states: Sequence[Mapping], claims: Sequence[Claim], depths: Mapping[int, Sequence[int]], *, regime: str) -> pd.DataFrame:
    """One row per claim and depth: the pooled difference with its 95% interval, the problems and seeds
    it rests on. ``states``: seeds records of the claims' recipe; ``depths``: each seed's per-problem
    dependency depth, in the order of its decodings (``{seed: [depth, ...]}``); ``regime``: the label the
    rows carry. A claim whose decodings a seed lacks is measured on the others."""
    rows = []
    for claim in claims:
        own = [s for s in states if record_recipe(s) == claim.recipe and counts_for_claims(s)
               and all(claim.reading in s.get("decodings", {}).get(role, {}) for role in (claim.reference, claim.this))]
        if not own:
            continue
        for depth in sorted({d for s in own for d in depths[s["seed"]]}):
            strata = []
            for state in own:
                reference = unbits(state["decodings"][claim.reference][claim.reading])
                this = unbits(state["decodings"][claim.this][claim.reading])
                keep = [d == depth for d in depths[state["seed"]][: len(reference)]]
                if len(keep) != len(reference):
                    raise ValueError(f"seed {state['seed']}: {len(keep)} depths for {len(reference)} decoded problems")
                strata.append(paired_counts(reference, this, keep))
            iv = depth_interval(strata)
            rows.append({"regime": regime, "claim": claim.name.removeprefix("chains_"), "text": claim.text.removesuffix(DEEP_SUFFIX), "depth": depth,
                         "difference": iv.estimate, "low": iv.low, "high": iv.high, "n": sum(s[0] for s in strata),
                         "seeds": sum(s[0] > 0 for s in strata), "paper": claim.paper})
    return pd.DataFrame(rows)


__all__ = ["DEFAULT_SEEDS_DEPTH", "depth_interval", "effects_by_depth", "paired_counts"]
