"""The verdict words of the claims table and the tests behind them, on plain numbers.

Every claim is judged by one of the tests below, each taking our estimate with its interval and the
paper's number and returning a :class:`Verdict` (a word of :data:`VERDICTS` and a one-sentence
reason). ``docs/verdicts.md`` is written from these definitions; each word means one thing
(:data:`DEFINITIONS`).

- :func:`against_value` (a number or a range the paper reports): our 95% interval against it (and
  against the precision the claim asks for, when it asks for one).
- :func:`against_effect` (a difference the paper reports): our difference as a ratio to the paper's.
- :func:`no_loss` ("keeps accuracy", "does not beat"): two one-sided tests within :data:`MARGIN`.
- :func:`against_speedup` (a speed-up the paper reports): our speed-up over seeds against it.
- :func:`faster_within` (our own speed target, :data:`SPEED_TARGET` within :data:`MARGIN`).
- :func:`above_chance` (a method the paper proposes without a number).
- :func:`direction` (a check of our own model, not a claim of the paper).

A claim with several parts takes its least favourable part's verdict (:func:`worst`). Every test
states, in every verdict, the smallest effect it could have detected (:meth:`Interval.detectable`, 80%
power, in the units of its interval; for a speed-up, a factor on the log scale), and the equivalence
test also the smallest margin it could have shown (:meth:`Interval.equivalence_margin`). The margin,
the speed target and the power are constants here, fixed before any run they judge.

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

from mdlm_study.core import stats
from mdlm_study.core.pooling import random_effects, smallest_detectable, t_quantile

REPRODUCED = "reproduced"
LARGER = "larger"
SMALLER = "smaller"
OPPOSITE = "opposite"
NOT_DETECTED = "not detected"
INCONCLUSIVE = "inconclusive"
MISSING = "missing"
# least favourable first: a claim with several parts takes the first of its parts' words in this order
VERDICTS = (MISSING, OPPOSITE, NOT_DETECTED, INCONCLUSIVE, SMALLER, LARGER, REPRODUCED)
# a seed "holds" the claim when its own verdict shows the claimed direction beyond the noise
HOLDING = (REPRODUCED, LARGER, SMALLER)
DEFINITIONS = {
    REPRODUCED: "our interval agrees with the paper: it holds the paper's effect size (and excludes no effect), overlaps the "
                "paper's number or range (no wider than the precision the claim asks for, if it asks for one), or, for a claim "
                "of no difference, lies inside ±1 point (90% interval, two one-sided tests); for a claim with no number, it lies "
                "on the claimed side of zero or chance",
    LARGER: "the paper's direction beyond the noise, and more of it than the paper reports: the interval lies above the "
            "paper's number or range (for a claim of no loss: a gain beyond the noise)",
    SMALLER: "the paper's direction beyond the noise, but less of it than the paper reports: the interval lies between no "
             "effect and the paper's number, or below the paper's range",
    OPPOSITE: "the interval lies beyond zero on the other side from the claim (a loss where the paper keeps accuracy, a gain "
              "where it reports a loss, an effect against the claimed direction)",
    NOT_DETECTED: "the interval holds no effect but excludes the paper's size: an effect as large as the paper's would have "
                  "been seen, and was not",
    INCONCLUSIVE: "the interval is too wide to tell: it holds both no effect and the paper's size, it overlaps the paper's "
                  "number but is wider than the precision the claim asks for, or neither a difference nor equivalence within "
                  "±1 point is shown",
    MISSING: "the records the claim needs were not written",
}

LEVEL = 0.95  # every interval of the table is 95% ...
TOST_LEVEL = 0.90  # ... except the equivalence test's, which is 1 - 2 alpha at alpha = 0.05
MARGIN = 0.01  # equivalence margin: 1 point of accuracy
APPROXIMATE = 0.2  # the paper's "approximately x" is read as x +- 20%
SPEED_TARGET = 3.5  # our own target: at least 3.5x fewer forward passes, within MARGIN of one token per step
POWER = 0.8  # the power at which each test states the smallest effect it could have detected


@dataclass(frozen=True)
class Verdict:
    word: str
    reason: str
    decided_by: str = ""  # for a verdict made of labelled parts (:func:`worst`): the parts that gave its word


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval (``level``), how the interval was computed, and the critical value
    it used (the normal quantile unless a t interval says otherwise; for the smallest detectable effect)."""

    estimate: float
    low: float
    high: float
    method: str
    level: float = LEVEL
    critical: float | None = None

    def detectable(self, power: float = POWER) -> float:
        """The smallest true effect this interval's test detects with probability ``power``
        (:func:`mdlm_study.core.pooling.smallest_detectable`, its standard error read off the half-width)."""
        return smallest_detectable(self.se, level=self.level, power=power, critical=self._critical)

    def equivalence_margin(self, power: float = POWER) -> float:
        """The smallest margin m within which this (1 - 2 alpha) interval's two one-sided tests show
        equivalence with probability ``power`` when the true difference is 0: the estimate must fall
        within m - critical se of 0, so ``m = (critical + z_(1 + power) / 2) se`` (the normal
        approximation, as :meth:`detectable`)."""
        return (self._critical + stats._z(power, "power")) * self.se

    @property
    def _critical(self) -> float:
        return self.critical or stats._z(self.level)

    @property
    def se(self) -> float:
        """The standard error read off the half-width (``(high - low) / 2 / critical``)."""
        return (self.high - self.low) / 2 / self._critical


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


def seed_pooled_difference(strata: Sequence[tuple[int, int, int]], *, level: float = LEVEL) -> tuple[Interval, dict]:
    """``this - reference`` pooled over training seeds with the seed as the unit: each seed's paired
    difference ``(only_this - only_reference) / n`` with its paired variance
    ``((only_reference + only_this) / n - d^2) / n`` (Haldane's 1/2 per cell when that is 0), pooled by
    :func:`mdlm_study.core.pooling.random_effects` (DerSimonian-Laird, Hartung-Knapp; a fixed-effect pooling
    would treat the seeds as the only models there are). ``strata``: one ``(n, only_reference,
    only_this)`` per seed. Returns the interval and the full random-effects result, its prediction
    interval clipped to the differences two accuracies can have, [-1, 1] (``prediction_clipped`` says
    when: a t interval over few, very different seeds can reach past them)."""
    if len(strata) < 2:
        raise ValueError(f"pooling over seeds needs at least 2 seeds, got {len(strata)}")
    estimates, variances = [], []
    for n, only_ref, only_this in strata:
        d = (only_this - only_ref) / n
        var = ((only_ref + only_this) / n - d**2) / n
        if var <= 0:
            n, only_ref, only_this = n + 2, only_ref + 0.5, only_this + 0.5
            d = (only_this - only_ref) / n
            var = ((only_ref + only_this) / n - d**2) / n
        estimates.append(d)
        variances.append(var)
    r = random_effects(estimates, variances, level=level)
    if r["prediction_low"] is not None:
        low, high = max(r["prediction_low"], -1.0), min(r["prediction_high"], 1.0)
        r["prediction_clipped"] = (low, high) != (r["prediction_low"], r["prediction_high"])
        r["prediction_low"], r["prediction_high"] = low, high
    method = f"{r['method']} over {r['k']} seeds, I² {r['i2']:.2f}"
    return Interval(r["estimate"], r["low"], r["high"], method, level, r["critical"]), r


# ---------------------------------------------------------------------------------------------------
# Tests


def _detects(iv: Interval, points: bool = True) -> str:
    """The smallest effect ``iv``'s test detects with :data:`POWER`, in points or in the interval's units."""
    size = f"{100 * iv.detectable():.1f} points" if points else f"{iv.detectable():.3g}"
    return f"smallest effect this test detects with {100 * POWER:.0f}% power: {size}"


def _detects_ratio(iv: Interval) -> str:
    """:func:`_detects` for a ratio (a speed-up) whose interval is built on the log scale: the
    smallest factor by which it would have to differ, ``exp`` of the log interval's detectable effect."""
    if iv.low == iv.high:
        return "one seed, taken as exact: no interval, so no smallest detectable effect to state"
    log = Interval(math.log(iv.estimate), math.log(iv.low), math.log(iv.high), iv.method, iv.level, iv.critical)
    return f"smallest effect this test detects with {100 * POWER:.0f}% power: a factor of {math.exp(log.detectable()):.2f}"


def _equivalence_power(iv90: Interval, margin: float) -> str:
    """The smallest margin the two one-sided tests of ``iv90`` show with :data:`POWER` at no true difference."""
    return (f"smallest margin it shows equivalence within with {100 * POWER:.0f}% power (no true difference): "
            f"±{100 * iv90.equivalence_margin():.1f} points, against ±{100 * margin:g}")


def against_value(iv: Interval, paper_low: float, paper_high: float, *, points: bool = False,
                  precision: float | None = None) -> Verdict:
    """A number or range the paper reports: *reproduced* when our interval overlaps it, *smaller* when
    it lies entirely below, *larger* when entirely above (:func:`stats.interval_vs_range`). With
    ``precision`` (the half-width a claim needs to pin its number down), an interval that overlaps the
    paper's but is wider than that is *inconclusive*: it also holds values far from the paper's."""
    if precision is not None and not (math.isfinite(precision) and precision > 0):
        raise ValueError(f"precision must be a positive number, got {precision!r}")
    r = stats.interval_vs_range(iv.low, iv.high, paper_low, paper_high)
    paper = f"{paper_low:.3g}" if paper_low == paper_high else f"{paper_low:.3g}–{paper_high:.3g}"
    ours = f"our {100 * iv.level:.0f}% interval {_ci(iv, points=points)}"
    power = _detects(iv, points)
    if r["relation"] == "inside":
        half = (iv.high - iv.low) / 2
        if precision is not None and half > precision:
            return Verdict(INCONCLUSIVE, f"{ours} overlaps the paper's {paper} but is too wide to tell (±{half:.3g}, "
                                         f"the claim needs ±{precision:.3g}); {power}")
        return Verdict(REPRODUCED, f"{ours} overlaps the paper's {paper}; {power}")
    word = SMALLER if r["relation"] == "below" else LARGER
    return Verdict(word, f"{ours} lies {r['relation']} the paper's {paper} (gap {r['gap']:.3g}); {power}")


def against_effect(iv: Interval, paper: float) -> Verdict:
    """A difference the paper reports: our difference as a ratio to the paper's (:func:`stats.effect_ratio`,
    the paper's number taken as exact). The ratio interval decides: below 0, *opposite*; holding 0 and
    1, *inconclusive*; holding 0 but not 1, *not detected*; holding 1 but not 0, *reproduced*; above 1,
    *larger*; between 0 and 1, *smaller*."""
    r = stats.effect_ratio(iv.estimate, min(iv.low, iv.estimate), max(iv.high, iv.estimate), paper)
    size = f"ratio to the paper's {_pts(paper)} points: {r['ratio']:.2f} ({r['low']:.2f} to {r['high']:.2f}); {_detects(iv)}"
    has_zero, has_one = r["low"] <= 0 <= r["high"], r["low"] <= 1 <= r["high"]
    if r["direction"] == "opposite":
        return Verdict(OPPOSITE, f"the opposite direction: {_pts(iv.estimate)} points ({_ci(iv)}); {size}")
    if has_zero and has_one:
        return Verdict(INCONCLUSIVE, f"the interval ({_ci(iv)} points) holds both no effect and the paper's size; {size}")
    if has_zero:
        return Verdict(NOT_DETECTED, f"no effect shown ({_ci(iv)} points) and the paper's size excluded; {size}")
    if has_one:
        return Verdict(REPRODUCED, f"same direction, size compatible with the paper's; {size}")
    return Verdict(LARGER if r["low"] > 1 else SMALLER, f"same direction, {'larger' if r['low'] > 1 else 'smaller'} than the paper's; {size}")


def no_loss(iv95: Interval, iv90: Interval, *, denied: int = -1, margin: float = MARGIN) -> Verdict:
    """A claim that one decoding does not lose to (``denied=-1``) or does not beat (``denied=+1``)
    another. *opposite* when the 95% interval excludes 0 on the denied side; *reproduced* when the 90%
    interval lies inside (-margin, +margin) (two one-sided tests at alpha = 0.05, Schuirmann's TOST);
    *larger* when the 95% interval excludes 0 on the other side (more than claimed: a gain where the
    claim is no loss); else *inconclusive*. States the smallest difference the 95% test detects and
    the smallest margin the equivalence test shows, both with :data:`POWER`."""
    if denied not in (-1, 1):
        raise ValueError(f"denied must be -1 or +1, got {denied}")
    denied_side = iv95.high < 0 if denied == -1 else iv95.low > 0
    other_side = iv95.low > 0 if denied == -1 else iv95.high < 0
    where = (f"{_pts(iv95.estimate)} points (95% {_ci(iv95)}; 90% {_ci(iv90)}; {iv95.method}); {_detects(iv95)}; "
             f"{_equivalence_power(iv90, margin)}")
    if denied_side:
        return Verdict(OPPOSITE, f"{'a loss' if denied == -1 else 'a gain'} beyond the noise: {where}")
    if -margin < iv90.low and iv90.high < margin:
        return Verdict(REPRODUCED, f"within ±{100 * margin:g} point by two one-sided tests: {where}")
    if other_side:
        return Verdict(LARGER, f"{'better' if denied == -1 else 'worse'} beyond the noise: {where}")
    return Verdict(INCONCLUSIVE, f"neither a difference nor equivalence within ±{100 * margin:g} point shown: {where}")


def speedup_interval(speedups: Sequence[float], *, level: float = LEVEL) -> Interval:
    """The speed-up (reference NFE / this NFE) over training seeds, the seed as the unit: the geometric
    mean with a t interval on the log scale (k - 1 degrees of freedom), exponentiated; one seed gives a
    point (its NFE are averaged over 1,500 problems: their own noise is far below the seeds' spread)."""
    values = [float(x) for x in speedups]
    if not values or any(not (math.isfinite(x) and x > 0) for x in values):
        raise ValueError(f"speedups must be positive numbers, got {list(speedups)!r}")
    logs = [math.log(x) for x in values]
    mean = sum(logs) / len(logs)
    if len(logs) == 1:
        return Interval(math.exp(mean), math.exp(mean), math.exp(mean), "one seed", level)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
    critical = t_quantile((1 + level) / 2, len(logs) - 1)
    half = critical * sd / math.sqrt(len(logs))
    return Interval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), f"geometric mean of {len(logs)} seeds, t interval",
                    level, critical)


def against_speedup(speedup: Interval, paper: float) -> Verdict:
    """A speed-up the paper reports ("~2.7x"): :func:`against_value` with the paper's number read as
    ± :data:`APPROXIMATE`; *smaller* means fewer forward passes saved than the paper saves. The
    smallest detectable effect is a factor, from the log-scale interval (:func:`speedup_interval`)."""
    r = against_value(speedup, paper * (1 - APPROXIMATE), paper * (1 + APPROXIMATE))
    return Verdict(r.word, f"speed-up {speedup.estimate:.2f}x ({speedup.low:.2f}–{speedup.high:.2f}x; {speedup.method}) against the "
                           f"paper's {paper:.2f}x read as ±{100 * APPROXIMATE:.0f}%; {_detects_ratio(speedup)}")


def faster_within(iv95: Interval, speedup: float, *, min_speedup: float, margin: float = MARGIN) -> Verdict:
    """A speed target: at least ``min_speedup`` times fewer forward passes while losing at most
    ``margin`` of accuracy (non-inferiority at that margin). *reproduced* when the speed-up reaches
    the target and the 95% interval's lower end lies above -margin; *smaller* when the speed-up falls
    short; *opposite* when the whole interval lies below -margin (a loss larger than the margin, shown);
    else *inconclusive*. States the smallest difference the 95% interval's test detects (the speed-up
    is a point here)."""
    where = f"{speedup:.2f}x fewer NFE, {_pts(iv95.estimate)} points (95% {_ci(iv95)}; {iv95.method}); {_detects(iv95)}"
    if iv95.high < -margin:
        return Verdict(OPPOSITE, f"a loss beyond {100 * margin:g} point: {where}")
    if speedup < min_speedup - 1e-9:
        return Verdict(SMALLER, f"short of the {min_speedup:g}x target: {where}")
    if iv95.low > -margin:
        return Verdict(REPRODUCED, f"at least {min_speedup:g}x fewer NFE, non-inferior at a {100 * margin:g}-point margin: {where}")
    return Verdict(INCONCLUSIVE, f"a loss of {100 * margin:g} point neither excluded nor shown: {where}")


def above_chance(iv: Interval, *, chance: float, baseline: str = "") -> Verdict:
    """A method the paper proposes without a number: *reproduced* when its interval lies above chance,
    *opposite* when below, else *inconclusive*; the smallest distance from chance it detects is stated
    in the interval's units. ``baseline``: a sentence on the comparison with a baseline method,
    reported beside the verdict (a paired test where the records allow one)."""
    ours = f"{iv.estimate:.3g} ({_ci(iv, points=False)}) against chance {chance:.3g}"
    extra = f"; {_detects(iv, points=False)}" + (f"; {baseline}" if baseline else "")
    if iv.low > chance:
        return Verdict(REPRODUCED, f"{ours}: above it{extra}")
    if iv.high < chance:
        return Verdict(OPPOSITE, f"{ours}: below it{extra}")
    return Verdict(INCONCLUSIVE, f"{ours}: not separated from it{extra}")


def direction(iv: Interval, *, sign: int = 1) -> Verdict:
    """A direction without a comparable number (our own model's checks): *reproduced* when the 95%
    interval excludes 0 on the claimed side (``sign``), *opposite* on the other, else *inconclusive*."""
    where = f"{_pts(iv.estimate)} points (95% {_ci(iv)}; {iv.method}); {_detects(iv)}"
    if (iv.low > 0) if sign > 0 else (iv.high < 0):
        return Verdict(REPRODUCED, f"the claimed direction beyond the noise: {where}")
    if (iv.high < 0) if sign > 0 else (iv.low > 0):
        return Verdict(OPPOSITE, f"the opposite direction beyond the noise: {where}")
    return Verdict(INCONCLUSIVE, f"no difference shown: {where}")


def worst(*parts: Verdict, labels: Sequence[str] | None = None) -> Verdict:
    """The least favourable of several parts' verdicts (order of :data:`VERDICTS`), the reasons joined;
    ``decided_by`` names the labelled parts that gave that word when the others gave a better one."""
    if not parts:
        raise ValueError("worst needs at least one verdict")
    word = min((p.word for p in parts), key=VERDICTS.index)
    labels = labels or [""] * len(parts)
    reason = "; ".join(f"{label}: {p.word}, {p.reason}" if label else p.reason for label, p in zip(labels, parts, strict=True))
    deciding = [label for label, p in zip(labels, parts, strict=True) if label and p.word == word]
    decided_by = " and ".join(deciding) if len(parts) > 1 and len(deciding) < len(parts) else ""
    return Verdict(word, reason if len(parts) > 1 else parts[0].reason, decided_by)
