"""The verdict words of the claims table and the tests behind them, on plain numbers.

Every claim of the paper is judged by one of five tests, each a function below that takes our
estimate with its interval and the paper's number, and returns a :class:`Verdict` (a word and a
one-sentence reason). ``docs/verdicts.md`` is written from these definitions.

- :func:`against_value` (a number or a range the paper reports): our 95% interval against it.
- :func:`against_effect` (a difference the paper reports): our difference as a ratio to the paper's.
- :func:`no_loss` ("keeps accuracy", "does not beat"): two one-sided tests within ``MARGIN``.
- :func:`against_baseline` (a method with no number in the paper): against chance and a baseline.
- :func:`direction` (a direction the paper states without a comparable number).

A claim with several parts takes its least favourable part's verdict (:func:`worst`).

Intervals, in fraction units (0.034 = 3.4 points): :func:`paired_difference` (two decodings of the
same problems, Tango's score interval), :func:`unpaired_difference` (Newcombe's hybrid score
interval, used when per-problem pairing was not recorded: wider than the paired one when the two
decodings agree on most problems, so conservative), :func:`seeded_difference` (arms averaged over
training seeds) and :func:`counts_from_p_value` (the paired counts behind a recorded exact McNemar
p-value, when they are the only counts that give it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mdlm_study import stats

REPRODUCED = "reproduced"
EQUIVALENT = "equivalent"
SMALLER = "smaller effect"
LARGER = "larger effect"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
MISSING = "missing"
# least favourable first: a claim with several parts takes the first of its parts' words in this order
VERDICTS = (MISSING, NOT_REPRODUCED, INCONCLUSIVE, SMALLER, LARGER, EQUIVALENT, REPRODUCED)
# a seed "holds" the claim when its verdict shows the claimed direction
HOLDING = (REPRODUCED, EQUIVALENT, SMALLER, LARGER)
DEFINITIONS = {
    REPRODUCED: "our interval agrees with the paper's number, range or effect size (for a direction-only claim: our "
                "interval lies on the claimed side of zero)",
    EQUIVALENT: "a claim of no difference, shown: the 90% interval of the difference lies inside ±1 point "
                "(two one-sided tests at the 5% level)",
    SMALLER: "the paper's direction, beyond the noise, but the effect is smaller than the paper's: the interval of "
             "its ratio to the paper's effect lies between 0 and 1",
    LARGER: "the paper's direction, beyond the noise, and larger than the paper's: the ratio interval lies above 1",
    NOT_REPRODUCED: "our interval excludes the paper's number or range, shows the opposite direction, or shows no "
                    "effect while excluding the paper's size (or, against a baseline, does not beat chance or loses to it)",
    INCONCLUSIVE: "our interval is too wide to tell: it holds both no effect and the paper's size, or neither a "
                  "difference nor equivalence is shown, or the method beats chance but overlaps its baseline",
    MISSING: "the notebook that measures the claim did not write the numbers it needs",
}

LEVEL = 0.95  # every interval of the table is 95% ...
TOST_LEVEL = 0.90  # ... except the equivalence test's, which is 1 - 2 alpha at alpha = 0.05
MARGIN = 0.01  # equivalence margin: 1 point of accuracy
APPROXIMATE = 0.2  # the paper's "approximately x" is read as x +- 20%


@dataclass(frozen=True)
class Verdict:
    word: str
    reason: str


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval (``level``) and how the interval was computed."""

    estimate: float
    low: float
    high: float
    method: str
    level: float = LEVEL


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ci(iv: Interval, points: bool = True) -> str:
    return f"{_pts(iv.low)} to {_pts(iv.high)}" if points else f"{iv.low:.3g}–{iv.high:.3g}"


# ---------------------------------------------------------------------------------------------------
# Intervals


def wilson(p: float, n: float, *, level: float = LEVEL) -> Interval:
    """A proportion ``p`` of ``n`` (possibly an effective, non-integer n) with Wilson's interval."""
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    low, high = stats.wilson_interval(p * n, n, z=stats._z(level))
    return Interval(p, low, high, f"Wilson, n = {n:g}", level)


def unpaired_difference(a: float, n_a: float, b: float, n_b: float, *, level: float = LEVEL) -> Interval:
    """``b - a`` for two proportions treated as independent, with Newcombe's (1998) hybrid score
    interval (method 10's unpaired form): ``low = d - sqrt((b - l_b)^2 + (u_a - a)^2)``,
    ``high = d + sqrt((u_b - b)^2 + (a - l_a)^2)``, (l, u) each proportion's Wilson interval."""
    la, ua = stats.wilson_interval(a * n_a, n_a, z=stats._z(level))
    lb, ub = stats.wilson_interval(b * n_b, n_b, z=stats._z(level))
    d = b - a
    low = d - math.sqrt((b - lb) ** 2 + (ua - a) ** 2)
    high = d + math.sqrt((ub - b) ** 2 + (a - la) ** 2)
    return Interval(d, low, high, "unpaired (Newcombe), pairing not recorded", level)


def paired_difference(n: int, only_reference: int, only_this: int, *, level: float = LEVEL) -> Interval:
    """``this - reference`` on the same ``n`` problems from the discordant counts (Tango's score interval)."""
    r = stats.paired_difference_ci_from_counts(int(n), int(only_reference), int(only_this), level=level)
    return Interval(r["difference"], r["low"], r["high"], f"paired (Tango), {only_reference} / {only_this} discordant", level)


def counts_from_p_value(n: int, difference: float, p_value: float) -> tuple[int, int] | None:
    """The discordant counts ``(only_reference, only_this)`` behind an exact McNemar ``p_value`` of a
    paired ``difference`` (this minus reference, fraction units) on ``n`` problems, or None when several
    counts give the same p-value (e.g. a difference of one problem, where p = 1 for any count).

    ``only_this - only_reference = round(n difference)`` is fixed, and the exact p-value grows with the
    number of discordant problems, so at most one count matches when the difference is two or more."""
    gap = round(n * difference)
    matches = []
    for s in range(abs(gap), n + 1, 2):
        only_this, only_ref = (s + gap) // 2, (s - gap) // 2
        if math.isclose(stats._mcnemar_p(only_ref, only_this), p_value, rel_tol=1e-9, abs_tol=1e-15):
            matches.append((only_ref, only_this))
    return matches[0] if len(matches) == 1 else None


def recorded_difference(n: int, reference: float, this: float, p_value: float | None = None,
                        counts: tuple[int, int] | None = None, *, level: float = LEVEL) -> Interval:
    """The best interval the records allow for ``this - reference`` on the same ``n`` problems: paired
    from ``counts`` or from the counts behind ``p_value``, else unpaired (conservative)."""
    if counts is None and p_value is not None:
        counts = counts_from_p_value(n, this - reference, p_value)
    if counts is not None:
        return paired_difference(n, *counts, level=level)
    return unpaired_difference(reference, n, this, n, level=level)


def seeded_difference(a: Sequence[float], b: Sequence[float], n_problems: int, *, level: float = LEVEL) -> Interval:
    """``mean(b) - mean(a)`` for two arms, each the accuracies of one or more training seeds on the
    same ``n_problems``: a normal interval with each arm's variance ``p (1 - p) / n_problems + s^2 / S``
    (binomial over problems, plus the spread s^2 of its S seeds; 0 for one seed), the arms independent
    (conservative: they share problems)."""
    def mean_var(xs):
        xs = [float(x) for x in xs]
        if not xs:
            raise ValueError("an arm needs at least one seed's accuracy")
        m = sum(xs) / len(xs)
        spread = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
        return m, m * (1 - m) / n_problems + spread / len(xs)

    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    half = stats._z(level) * math.sqrt(va + vb)
    return Interval(mb - ma, mb - ma - half, mb - ma + half, f"normal, {len(a)} / {len(b)} seeds x {n_problems} problems", level)


# ---------------------------------------------------------------------------------------------------
# Tests


def against_value(iv: Interval, paper_low: float, paper_high: float, *, points: bool = False) -> Verdict:
    """*reproduced* when our interval overlaps the paper's number or range, *not reproduced* when it
    lies entirely below or above it (:func:`stats.interval_vs_range`)."""
    r = stats.interval_vs_range(iv.low, iv.high, paper_low, paper_high)
    paper = f"{paper_low:.3g}" if paper_low == paper_high else f"{paper_low:.3g}–{paper_high:.3g}"
    ours = f"our {100 * iv.level:.0f}% interval {_ci(iv, points=False)}"
    if r["relation"] == "inside":
        return Verdict(REPRODUCED, f"{ours} overlaps the paper's {paper}")
    return Verdict(NOT_REPRODUCED, f"{ours} lies {r['relation']} the paper's {paper} (gap {r['gap']:.3g})")


def against_effect(iv: Interval, paper: float) -> Verdict:
    """Our difference as a ratio to the paper's (:func:`stats.effect_ratio`, the paper's number taken as
    exact). The ratio interval decides: containing 1 and excluding 0, *reproduced*; above 1, *larger
    effect*; between 0 and 1 (both excluded), *smaller effect*; containing both 0 and 1,
    *inconclusive*; below 0 (the opposite direction), or containing 0 but not 1 (no effect shown and
    the paper's size excluded), *not reproduced*."""
    r = stats.effect_ratio(iv.estimate, min(iv.low, iv.estimate), max(iv.high, iv.estimate), paper)
    size = f"ratio to the paper's {_pts(paper)} points: {r['ratio']:.2f} ({r['low']:.2f} to {r['high']:.2f})"
    has_zero, has_one = r["low"] <= 0 <= r["high"], r["low"] <= 1 <= r["high"]
    if r["direction"] == "opposite":
        return Verdict(NOT_REPRODUCED, f"the opposite direction: {_pts(iv.estimate)} points ({_ci(iv)}); {size}")
    if has_zero and has_one:
        return Verdict(INCONCLUSIVE, f"the interval ({_ci(iv)} points) holds both no effect and the paper's size; {size}")
    if has_zero:
        return Verdict(NOT_REPRODUCED, f"no effect shown ({_ci(iv)} points) and the paper's size excluded; {size}")
    if has_one:
        return Verdict(REPRODUCED, f"same direction, size compatible with the paper's; {size}")
    return Verdict(LARGER if r["low"] > 1 else SMALLER, f"same direction, {'larger' if r['low'] > 1 else 'smaller'} than the paper's; {size}")


def no_loss(iv95: Interval, iv90: Interval, *, denied: int = -1, margin: float = MARGIN) -> Verdict:
    """A claim that one decoding does not lose to (``denied=-1``) or does not beat (``denied=+1``)
    another. *not reproduced* when the 95% interval excludes 0 on the denied side; *equivalent* when
    the 90% interval lies inside (-margin, +margin) (two one-sided tests at alpha = 0.05, Schuirmann's
    TOST); *reproduced* when the 95% interval excludes 0 on the other side (better than claimed);
    else *inconclusive*."""
    if denied not in (-1, 1):
        raise ValueError(f"denied must be -1 or +1, got {denied}")
    denied_side = iv95.high < 0 if denied == -1 else iv95.low > 0
    other_side = iv95.low > 0 if denied == -1 else iv95.high < 0
    where = f"{_pts(iv95.estimate)} points (95% {_ci(iv95)}; 90% {_ci(iv90)}; {iv95.method})"
    if denied_side:
        return Verdict(NOT_REPRODUCED, f"{'a loss' if denied == -1 else 'a gain'} beyond the noise: {where}")
    if -margin < iv90.low and iv90.high < margin:
        return Verdict(EQUIVALENT, f"within ±{100 * margin:g} point by two one-sided tests: {where}")
    if other_side:
        return Verdict(REPRODUCED, f"{'better' if denied == -1 else 'worse'} beyond the noise: {where}")
    return Verdict(INCONCLUSIVE, f"neither a difference nor equivalence within ±{100 * margin:g} point shown: {where}")


def faster_within(iv95: Interval, speedup: float, *, min_speedup: float, margin: float = MARGIN) -> Verdict:
    """A speed target: at least ``min_speedup`` times fewer forward passes while losing at most
    ``margin`` of accuracy (non-inferiority at that margin). *reproduced* when the speed-up reaches
    the target and the 95% interval's lower end lies above -margin; *not reproduced* when the speed-up
    falls short or the whole interval lies below -margin (a loss larger than the margin, shown); else
    *inconclusive*."""
    where = f"{speedup:.2f}x fewer NFE, {_pts(iv95.estimate)} points (95% {_ci(iv95)}; {iv95.method})"
    if speedup < min_speedup - 1e-9:
        return Verdict(NOT_REPRODUCED, f"short of the {min_speedup:g}x target: {where}")
    if iv95.high < -margin:
        return Verdict(NOT_REPRODUCED, f"a loss beyond {100 * margin:g} point: {where}")
    if iv95.low > -margin:
        return Verdict(REPRODUCED, f"at least {min_speedup:g}x fewer NFE, non-inferior at a {100 * margin:g}-point margin: {where}")
    return Verdict(INCONCLUSIVE, f"a loss of {100 * margin:g} point neither excluded nor shown: {where}")


def against_baseline(iv: Interval, *, chance: float, baseline: Interval, name: str = "baseline") -> Verdict:
    """A method the paper proposes without a number: *reproduced* when its interval lies above chance
    and above the baseline's interval; *not reproduced* when it does not exceed chance or lies below
    the baseline's interval; *inconclusive* when above chance but overlapping the baseline."""
    ours = f"{iv.estimate:.3g} ({_ci(iv, points=False)})"
    base = f"{name} {baseline.estimate:.3g} ({_ci(baseline, points=False)})"
    if iv.low <= chance:
        return Verdict(NOT_REPRODUCED, f"{ours} does not exceed chance ({chance:.3g})")
    if iv.high < baseline.low:
        return Verdict(NOT_REPRODUCED, f"{ours} beats chance ({chance:.3g}) but lies below the {base}")
    if iv.low > baseline.high:
        return Verdict(REPRODUCED, f"{ours} lies above chance ({chance:.3g}) and above the {base}")
    return Verdict(INCONCLUSIVE, f"{ours} beats chance ({chance:.3g}) but overlaps the {base}")


def direction(iv: Interval, *, sign: int = 1) -> Verdict:
    """A direction without a comparable number: *reproduced* when the 95% interval excludes 0 on the
    claimed side (``sign``), *not reproduced* on the other, else *inconclusive*."""
    where = f"{_pts(iv.estimate)} points (95% {_ci(iv)}; {iv.method})"
    if (iv.low > 0) if sign > 0 else (iv.high < 0):
        return Verdict(REPRODUCED, f"the claimed direction beyond the noise: {where}")
    if (iv.high < 0) if sign > 0 else (iv.low > 0):
        return Verdict(NOT_REPRODUCED, f"the opposite direction beyond the noise: {where}")
    return Verdict(INCONCLUSIVE, f"no difference shown: {where}")


def worst(*parts: Verdict, labels: Sequence[str] | None = None) -> Verdict:
    """The least favourable of several parts' verdicts (order of :data:`VERDICTS`), the reasons joined."""
    if not parts:
        raise ValueError("worst needs at least one verdict")
    word = min((p.word for p in parts), key=VERDICTS.index)
    labels = labels or [""] * len(parts)
    reason = "; ".join(f"{label}: {p.word}, {p.reason}" if label else p.reason for label, p in zip(labels, parts, strict=True))
    return Verdict(word, reason if len(parts) > 1 else parts[0].reason)
