"""Every decoding claim on every training seed: which effects belong to the decoding rules, and which
to one trained model.

One seed's model decodes the same held-out problems with every rule a claim compares
(:data:`TEST_DECODINGS`), with MED + exit at the (lambda, gamma) chosen on seed 0's development split
(transferred unchanged) and at the setting chosen on the seed's own development split
(:func:`measure_seed`); its per-problem correctness is kept, so every claim is a paired comparison on
the same problems. :func:`claim_results` then gives, per claim (:data:`CLAIMS`):

- per seed: the paired accuracy difference (this minus reference) with Tango's 95% interval
  (:func:`~mdlm_study.stats.paired_difference_ci`), both accuracies and mean NFE, the speed-up, and
  whether the claim holds on that seed (its rule, below);
- pooled over seeds: the Mantel-Haenszel risk difference stratified by seed with the CMH test
  (:func:`~mdlm_study.stats.cmh_paired`), the between-seed heterogeneity (Cochran's Q, I²:
  :func:`~mdlm_study.stats.seed_heterogeneity`), and how many seeds it holds on
  (:func:`~mdlm_study.stats.count_holding`).

When a claim holds on a seed (the ``holds`` rule of each :class:`Claim`; differences in accuracy
fractions, intervals at 95%):

- ``better``: the interval's lower end is above 0 (this rule is significantly more accurate);
- ``worse``: the interval's upper end is below 0 (this rule significantly loses accuracy: the
  fixed-k claims);
- ``non_inferior_faster``: the lower end is above -1 point (non-inferior at a 1-point margin, the
  speed target's tolerance) and the mean NFE is at least ``min_speedup`` times fewer than the
  reference's (``min_speedup`` 1: fewer at all; 3.5: the speed target).

The mechanism (:func:`mechanism_table`, :func:`mechanism_correlations`): per seed, the blank-slot
accuracy (the answer read off the first forward pass, the reasoning slot still masked), how often the
answer follows a corrupted last step written into the reasoning slot
(:func:`~mdlm_study.faithfulness.counterfactual_answers`), and the fixed-k loss, beside the MED + exit
and exit effects; Spearman correlations across seeds with their exact permutation p-values (with five
seeds only |rho| = 1 reaches p < 0.05 two-sided, p = 1/60: read them as descriptions, not tests).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mdlm_study.evaluate import summarize
from mdlm_study.records import ROOT
from mdlm_study.sampling import DecodeConfig
from mdlm_study.selection import REFERENCE, SELECTION_RULES, choose, config_fields, dev_sweep, record
from mdlm_study.stats import cmh_paired, count_holding, paired_difference_ci, seed_heterogeneity

SEEDS = (0, 1, 2, 3, 4)
TOLERANCE = 0.01  # 1 point: the speed target's accuracy tolerance, as a fraction
SPEED_TARGET = 3.5  # the speed target's fewer-NFE factor

# role -> the decoding every seed runs on the test problems (MED + exit's roles are added per seed)
TEST_DECODINGS: dict[str, DecodeConfig] = {
    "entropy_k1": REFERENCE,
    "entropy_k1_blocks8": DecodeConfig("entropy", tokens_per_step=1, block_size=8),
    "entropy_k2_blocks8": DecodeConfig("entropy", tokens_per_step=2, block_size=8),
    "med": DecodeConfig("med", med_lambda=0.2),
    "entropy_exit": DecodeConfig("entropy", exit_gamma=0.1),
    "med_exit": DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1),  # notebook 04's setting
    "blank_slot": DecodeConfig("entropy", exit_gamma=math.inf),  # the exit fires on pass 1: NFE 1, nothing written
    "entropy_k2": DecodeConfig("entropy", tokens_per_step=2),
    "entropy_k4": DecodeConfig("entropy", tokens_per_step=4),
    "entropy_k4_blocks8": DecodeConfig("entropy", tokens_per_step=4, block_size=8),
    "l2r": DecodeConfig("l2r"),
}
TRANSFERRED = "med_exit_transferred:"  # + selection rule: the setting chosen on seed 0's development split
OWN = "med_exit_own:"  # + selection rule: the setting chosen on this seed's development split


def model_name(seed: int) -> str:
    """The released name of a seed's model: ``default`` is seed 0, ``default_seed<s>`` the others."""
    return "default" if seed == 0 else f"default_seed{seed}"


def resolve(name: str, models_dir: str | Path | None = None) -> Path:
    """The folder of a seed model: ``models/<name>`` of the repository (the released models) when
    ``models_dir`` is None; otherwise ``<models_dir>/<name>`` if it exists, else a training run's layout
    ``<models_dir>/seed<s>/default``."""
    if models_dir is None:
        return ROOT / "models" / name
    folder = Path(models_dir) / name
    if folder.is_dir():
        return folder
    seed = 0 if name == "default" else int(name.removeprefix("default_seed"))
    return Path(models_dir) / f"seed{seed}" / "default"


# ---------------------------------------------------------------------------------------------------
# Measuring one seed


def bits(values) -> str:
    """Booleans as a compact string of 0s and 1s (how records keep per-problem correctness)."""
    return "".join("1" if bool(v) else "0" for v in values)


def unbits(text: str) -> list[bool]:
    if set(text) - {"0", "1"}:
        raise ValueError(f"per-problem correctness must be a string of 0s and 1s, got {text[:20]!r}...")
    return [c == "1" for c in text]


def decoding_entry(config: DecodeConfig, table: pd.DataFrame, identity: Mapping | None = None, seconds: float | None = None) -> dict:
    """A decoding's record (:func:`~mdlm_study.selection.record`) with its per-problem ``correct``
    (0/1 string) and ``nfe`` (list), so claims can be paired later without decoding again."""
    return {**record(config, summarize(table), identity), "label": config.label(), "correct": bits(table["correct"]),
            "nfe": [int(v) for v in table["nfe"]], "seconds": seconds}


def transferred_roles(chosen: Sequence[tuple[str, DecodeConfig]]) -> dict[str, DecodeConfig]:
    """Roles of the settings chosen on seed 0 (whole canvas only), decoded unchanged on every seed."""
    return {TRANSFERRED + rule: config for rule, config in chosen if config.block_size is None}


def measure_seed(evaluate, problems, state: dict, decodings: Mapping[str, DecodeConfig], *,
                 save: Callable[[dict], None] | None = None, identity: Mapping | None = None) -> dict:
    """Decode ``problems`` with every role of ``decodings`` not yet in ``state["decodings"]`` with the
    same config (a resumed run skips them; a config another role already decoded is copied, not
    decoded again), saving ``state`` after each. ``evaluate(problems, config) -> table``."""
    done = state.setdefault("decodings", {})
    for role, config in decodings.items():
        fields = config_fields(config)
        if role in done and all(done[role].get(k) == v for k, v in fields.items()):
            continue
        twin = next((e for e in done.values() if all(e.get(k) == v for k, v in fields.items())), None)
        if twin is not None:
            done[role] = dict(twin)
        else:
            started = time.perf_counter()
            table = evaluate(problems, config)
            done[role] = decoding_entry(config, table, identity, time.perf_counter() - started)
            print(f"{state.get('model')}: {role} {config.label()}: accuracy {done[role]['accuracy']:.4f}, "
                  f"mean NFE {done[role]['mean_nfe']:.2f}, {done[role]['seconds']:.0f} s", flush=True)
        if save:
            save(state)
    return state


def select_own(evaluate, dev_problems, state: dict, *, dev_sha256: str, save: Callable[[dict], None] | None = None,
               grid=None) -> dict[str, DecodeConfig]:
    """MED + exit's (lambda, gamma) chosen by each of :data:`~mdlm_study.selection.SELECTION_RULES` on
    this seed's development split (kept in ``state["selection"]``, reused when its problems are the
    same): role (``OWN`` + rule) -> the chosen config; a rule nothing satisfies gets no role."""
    selection = state.get("selection")
    if not selection or selection.get("dev_problems_sha256") != dev_sha256:
        started = time.perf_counter()
        reference, table = dev_sweep(evaluate, dev_problems, **({"grid": grid} if grid is not None else {}))
        chosen = choose(reference, table)
        selection = {"dev_problems_sha256": dev_sha256, "dev_n_problems": len(dev_problems),
                     "dev_entropy_k1_accuracy": reference["accuracy"], "dev_entropy_k1_mean_nfe": reference["mean_nfe"],
                     "dev_grid": table.to_dict("records"), "seconds": time.perf_counter() - started,
                     "chosen": {rule: ({**{k: v for k, v in c.items() if k != "config"}, "config": c["config"].to_dict()}
                                       if "config" in c else c) for rule, c in chosen.items()}}
        state["selection"] = selection
        if save:
            save(state)
    return {OWN + rule: DecodeConfig.from_dict(c["config"]) for rule, c in selection["chosen"].items() if "config" in c}


# ---------------------------------------------------------------------------------------------------
# Claims across seeds


def better(result: dict) -> bool:
    """The interval's lower end is above 0."""
    return bool(result["low"] > 0)


def worse(result: dict) -> bool:
    """The interval's upper end is below 0."""
    return bool(result["high"] < 0)


def non_inferior_faster(min_speedup: float) -> Callable[[dict], bool]:
    """Lower end above -1 point and at least ``min_speedup`` times fewer mean NFE (> 1 when 1)."""
    def rule(result: dict) -> bool:
        fast = result["speedup"] > 1 if min_speedup == 1 else result["speedup"] >= min_speedup - 1e-9
        return bool(result["low"] > -TOLERANCE and fast)
    rule.__doc__ = f"lower 95% bound above -{100 * TOLERANCE:g} point and " + (
        "fewer mean NFE" if min_speedup == 1 else f">= {min_speedup:g}x fewer mean NFE") + " than the reference"
    return rule


PAPER_TABLE_A = 0.5344 - 0.7695  # GSM8K / LLaDA: entropy over the whole canvas (block 128) minus left to right
PAPER_TABLE_B = {2: -0.1464, 4: -0.4337}  # GSM8K / LLaDA: fixed k = 2 / 4 minus k = 1
PAPER_MED = 0.799 - 0.794  # Table C: MED minus one token per step
PAPER_MED_VS_K2 = 0.799 - 0.6231  # Tables B, C: MED (94 NFE) minus fixed k = 2 (128 NFE)
PAPER_MED_EXIT = 0.793 - 0.794  # Table C: MED + early exit minus one token per step


@dataclass(frozen=True)
class Claim:
    name: str
    text: str
    reference: str  # role of the reference decoding
    this: str  # role of the decoding the claim is about
    holds: Callable[[dict], bool]
    paper: float | None = None  # the paper's difference for the same comparison (fraction; GSM8K, LLaDA), if it reports one

    @property
    def rule_text(self) -> str:
        return (self.holds.__doc__ or "").strip().split("\n")[0]


CLAIMS: tuple[Claim, ...] = (
    Claim("entropy_vs_l2r", "entropy order (k = 1) beats left to right", "l2r", "entropy_k1", better, PAPER_TABLE_A),
    Claim("fixed_k2", "fixed k = 2 loses accuracy against k = 1 (whole canvas)", "entropy_k1", "entropy_k2", worse, PAPER_TABLE_B[2]),
    Claim("fixed_k4", "fixed k = 4 loses accuracy against k = 1 (whole canvas)", "entropy_k1", "entropy_k4", worse, PAPER_TABLE_B[4]),
    Claim("fixed_k2_blocks8", "fixed k = 2 loses accuracy against k = 1 (blocks of 8)", "entropy_k1_blocks8", "entropy_k2_blocks8", worse,
          PAPER_TABLE_B[2]),
    Claim("fixed_k4_blocks8", "fixed k = 4 loses accuracy against k = 1 (blocks of 8)", "entropy_k1_blocks8", "entropy_k4_blocks8", worse,
          PAPER_TABLE_B[4]),
    Claim("med_vs_entropy", "MED (lambda = 0.2) matches entropy k = 1 with fewer NFE", "entropy_k1", "med", non_inferior_faster(1), PAPER_MED),
    Claim("med_vs_fixed_k2", "MED (lambda = 0.2) beats fixed k = 2 at matched NFE", "entropy_k2", "med", better, PAPER_MED_VS_K2),
    Claim("entropy_exit", "entropy k = 1 + exit (gamma = 0.1) matches k = 1 with fewer NFE", "entropy_k1", "entropy_exit",
          non_inferior_faster(1)),
    Claim("med_exit", "MED (lambda = 0.2) + exit (gamma = 0.1) matches k = 1 with fewer NFE", "entropy_k1", "med_exit",
          non_inferior_faster(1), PAPER_MED_EXIT),
    *(Claim(f"med_exit_transferred_{rule}", f"MED + exit at seed 0's {rule} setting: within 1 point at >= 3.5x fewer NFE",
            "entropy_k1", TRANSFERRED + rule, non_inferior_faster(SPEED_TARGET), PAPER_MED_EXIT) for rule in SELECTION_RULES),
    *(Claim(f"med_exit_own_{rule}", f"MED + exit at the seed's own {rule} setting: within 1 point at >= 3.5x fewer NFE",
            "entropy_k1", OWN + rule, non_inferior_faster(SPEED_TARGET), PAPER_MED_EXIT) for rule in SELECTION_RULES),
)


def _entry(state: dict, role: str) -> dict:
    try:
        return state["decodings"][role]
    except KeyError:
        raise ValueError(f"{state.get('model', 'a seed')} has no decoding {role!r}; decoded: {sorted(state.get('decodings', {}))}") from None


def per_seed_result(state: dict, claim: Claim) -> dict:
    """One seed's paired comparison for ``claim``: the paired difference with its interval, both
    accuracies and mean NFE, the speed-up (reference NFE / this NFE), this decoding's setting, and
    whether the claim holds there."""
    ref, this = _entry(state, claim.reference), _entry(state, claim.this)
    ci = paired_difference_ci(unbits(ref["correct"]), unbits(this["correct"]))
    result = {"seed": state.get("seed"), "model": state.get("model"), **ci,
              "reference_accuracy": ref["accuracy"], "accuracy": this["accuracy"],
              "reference_mean_nfe": ref["mean_nfe"], "mean_nfe": this["mean_nfe"],
              "speedup": ref["mean_nfe"] / this["mean_nfe"],
              "setting": this.get("label")}
    result["holds"] = claim.holds(result)
    return result


def claim_results(states: Sequence[dict], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """Each claim across the seeds (``states``: one :func:`measure_seed` state per seed). A claim whose
    decodings some seeds lack (an unfinished run) is measured on the others, and ``missing`` names the
    seeds left out (all of them: no ``pooled`` key)."""
    out = []
    for claim in claims:
        has = [s for s in states if {claim.reference, claim.this} <= set(s.get("decodings", {}))]
        missing = [s.get("model") for s in states if s not in has]
        head = {"claim": claim.name, "text": claim.text, "reference": claim.reference, "this": claim.this, "holds_when": claim.rule_text,
                "paper": claim.paper, "missing": missing}
        if not has:
            out.append(head)
            continue
        states_here = has
        per_seed = [per_seed_result(s, claim) for s in states_here]
        strata = [(unbits(_entry(s, claim.reference)["correct"]), unbits(_entry(s, claim.this)["correct"])) for s in states_here]
        pooled = cmh_paired(strata)
        pooled.pop("per_seed")
        speedups = [r["speedup"] for r in per_seed]
        holding = count_holding(per_seed, rule=claim.holds)
        holding["seeds"] = [per_seed[i]["seed"] for i in holding["which"]]
        out.append({**head, "per_seed": per_seed, "pooled": pooled,
                    "heterogeneity": seed_heterogeneity(strata) if len(strata) > 1 else None,
                    "holding": holding,
                    "pooled_speedup": float(np.mean([r["reference_mean_nfe"] for r in per_seed]) / np.mean([r["mean_nfe"] for r in per_seed])),
                    "speedup_range": [min(speedups), max(speedups)]})
    return out


def losing_seeds(results: Sequence[dict], claim: str = "fixed_k2_blocks8", loss_points: float = 5.0) -> list:
    """The seeds on which ``claim`` (a :func:`claim_results` entry, by name) loses at least
    ``loss_points`` points: where the fixed-k control works, so a speed-up there is not one any
    parallel decoding would get for free."""
    entry = next((r for r in results if r["claim"] == claim), None)
    if entry is None:
        raise ValueError(f"no claim {claim!r} in the results; claims: {[r['claim'] for r in results]}")
    return [s["seed"] for s in entry.get("per_seed", []) if -100 * s["difference"] >= loss_points - 1e-9]


PAIRED_WITH = {"paired_vs_entropy_k1": "entropy_k1", "paired_vs_block_k1": "entropy_k1_blocks8"}


def discordant(reference: Sequence[bool], this: Sequence[bool]) -> dict:
    """The paired discordant counts of two decodings of the same problems: ``only_reference`` (right
    only under the reference) and ``only_this``."""
    pairs = list(zip(reference, this, strict=True))
    return {"only_reference": sum(r and not c for r, c in pairs), "only_this": sum(c and not r for r, c in pairs)}


def claim_records(state: dict) -> list[dict]:
    """One seed's decodings in the claims table's record format (:mod:`mdlm_study.summary`, as
    ``benchmarks/bench_decoding.py`` writes them): each decoding's config, accuracy, mean NFE and
    per-problem ``correct``, its ``role``, and its paired discordant counts (``only_reference``,
    ``only_this``) against one token per step over the whole canvas (``paired_vs_entropy_k1``) and in
    blocks of 8 (``paired_vs_block_k1``), where those references were decoded."""
    decodings = state.get("decodings", {})
    references = {key: unbits(decodings[role]["correct"]) for key, role in PAIRED_WITH.items() if role in decodings}
    out = []
    for role, entry in decodings.items():
        correct = unbits(entry["correct"])
        row = {**entry, "role": role}
        for key, reference in references.items():
            if len(reference) != len(correct):
                raise ValueError(f"{state.get('model')}: {role} has {len(correct)} problems, {PAIRED_WITH[key]} {len(reference)}")
            row[key] = discordant(reference, correct)
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------------
# Mechanism


MECHANISMS = ("blank_slot_accuracy", "follows_corrupted_conclusion", "fixed_k2_blocks8_loss", "fixed_k2_loss")
EFFECTS = ("med_exit_transferred_difference", "med_exit_transferred_speedup", "med_exit_own_difference", "entropy_exit_difference",
           "med_difference")
CORRUPTED = "corrupt_last"  # the counterfactual edit: the last step's result changed in the written trace


def _difference(state: dict, reference: str, this: str) -> float | None:
    decodings = state.get("decodings", {})
    if reference not in decodings or this not in decodings:
        return None
    return decodings[this]["accuracy"] - decodings[reference]["accuracy"]


def mechanism_row(state: dict, rule: str = "most_accurate_at_3.5x") -> dict:
    """One seed's mechanism measures beside its effects (accuracy differences as fractions, losses as
    positive fractions). ``rule``: the selection rule whose MED + exit setting is the effect."""
    decodings = state.get("decodings", {})
    follow = state.get("mechanism", {}).get(CORRUPTED, {})
    loss = _difference(state, "entropy_k1_blocks8", "entropy_k2_blocks8")
    loss_whole = _difference(state, "entropy_k1", "entropy_k2")
    transferred = decodings.get(TRANSFERRED + rule)
    return {
        "seed": state.get("seed"), "model": state.get("model"),
        "entropy_k1_accuracy": decodings.get("entropy_k1", {}).get("accuracy"),
        "blank_slot_accuracy": decodings.get("blank_slot", {}).get("accuracy"),
        "follows_corrupted_conclusion": follow.get("answer_is_conclusion"),
        "fixed_k2_blocks8_loss": None if loss is None else -loss,
        "fixed_k2_loss": None if loss_whole is None else -loss_whole,
        "med_exit_transferred_difference": _difference(state, "entropy_k1", TRANSFERRED + rule),
        "med_exit_transferred_speedup": (decodings["entropy_k1"]["mean_nfe"] / transferred["mean_nfe"]
                                         if transferred and "entropy_k1" in decodings else None),
        "med_exit_own_difference": _difference(state, "entropy_k1", OWN + rule),
        "entropy_exit_difference": _difference(state, "entropy_k1", "entropy_exit"),
        "med_difference": _difference(state, "entropy_k1", "med"),
    }


def mechanism_table(states: Sequence[dict], rule: str = "most_accurate_at_3.5x") -> pd.DataFrame:
    return pd.DataFrame([mechanism_row(s, rule) for s in states])


def spearman_exact(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman's rho (average ranks for ties) and its exact two-sided permutation p-value (every
    ordering of ``y`` against ``x``: 120 for five seeds), ``n``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"spearman_exact needs two equal-length samples of at least 3, got {len(x)} and {len(y)}")
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()

    def rho(a, b):
        a, b = a - a.mean(), b - b.mean()
        denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / denominator) if denominator else float("nan")

    observed = rho(rx, ry)
    if math.isnan(observed):
        return {"rho": observed, "p_value": float("nan"), "n": len(x)}
    perms = [rho(rx, ry[list(p)]) for p in itertools.permutations(range(len(y)))] if len(y) <= 8 else None
    if perms is None:
        raise ValueError("spearman_exact enumerates permutations: at most 8 seeds")
    p = sum(abs(r) >= abs(observed) - 1e-12 for r in perms) / len(perms)
    return {"rho": observed, "p_value": p, "n": len(x)}


def mechanism_correlations(table: pd.DataFrame, mechanisms: Sequence[str] = MECHANISMS, effects: Sequence[str] = EFFECTS) -> list[dict]:
    """Spearman correlation (:func:`spearman_exact`) of each mechanism with each effect across seeds
    (rows of :func:`mechanism_table` with both values)."""
    out = []
    for mechanism in mechanisms:
        for effect in effects:
            both = table[[mechanism, effect]].dropna()
            if len(both) < 3:
                continue
            out.append({"mechanism": mechanism, "effect": effect, **spearman_exact(both[mechanism], both[effect])})
    return out


# The hypothesis: accurate seeds compute the answer in the masked answer slot (high blank-slot accuracy,
# answers that ignore a corrupted written conclusion), so committing several reasoning tokens at once
# costs them little and MED + exit can stop early; weak seeds read the answer off their written trace,
# so fixed k loses accuracy and the exit fires late. Each pair: (mechanism, effect, predicted sign of rho).
HYPOTHESES = (
    ("blank_slot_accuracy", "fixed_k2_blocks8_loss", -1),
    ("follows_corrupted_conclusion", "fixed_k2_blocks8_loss", +1),
    ("blank_slot_accuracy", "med_exit_transferred_speedup", +1),
    ("fixed_k2_blocks8_loss", "med_exit_transferred_speedup", -1),
)
ALPHA = 0.05


def check_hypotheses(table: pd.DataFrame, hypotheses: Sequence[tuple[str, str, int]] = HYPOTHESES, *, alpha: float = ALPHA) -> list[dict]:
    """Each predicted correlation across seeds (:data:`HYPOTHESES`) with Spearman's rho, its exact
    permutation p-value and a reading: *supported* (the predicted sign and p < ``alpha``), *same
    direction, not significant* (with five seeds only |rho| = 1 reaches p < 0.05), or *contradicted*
    (the opposite sign, or no correlation)."""
    out = []
    for mechanism, effect, sign in hypotheses:
        both = table[[mechanism, effect]].dropna()
        if len(both) < 3:
            out.append({"mechanism": mechanism, "effect": effect, "predicted": sign, "reading": "not measured", "n": len(both)})
            continue
        r = spearman_exact(both[mechanism], both[effect])
        same = not math.isnan(r["rho"]) and r["rho"] * sign > 0
        reading = ("supported" if r["p_value"] < alpha else "same direction, not significant") if same else "contradicted"
        out.append({"mechanism": mechanism, "effect": effect, "predicted": sign, **r, "reading": reading})
    return out


# ---------------------------------------------------------------------------------------------------
# Forest plot


def _limits(rows: Sequence[dict]) -> tuple[float, float]:
    """The x range (points) of every seed's and every pooled interval, zero included, padded by 8%."""
    ends = [0.0] + [100 * x[k] for r in rows for x in (r["pooled"], *r["per_seed"]) for k in ("low", "high")]
    pad = 0.08 * (max(ends) - min(ends) or 1.0)
    return min(ends) - pad, max(ends) + pad


def _paper_marker(ax, value: float, y: float, limits: tuple[float, float], *, label: str | None) -> None:
    """The paper's value as a red cross, or, when it lies off the seeds' scale, an arrow at the edge
    with the value written beside it (the axis stays readable for the seeds' effects)."""
    low, high = limits
    if low <= value <= high:
        ax.plot(value, y, marker="x", ms=7, mew=2, color="tab:red", ls="none", label=label)
        return
    left = value < low
    edge = low if left else high
    ax.plot(edge, y, marker="<" if left else ">", ms=7, color="tab:red", ls="none", label=label, clip_on=False)
    ax.annotate(f"paper {value:+.1f}", (edge, y), xytext=(8 if left else -8, 0), textcoords="offset points",
                ha="left" if left else "right", va="center", fontsize=7, color="tab:red")


def forest_plot(results: Sequence[dict], *, title: str = "Decoding claims across training seeds"):
    """Per claim: every seed's paired difference (points) with its 95% interval, the pooled CMH
    estimate as a diamond, the paper's difference for the same comparison as a red cross where it
    reports one (GSM8K, LLaDA; far off-scale values widen the axis), and a zero line. Returns the figure."""
    import matplotlib.pyplot as plt  # deferred: plotting is optional for measuring

    rows = [r for r in results if "pooled" in r]
    n_seeds = max(len(r["per_seed"]) for r in rows)
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(rows) * (0.25 * n_seeds + 1.05) + 1.5))
    colors = plt.get_cmap("tab10")
    ticks, labels, labelled = [], [], set()
    limits = _limits(rows)
    ax.set_xlim(*limits)
    y = 0.0
    for r in reversed(rows):
        pooled = r["pooled"]
        ax.fill([100 * pooled["low"], 100 * pooled["difference"], 100 * pooled["high"], 100 * pooled["difference"]],
                [y, y + 0.18, y, y - 0.18], color="black")
        if r.get("paper") is not None:
            _paper_marker(ax, 100 * r["paper"], y, limits, label=None if "paper" in labelled else "paper (GSM8K, LLaDA)")
            labelled.add("paper")
        ticks.append(y)
        labels.append(f"{r['claim']} ({r['holding']['holding']}/{r['holding']['total']} seeds)")
        for i, s in enumerate(r["per_seed"]):
            yy = y + 0.45 + 0.25 * i
            label = f"seed {s['seed']}" if s["seed"] not in labelled else None
            labelled.add(s["seed"])
            ax.errorbar(100 * s["difference"], yy, xerr=[[100 * (s["difference"] - s["low"])], [100 * (s["high"] - s["difference"])]],
                        fmt="o", ms=3, color=colors(s["seed"] % 10), label=label)
        y += 0.45 + 0.25 * n_seeds + 0.6
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("paired accuracy difference, this rule minus reference (points; 95% CI)")
    ax.set_title(title + " (diamond: pooled CMH over seeds; x: the paper)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
