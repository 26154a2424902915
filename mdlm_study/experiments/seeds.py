"""Every decoding claim on every training seed: which effects belong to the decoding rules, and which
to one trained model.

One seed's model decodes the same held-out problems with every rule a claim compares
(:data:`TEST_DECODINGS`), with MED + exit at the (lambda, gamma) chosen on seed 0's development split
(transferred unchanged) and at the setting chosen on the seed's own development split
(:func:`measure_seed`); its per-problem correctness is kept, so every claim is a paired comparison on
the same problems. :func:`claim_results` then gives, per claim (:data:`CLAIMS`):

- per seed: the paired accuracy difference (this minus reference) with Tango's 95% interval
  (:func:`~mdlm_study.core.stats.paired_difference_ci`), both accuracies and mean NFE, the speed-up, and
  the claim's own verdict on that seed (:meth:`Claim.judge`), which says whether it holds there
  (:meth:`Claim.holds`);
- pooled with the training seed as the unit (:func:`pooled_result`): random effects
  (DerSimonian-Laird, Hartung-Knapp) with I² and the prediction interval of a new seed, judged by the
  same :meth:`Claim.judge`: the claim's verdict of record. The fixed-effect Mantel-Haenszel pooling is
  kept beside it (``fixed_effect``) for comparison only: it treats the five trained models as the only
  ones there are.

One registry (:data:`CLAIMS`) holds each claim's test, the paper's numbers and its holding rule; the
claims table, ``docs/seeds.md`` and the forest plot all read it.

The mechanism (:func:`mechanism_table`, :func:`mechanism_correlations`): per seed, the blank-slot
accuracy (the answer read off the first forward pass, the reasoning slot still masked), how often the
answer follows a corrupted last step written into the reasoning slot
(:func:`~mdlm_study.experiments.faithfulness.counterfactual_answers`), and the fixed-k loss, beside the MED + exit
and exit effects; Spearman correlations across seeds with their exact permutation p-values (with five
seeds only |rho| = 1 reaches p < 0.05 two-sided, p = 1/60); the predicted ones (:data:`HYPOTHESES`) are
one family, judged on Holm-adjusted p-values (:func:`check_hypotheses`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mdlm_study.core import paper
from mdlm_study.core import verdicts as v
from mdlm_study.core.clustered_stats import cmh_paired, count_holding
from mdlm_study.core.pooling import holm
from mdlm_study.core.records import ROOT, model_identity, problems_sha256, relative, write_record
from mdlm_study.core.stats import paired_difference_ci
from mdlm_study.engine import DecodeConfig
from mdlm_study.engine.templates import ANSWER_ONLY_TEMPLATE
from mdlm_study.experiments.evaluate import summarize
from mdlm_study.experiments.faithfulness import with_conclusions
from mdlm_study.experiments.regime import in_regime
from mdlm_study.experiments.selection import (
    REFERENCE,
    SELECTION_RULES,
    choose,
    config_fields,
    config_of,
    dev_sweep,
    model_evaluator,
    record,
)
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.released import RELEASES

SEEDS = (0, 1, 2, 3, 4)
TOLERANCE = v.MARGIN  # 1 point: the equivalence margin and the speed target's accuracy tolerance, as a fraction
SPEED_TARGET = v.SPEED_TARGET  # the speed target's fewer-NFE factor

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


# role -> the decoding every Sudoku seed runs on the Sudoku test puzzles: left to right, and entropy order over
# the whole answer (Table A's block 128 covers LLaDA's whole answer) with 1, 2 and 4 tokens per step. One
# any-order setting, stated before the run, so the any-order claim is not the best of several.
SUDOKU_DECODINGS: dict[str, DecodeConfig] = {
    "l2r": DecodeConfig("l2r"),
    "entropy_k1": REFERENCE,
    "entropy_k2": DecodeConfig("entropy", tokens_per_step=2),
    "entropy_k4": DecodeConfig("entropy", tokens_per_step=4),
}


def model_name(seed: int, recipe: str = "default") -> str:
    """The released name of a seed's model: ``<recipe>`` is seed 0, ``<recipe>_seed<s>`` the others."""
    return recipe if seed == 0 else f"{recipe}_seed{seed}"


def record_recipe(state: Mapping) -> str:
    """The recipe whose seed a record measures (``state["recipe"]``; records written before Sudoku's seeds
    were measured are the default recipe's)."""
    return state.get("recipe", "default")


def resolve(name: str, models_dir: str | Path | None = None) -> Path:
    """The folder of a seed model: ``models/<name>`` of the repository (the released models) when
    ``models_dir`` is None; otherwise ``<models_dir>/<name>`` if it exists, else where a training run of
    the release ``name`` keeps it (:meth:`~mdlm_study.models.released.Release.source`:
    ``<models_dir>/seed<s>/<recipe>``, a base snapshot in its ``step<N>``)."""
    if models_dir is None:
        return ROOT / "models" / name
    folder = Path(models_dir) / name
    if folder.is_dir():
        return folder
    if name in RELEASES:
        return RELEASES[name].source(Path(models_dir))
    recipe, _, seed = name.partition("_seed")
    return Path(models_dir) / f"seed{int(seed or 0)}" / recipe


def seeds_parser(doc: str, *, recipe: str = "default", out_dir: str = "benchmarks/results/seeds") -> argparse.ArgumentParser:
    """The options every seeds benchmark shares (``benchmarks/bench_seeds.py``, ``bench_trace_seeds.py``,
    ``bench_sudoku_seeds.py``): where the seed models are, which seeds, the data, batch size, threads and
    where the records go; each script adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default=None, help=f"folder of the seed models (<dir>/<name> or <dir>/seed<s>/{recipe}); "
                                                           "default: the released models/ folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=Path(out_dir))
    return parser


# ---------------------------------------------------------------------------------------------------
# Measuring one seed


def bits(values) -> str:
    """Booleans as a compact string of 0s and 1s (how records keep per-problem correctness)."""
    return "".join("1" if bool(v) else "0" for v in values)


def unbits(text: str) -> list[bool]:
    if set(text) - {"0", "1"}:
        raise ValueError(f"per-problem correctness must be a string of 0s and 1s, got {text[:20]!r}...")
    return [c == "1" for c in text]


def decoding_entry(config: DecodeConfig, table: pd.DataFrame, identity: Mapping | None = None, seconds: float | None = None,
                   problems: Sequence | None = None) -> dict:
    """A decoding's record (:func:`~mdlm_study.experiments.selection.record`) with its per-problem ``correct``
    (0/1 string) and ``nfe`` (list), so claims can be paired later without decoding again; with the
    arithmetic ``problems`` decoded (a table with the written reasoning), also ``conclusion``: whether the
    written reasoning's last result is the answer (:func:`written_conclusions`)."""
    entry = {**record(config, summarize(table), identity), "label": config.label(), "correct": bits(table["correct"]),
             "nfe": [int(v) for v in table["nfe"]], "seconds": seconds}
    conclusion = written_conclusions(table, problems)
    return entry if conclusion is None else {**entry, "conclusion": conclusion}


def written_conclusions(table: pd.DataFrame, problems: Sequence | None) -> str | None:
    """Per problem, whether the written reasoning's conclusion (its last equation's result) is the right
    answer (:func:`~mdlm_study.experiments.faithfulness.with_conclusions`), as 0/1 bits; None when the table
    has no written reasoning or the problems are not arithmetic ones (Sudoku, a stand-in evaluator)."""
    if problems is None or "reasoning" not in table.columns or not all(hasattr(p, "ops") for p in problems):
        return None
    return bits(with_conclusions(table, problems)["conclusion_correct"])


CONCLUSION_ROLES = ("entropy_k1", "entropy_k2", "entropy_k4")  # the written-conclusion claims' decodings (Table B, whole canvas)


def measure_conclusions(evaluate, problems, state: dict, roles: Sequence[str] = CONCLUSION_ROLES, *,
                        save: Callable[[dict], None] | None = None) -> dict:
    """Add the written-conclusion bits to decodings recorded before they were kept: decode each role of
    ``roles`` lacking ``conclusion`` again with its recorded config and keep them. The new decoding must
    give the recorded per-problem ``correct`` bit for bit (decoding is deterministic), else ``ValueError``."""
    for role in roles:
        entry = _entry(state, role)
        if "conclusion" in entry:
            continue
        table = evaluate(problems, config_of(entry))
        if bits(table["correct"]) != entry["correct"]:
            raise ValueError(f"{state.get('model')}: {role} decoded again differs from its record; the record is of another model or code")
        entry["conclusion"] = written_conclusions(table, problems)
        if entry["conclusion"] is None:
            raise ValueError(f"{state.get('model')}: {role}: no written reasoning to read a conclusion from")
        print(f"{state.get('model')}: {role}: written conclusion right on {entry['conclusion'].count('1') / len(problems):.4f}", flush=True)
        if save:
            save(state)
    return state


@dataclass
class SeedRun:
    """One training seed being measured: its model, its ``evaluate(problems, config) -> table``, its record
    so far (``state``, resumed by :func:`seed_state`) and where that record is written."""

    model: object
    tokenizer: object
    state: dict
    path: Path
    evaluate: Callable
    identity: dict  # what each decoding entry carries: the model's name, its weights' and the problems' SHA-256

    def save(self, state: dict | None = None) -> None:
        write_record(self.path, self.state if state is None else state)

    def decode(self, problems, decodings: Mapping[str, DecodeConfig]) -> dict:
        """Every role of ``decodings`` this record lacks (:func:`measure_seed`), saved after each."""
        return measure_seed(self.evaluate, problems, self.state, decodings, save=self.save, identity=self.identity)


ENTRY_KEYS = ("model", "weights_sha256", "problems_sha256")


def open_seed(seed: int, recipe: str, problems, *, models_dir, out_dir: Path, problems_label: str, evaluator_options: Mapping | None = None,
              extra: Mapping | None = None, renewable: Sequence[str] = ()) -> SeedRun:
    """Load a seed's model (:func:`resolve`) and resume its record ``<out_dir>/seed<seed>.json``.

    The record's identity: the seed, the recipe (left out for the default recipe, as in the records
    written before other recipes had seeds; :func:`record_recipe`), the model's name and weights' SHA-256,
    its folder, ``problems_label`` with the problems' SHA-256 and count, then ``extra``. A record of
    another identity starts afresh, except that a change in the ``renewable`` keys alone keeps its other
    measurements and drops only its decodings, in the record written at once (the deep regime's diagnostics
    stand when only the claims' problems change). ``evaluator_options`` go to
    :func:`~mdlm_study.experiments.selection.model_evaluator` (template, evaluator, ...)."""
    name = model_name(seed, recipe)
    folder = resolve(name, models_dir)
    loaded = load_model(Path(folder))
    identity = {"seed": seed, **({} if recipe == "default" else {"recipe": recipe}), **model_identity(name, weights_sha256(loaded.model)),
                "model_path": relative(folder), "problems": problems_label, "problems_sha256": problems_sha256(problems),
                "n_problems": len(problems), **(extra or {})}
    path = Path(out_dir) / f"seed{seed}.json"
    state = seed_state(path, {k: v for k, v in identity.items() if k not in renewable})
    if any(state.get(k) != identity[k] for k in renewable):
        dropped = state.pop("decodings", None)
        state.update({k: identity[k] for k in renewable})
        if dropped is not None:  # on disk too: a run that decodes nothing (--regime-only) must not leave them behind
            write_record(path, state)
    evaluate = model_evaluator(loaded.model, loaded.tokenizer, **(evaluator_options or {}))
    return SeedRun(loaded.model, loaded.tokenizer, state, path, evaluate, {k: identity[k] for k in ENTRY_KEYS})


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
        twin = next((e for e in done.values() if all(e.get(k) == v for k, v in fields.items()) and _same_model(e, identity)), None)
        if twin is not None:
            done[role] = dict(twin)
        else:
            started = time.perf_counter()
            table = evaluate(problems, config)
            done[role] = decoding_entry(config, table, identity, time.perf_counter() - started, problems)
            print(f"{state.get('model')}: {role} {config.label()}: accuracy {done[role]['accuracy']:.4f}, "
                  f"mean NFE {done[role]['mean_nfe']:.2f}, {done[role]['seconds']:.0f} s", flush=True)
        if save:
            save(state)
    return state


def _same_model(entry: Mapping, identity: Mapping | None) -> bool:
    """Whether a recorded decoding is of the model ``identity`` names (its weights' SHA-256; an entry of
    another model, the answer-only twin's, is never copied as this model's)."""
    return identity is None or entry.get("weights_sha256") in (None, identity.get("weights_sha256"))


ANSWER_ONLY = "answer_only"  # the role of the seed's answer-only twin's decoding in its record (measure_answer_only)


def measure_answer_only(run: SeedRun, problems, *, models_dir, batch_size: int = 300) -> bool:
    """Decode ``problems`` with the seed's answer-only twin (the ``answer_only`` recipe trained with the
    same seed: ``answer_only`` for seed 0, ``answer_only_seed<s>``; :func:`resolve`), greedy left to right
    with no reasoning slot, and keep it as the record's :data:`ANSWER_ONLY` decoding, its entry naming the
    twin's weights: the reasoning check (:data:`MODEL_CHECKS`) pairs it with the seed's own ``l2r``. Kept
    while the twin's weights and the problems are the same. Returns False, said, when the twin was not
    trained (the check then leaves this seed out and names it)."""
    name = model_name(run.state["seed"], "answer_only")
    folder = resolve(name, models_dir)
    if not folder.is_dir():
        print(f"{run.state.get('model')}: no answer-only twin at {folder}; the reasoning check leaves this seed out", flush=True)
        return False
    loaded = load_model(folder)
    identity = {**model_identity(name, weights_sha256(loaded.model)), "problems_sha256": run.identity["problems_sha256"]}
    done = run.state.setdefault("decodings", {})
    if all(done.get(ANSWER_ONLY, {}).get(k) == identity[k] for k in ENTRY_KEYS):
        return True
    config, started = DecodeConfig("l2r"), time.perf_counter()
    table = model_evaluator(loaded.model, loaded.tokenizer, template=ANSWER_ONLY_TEMPLATE, batch_size=batch_size)(problems, config)
    done[ANSWER_ONLY] = decoding_entry(config, table, identity, time.perf_counter() - started)
    print(f"{run.state.get('model')}: answer-only twin {name}: accuracy {done[ANSWER_ONLY]['accuracy']:.4f}", flush=True)
    run.save()
    return True


def select_own(evaluate, dev_problems, state: dict, *, dev_sha256: str, save: Callable[[dict], None] | None = None,
               grid=None) -> dict[str, DecodeConfig]:
    """MED + exit's (lambda, gamma) chosen by each of :data:`~mdlm_study.experiments.selection.SELECTION_RULES` on
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


EFFECT, NO_LOSS, NO_GAIN, TARGET, DIRECTION = "effect", "no loss", "no gain", "speed target", "direction"
TEST_TEXT = {
    DIRECTION: "direction: 95% interval above 0 (a check of our model; the paper gives no number)",
    EFFECT: "the paired difference against the paper's (effect ratio)",
    NO_LOSS: "no loss: 90% interval inside ±1 point (TOST)",
    NO_GAIN: "no gain: 90% interval inside ±1 point (TOST)",
    TARGET: f"our target: >= {SPEED_TARGET:g}x fewer NFE, 95% lower bound above -{100 * TOLERANCE:g} point",
}


@dataclass(frozen=True)
class Claim:
    """A decoding claim: ``this`` decoding against ``reference`` on the same problems, judged by
    ``test`` (one of :data:`TEST_TEXT`) against the paper's difference ``paper`` (fraction; GSM8K,
    LLaDA) and, where the paper reports one, its speed-up ``paper_speedup``. ``own``: our target, not a
    claim of the paper. ``recipe``: whose training seeds measure it (their records say so,
    :func:`record_recipe`). The same :meth:`judge` gives each seed's verdict (does the claim hold there?)
    and the pooled verdict of record, so no document can apply another rule."""

    name: str
    text: str
    reference: str  # role of the reference decoding
    this: str  # role of the decoding the claim is about
    test: str
    paper: float | None = None
    paper_speedup: float | None = None
    own: bool = False
    recipe: str = "default"
    reading: str = "correct"  # the per-problem bits compared: "correct" (the answer slot) or "conclusion" (the written reasoning's)

    @property
    def rule_text(self) -> str:
        speed = f"; speed-up against the paper's {self.paper_speedup:.2f}x" if self.paper_speedup else ""
        return TEST_TEXT[self.test] + speed

    def holds(self, word: str) -> bool:
        """Whether a seed whose verdict is ``word`` holds the claim: the claimed direction shown
        (:data:`~mdlm_study.core.verdicts.HOLDING`); for a speed target, the target met (*reproduced*)."""
        return word == v.REPRODUCED if self.test == TARGET else word in v.HOLDING

    def judge(self, iv95: v.Interval, iv90: v.Interval, speedup: v.Interval) -> v.Verdict:
        """The claim's verdict from its 95% and 90% intervals (this minus reference) and its speed-up."""
        if self.test == EFFECT:
            return v.against_effect(iv95, self.paper)
        if self.test == DIRECTION:
            return v.direction(iv95)
        if self.test == TARGET:
            return v.faster_within(iv95, speedup.estimate, min_speedup=SPEED_TARGET, margin=TOLERANCE)
        accuracy = v.no_loss(iv95, iv90, denied=-1 if self.test == NO_LOSS else +1, margin=TOLERANCE)
        if self.paper_speedup is None:
            return accuracy
        return v.worst(accuracy, v.against_speedup(speedup, self.paper_speedup), labels=["the accuracy", "the speed-up"])


_A, _C = paper.TABLE_A_GSM8K, paper.TABLE_C
CLAIMS: tuple[Claim, ...] = (
    # the paper's differences (fraction) and speed-ups: GSM8K / LLaDA, Tables A, B and C (mdlm_study.core.paper)
    Claim("entropy_blocks8_vs_l2r", "any-order decoding (entropy, blocks of 8) does not beat left to right", "l2r", "entropy_k1_blocks8",
          NO_GAIN, _A.block_32 - _A.l2r),
    Claim("entropy_vs_l2r", "entropy order over the whole canvas loses to left to right", "l2r", "entropy_k1", EFFECT, _A.block_128 - _A.l2r),
    Claim("fixed_k2", "fixed k = 2 loses accuracy against k = 1 (whole canvas)", "entropy_k1", "entropy_k2", EFFECT, paper.fixed_k_drop(2)),
    Claim("fixed_k4", "fixed k = 4 loses accuracy against k = 1 (whole canvas)", "entropy_k1", "entropy_k4", EFFECT, paper.fixed_k_drop(4)),
    Claim("fixed_k2_blocks8", "fixed k = 2 loses accuracy against k = 1 (blocks of 8)", "entropy_k1_blocks8", "entropy_k2_blocks8", EFFECT,
          paper.fixed_k_drop(2)),
    Claim("fixed_k4_blocks8", "fixed k = 4 loses accuracy against k = 1 (blocks of 8)", "entropy_k1_blocks8", "entropy_k4_blocks8", EFFECT,
          paper.fixed_k_drop(4)),
    *(Claim(f"conclusion_fixed_k{k}", f"fixed k = {k} loses accuracy against k = 1 (the written reasoning's conclusion)", "entropy_k1",
            f"entropy_k{k}", EFFECT, paper.fixed_k_drop(k), reading="conclusion") for k in (2, 4)),
    Claim("med_vs_entropy", f"MED (λ = 0.2) keeps the accuracy of k = 1 with ~{_C.speedup('med'):.1f}x fewer NFE", "entropy_k1", "med",
          NO_LOSS, _C.change("med"), _C.speedup("med")),
    Claim("med_vs_fixed_k2", "MED (λ = 0.2) beats fixed k = 2", "entropy_k2", "med", EFFECT, _C.med.accuracy - paper.TABLE_B_GSM8K[2]),
    Claim("entropy_exit", f"early exit alone (γ = 0.1) keeps the accuracy of k = 1 with ~{_C.speedup('exit'):.1f}x fewer NFE", "entropy_k1",
          "entropy_exit", NO_LOSS, _C.change("exit"), _C.speedup("exit")),
    Claim("med_exit", f"MED (λ = 0.2) + early exit (γ = 0.1) keeps the accuracy of k = 1 with ~{_C.speedup('med_exit'):.1f}x fewer NFE",
          "entropy_k1", "med_exit", NO_LOSS, _C.change("med_exit"), _C.speedup("med_exit")),
    *(Claim(f"med_exit_transferred_{rule}", f"MED + exit at seed 0's {rule.replace('_', ' ')} setting", "entropy_k1", TRANSFERRED + rule, TARGET,
            own=True) for rule in SELECTION_RULES),
    *(Claim(f"med_exit_own_{rule}", f"MED + exit at the seed's own {rule.replace('_', ' ')} setting", "entropy_k1", OWN + rule, TARGET,
            own=True) for rule in SELECTION_RULES),
)
_SUDOKU = paper.TABLE_A_SUDOKU
SUDOKU_CLAIMS: tuple[Claim, ...] = (
    Claim("sudoku_any_order", "any-order decoding (entropy, whole answer) beats left to right on Sudoku", "l2r", "entropy_k1", EFFECT,
          _SUDOKU.block_128 - _SUDOKU.l2r, recipe="sudoku"),
    Claim("sudoku_fixed_k2", "on Sudoku, two tokens per step keep the accuracy of one (the paper's exception)", "entropy_k1", "entropy_k2",
          NO_LOSS, recipe="sudoku"),
)
# The deep regime (docs/decisions.md, "Two regimes"): the chains recipe's seeds decode the chains test split with
# every fixed decoding of the default recipe's seeds; the paper's claims are the same, judged by the same tests.
CHAINS_DECODINGS: dict[str, DecodeConfig] = dict(TEST_DECODINGS)
DEEP_SUFFIX = " (deep regime)"
CHAINS_CLAIMS: tuple[Claim, ...] = tuple(replace(c, name=f"chains_{c.name}", text=f"{c.text}{DEEP_SUFFIX}", recipe="chains")
                                         for c in CLAIMS if not c.own)
# Checks of our model, not claims of the paper: reasoning helps (the seed's left-to-right decoding against its
# answer-only twin's on the same problems; measure_answer_only). Apart from CLAIMS: not a decoding rule's effect.
MODEL_CHECKS: tuple[Claim, ...] = (
    Claim("reasoning_helps", "the reasoning model beats its answer-only twin (same seed, same budget; both left to right)", ANSWER_ONLY,
          "l2r", DIRECTION),
)
CLAIM = {c.name: c for c in CLAIMS + SUDOKU_CLAIMS + CHAINS_CLAIMS + MODEL_CHECKS}


def seed_state(path: Path, identity: Mapping) -> dict:
    """A seed's record so far (``path``) when it is of the same model and problems (every key of
    ``identity`` equal), else a fresh one holding ``identity``: how a rerun resumes."""
    state = json.loads(path.read_text()) if path.exists() else {}
    state.pop("provenance", None)
    if any(state.get(k) != v for k, v in identity.items()):
        if state:
            print(f"{path}: another model or problem set; starting afresh", flush=True)
        state = dict(identity)
    return state


def seed_records(out_dir: Path, seeds: Sequence[int]) -> list[dict]:
    """The records ``<out_dir>/seed<s>.json`` of the seeds that have one (a missing seed is said, and left out)."""
    states = []
    for seed in seeds:
        path = Path(out_dir) / f"seed{seed}.json"
        if not path.exists():
            print(f"{path}: missing; seed {seed} left out of the verdicts", flush=True)
            continue
        states.append(json.loads(path.read_text()))
    return states


MODEL_KEYS = ("seed", "model", "weights_sha256", "problems_sha256", "n_problems")


def claims_record(states: Sequence[dict], results: Sequence[dict], **extra) -> dict:
    """A seeds benchmark's ``claims.json``: the seeds, each seed's model and problems, the claims across them."""
    return {"seeds": [s["seed"] for s in states], "models": [{k: s[k] for k in MODEL_KEYS} for s in states], "claims": list(results), **extra}


def print_claims(results: Sequence[dict], width: int = 20) -> None:
    """One line per claim: pooled difference with its interval, holding count, verdict and each seed's difference."""
    for r in results:
        if "pooled" not in r:
            print(f"{r['claim']}: not measured yet")
            continue
        p, seeds = r["pooled"], " ".join(f"{100 * s['difference']:+.1f}" for s in r["per_seed"])
        i2 = p["i2"] if p["i2"] is not None else float("nan")
        print(f"{r['claim']:<{width}} pooled {100 * p['difference']:+.2f} [{100 * p['low']:+.2f}, {100 * p['high']:+.2f}] "
              f"holds {r['holding']['holding']}/{r['holding']['total']}  I2 {i2:.2f}  speed-up {p['speedup']:.2f}x  {p['verdict']}  "
              f"per seed {seeds}" + (f"  (missing {r['missing']})" if r.get("missing") else ""), flush=True)


def _entry(state: dict, role: str) -> dict:
    try:
        return state["decodings"][role]
    except KeyError:
        raise ValueError(f"{state.get('model', 'a seed')} has no decoding {role!r}; decoded: {sorted(state.get('decodings', {}))}") from None


def per_seed_result(state: dict, claim: Claim) -> dict:
    """One seed's paired comparison for ``claim``: the paired difference with its 95% interval (Tango)
    and 90% bounds, both accuracies and mean NFE, the speed-up (reference NFE / this NFE), this
    decoding's setting, the claim's verdict on this seed (:meth:`Claim.judge`) and whether it holds
    (:meth:`Claim.holds`)."""
    ref, this = _entry(state, claim.reference), _entry(state, claim.this)
    ref_bits, this_bits = unbits(ref[claim.reading]), unbits(this[claim.reading])
    ci = paired_difference_ci(ref_bits, this_bits)
    iv95 = v.paired_difference(ci["n"], ci["only_a"], ci["only_b"])
    iv90 = v.paired_difference(ci["n"], ci["only_a"], ci["only_b"], level=v.TOST_LEVEL)
    speedup = ref["mean_nfe"] / this["mean_nfe"]
    verdict = claim.judge(iv95, iv90, v.speedup_interval([speedup]))
    return {"seed": state.get("seed"), "model": state.get("model"), **ci, "low90": iv90.low, "high90": iv90.high,
            "reference_accuracy": sum(ref_bits) / len(ref_bits), "accuracy": sum(this_bits) / len(this_bits),  # of the claim's reading
            "reference_mean_nfe": ref["mean_nfe"], "mean_nfe": this["mean_nfe"], "speedup": speedup,
            "setting": this.get("label"), "verdict": verdict.word, "reason": verdict.reason, "holds": claim.holds(verdict.word)}


def pooled_result(claim: Claim, per_seed: Sequence[dict]) -> dict:
    """The claim's verdict of record over the seeds: its own test (:meth:`Claim.judge`) on the
    random-effects pooled difference (:func:`~mdlm_study.core.verdicts.seed_pooled_difference`, the seed as
    the unit) and the seeds' geometric-mean speed-up with its t interval. With one seed, that seed's
    result. Returns the pooled interval (95% and 90%), the prediction interval for a new seed, I², the
    smallest effect the pooled test detects, the speed-up interval and the verdict with its reason."""
    speed = v.speedup_interval([r["speedup"] for r in per_seed])
    strata = [(r["n"], r["only_a"], r["only_b"]) for r in per_seed]
    if len(strata) == 1:
        iv95 = v.paired_difference(*strata[0])
        iv90 = v.paired_difference(*strata[0], level=v.TOST_LEVEL)
        extra = {"k": 1, "prediction_low": None, "prediction_high": None, "i2": None, "tau2": None, "q": None, "p_heterogeneity": None}
    else:
        iv95, extra = v.seed_pooled_difference(strata)
        iv90, _ = v.seed_pooled_difference(strata, level=v.TOST_LEVEL)
    verdict = claim.judge(iv95, iv90, speed)
    return {**extra, "difference": iv95.estimate, "low": iv95.low, "high": iv95.high, "level": iv95.level, "low90": iv90.low,
            "high90": iv90.high, "method": iv95.method, "detectable": iv95.detectable(), "n": sum(x[0] for x in strata),
            "speedup": speed.estimate, "speedup_low": speed.low, "speedup_high": speed.high,
            "verdict": verdict.word, "reason": verdict.reason, "decided_by": verdict.decided_by}


def counts_for_claims(state: Mapping) -> bool:
    """Whether a seed's record counts for its recipe's claims: it holds decodings and, where it carries
    regime diagnostics (the deep regime's seeds), they meet the paper's regime bounds
    (:func:`~mdlm_study.experiments.regime.in_regime`): a chains seed that did not learn to reason its
    answers out is reported beside the others, not pooled with them (docs/decisions.md, "Two regimes")."""
    return "decodings" in state and ("regime" not in state or in_regime(state["regime"]))


def claim_results(states: Sequence[dict], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """Each claim across the seeds (``states``: one :func:`measure_seed` state per seed): per seed
    (:func:`per_seed_result`), pooled with the seed as the unit (:func:`pooled_result`, the verdict of
    record), the fixed-effect Mantel-Haenszel pooling beside it for comparison (``fixed_effect``: it
    treats the five models as the only ones there are, so it answers a narrower question), and on how
    many seeds the claim holds. Only the seeds of the claim's recipe count (:attr:`Claim.recipe`), and of
    them those :func:`counts_for_claims` admits. A claim
    whose decodings some seeds lack (an unfinished run) is measured on the others, and ``missing`` names
    the seeds left out (all of them: no ``pooled`` key)."""
    out = []
    for claim in claims:
        own = [s for s in states if counts_for_claims(s) and record_recipe(s) == claim.recipe]  # decoding records of the claim's recipe
        has = [s for s in own if all(claim.reading in s.get("decodings", {}).get(role, {}) for role in (claim.reference, claim.this))]
        missing = [s.get("model") for s in own if s not in has]
        head = {"claim": claim.name, "text": claim.text, "reference": claim.reference, "this": claim.this, "holds_when": claim.rule_text,
                "paper": claim.paper, "paper_speedup": claim.paper_speedup, "own": claim.own, "missing": missing}
        if not has:
            out.append(head)
            continue
        per_seed = [per_seed_result(s, claim) for s in has]
        strata = [(unbits(_entry(s, claim.reference)[claim.reading]), unbits(_entry(s, claim.this)[claim.reading])) for s in has]
        fixed = cmh_paired(strata)
        fixed.pop("per_seed")
        holding = count_holding(per_seed, rule=lambda r: bool(r["holds"]))
        holding["seeds"] = [per_seed[i]["seed"] for i in holding["which"]]
        speedups = [r["speedup"] for r in per_seed]
        out.append({**head, "per_seed": per_seed, "pooled": pooled_result(claim, per_seed), "fixed_effect": fixed, "holding": holding,
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
    """One seed's decodings in the claims table's record format (:mod:`mdlm_study.reporting.claims`, as
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
    """Each predicted correlation across seeds (:data:`HYPOTHESES`, one family) with Spearman's rho, its
    exact permutation p-value, the Holm-adjusted p-value over the family (:func:`~mdlm_study.core.pooling.holm`)
    and a reading: *supported* (the predicted sign and adjusted p < ``alpha``), *same direction, not
    significant* (with five seeds only |rho| = 1 reaches p < 0.05 before adjustment), or *contradicted*
    (the opposite sign, or no correlation)."""
    rows = []
    for mechanism, effect, sign in hypotheses:
        both = table[[mechanism, effect]].dropna()
        base = {"mechanism": mechanism, "effect": effect, "predicted": sign}
        rows.append({**base, **spearman_exact(both[mechanism], both[effect])} if len(both) >= 3 else {**base, "reading": "not measured", "n": len(both)})
    tested = [r for r in rows if "rho" in r and not math.isnan(r["p_value"])]
    for r, adjusted in zip(tested, holm([r["p_value"] for r in tested]) if tested else [], strict=True):
        same = r["rho"] * r["predicted"] > 0
        r["p_holm"] = adjusted
        r["reading"] = ("supported" if adjusted < alpha else "same direction, not significant") if same else "contradicted"
    for r in rows:
        r.setdefault("reading", "contradicted")
    return rows
