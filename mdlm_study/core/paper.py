"""The paper's reported numbers, each typed once: Horvitz et al., *No Compute Left Behind: Rethinking
Reasoning and Sampling with Masked Diffusion Models*, arXiv 2510.19990.

Everything the study compares against reads these: the claims (:mod:`mdlm_study.reporting.claims`), the
seeds' claim registry (:mod:`mdlm_study.experiments.seeds`), the figures (:mod:`mdlm_study.reporting.plots`),
the regime diagnostics (:mod:`mdlm_study.experiments.regime`), the real models' generation setting
(:mod:`mdlm_study.models.paper_setting`), the notebooks, and through them the generated documents.
``tests/test_paper_numbers.py`` fails when one of these numbers is typed again anywhere else.

Units: accuracies and shares are fractions in [0, 1] (the paper prints percent: :func:`percent` gives
the number as printed); NFE is forward passes per problem. Unless said otherwise a number is GSM8K on
LLaDA-8B-Instruct, in the paper's generation setting (:data:`GEN_LENGTH`, :data:`ANSWER_LEN`,
:data:`BLOCK_SIZE`).

The paper reports no number for two claims the study tests: how well step scores tell correct from
flawed traces and locate the first wrong step (AUROC, localisation), and Sudoku's loss under fixed
k = 2 ("except for Sudoku"). One number comes from another paper: :data:`PROPHET_RIGHT_AT_HALF`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# ---------------------------------------------------------------------------------------------------
# The generation setting (the paper's experimental setup, and the columns of Tables A and B)

GEN_LENGTH = 256  # L: masked positions of the canvas (reasoning + answer slot); one token per step takes L passes
ANSWER_LEN = 10  # A: the answer slot
BLOCK_SIZE = 32  # semi-autoregressive block of every rule, fixed k included (Table B)
TABLE_A_BLOCK_SIZES = (1, 32, 128)  # Table A's columns: block 1 (left to right), 32 and 128


# ---------------------------------------------------------------------------------------------------
# Table A: any-order against left-to-right decoding, one token per step


@dataclass(frozen=True)
class AnyOrder:
    """A row of Table A: accuracy (fraction) decoding left to right and in entropy order within blocks
    of 32 and 128 tokens (``None``: not read for that task)."""

    l2r: float
    block_128: float
    block_32: float | None = None


TABLE_A_GSM8K = AnyOrder(l2r=0.7695, block_32=0.7695, block_128=0.5344)  # Table A, GSM8K / LLaDA
TABLE_A_SUDOKU = AnyOrder(l2r=0.3613, block_128=0.4764)  # Table A, Sudoku / LLaDA: the task where any order helps


# ---------------------------------------------------------------------------------------------------
# Table B: fixed k tokens per step (entropy order, blocks of 32)

TABLE_B_GSM8K: Mapping[int, float] = MappingProxyType({1: 0.7695, 2: 0.6231, 4: 0.3358})  # Table B: accuracy by k, GSM8K / LLaDA


def fixed_k_drop(k: int) -> float:
    """Table B's change of accuracy (fraction, negative: a loss) from one token per step to ``k``."""
    return TABLE_B_GSM8K[k] - TABLE_B_GSM8K[1]


# ---------------------------------------------------------------------------------------------------
# Table C: MED and early exit


@dataclass(frozen=True)
class Decoding:
    """A row of Table C: forward passes per problem and accuracy (fraction)."""

    nfe: int
    accuracy: float


@dataclass(frozen=True)
class Speedups:
    """Table C: one token per step (entropy order, k = 1), early exit at γ = 0.1 (``exit``), MED at
    λ = 0.2 (``med``) and both (``med_exit``)."""

    entropy: Decoding
    exit: Decoding
    med: Decoding
    med_exit: Decoding

    def rule(self, name: str) -> Decoding:
        if name not in ("entropy", "exit", "med", "med_exit"):
            raise ValueError(f"Table C has no row {name!r}; rows: entropy, exit, med, med_exit")
        return getattr(self, name)

    def speedup(self, name: str) -> float:
        """Fewer forward passes than one token per step: k = 1's NFE over the row's."""
        return self.entropy.nfe / self.rule(name).nfe

    def change(self, name: str) -> float:
        """The row's accuracy minus one token per step's (fraction)."""
        return self.rule(name).accuracy - self.entropy.accuracy


MED_LAMBDA = 0.2  # Table C's MED threshold λ (nats)
EXIT_GAMMA = 0.1  # Table C's early-exit threshold γ (nats): the answer slot's summed entropy below it stops decoding
TABLE_C = Speedups(entropy=Decoding(GEN_LENGTH, 0.794), exit=Decoding(193, 0.786), med=Decoding(94, 0.799), med_exit=Decoding(77, 0.793))
EXIT_SAVING = 1 - TABLE_C.exit.nfe / TABLE_C.entropy.nfe  # Table C: the share of passes the early exit saves (γ = 0.1)


# ---------------------------------------------------------------------------------------------------
# Posterior traces and fine-tuning (Tables D and E, the appendix)


@dataclass(frozen=True)
class Range:
    """A range the paper reports (closed, same units as the measurement)."""

    low: float
    high: float


TABLE_D = Range(0.36, 0.43)  # Table D: fraction of posterior traces correct on problems free decoding got wrong (GPT-4o judge)
FILTERING_GAIN = 0.014  # appendix: log-probability filtering's gain in fully correct posterior traces (fraction)
# Table E, GSM8K / LLaDA-8B Base: accuracy (fraction) of the base model and after fine-tuning on gold, posterior or both traces
TABLE_E: Mapping[str, float] = MappingProxyType({"base": 0.512, "gold": 0.646, "posterior": 0.661, "both": 0.673})


# ---------------------------------------------------------------------------------------------------
# The decoding-order analysis


@dataclass(frozen=True)
class Leftmost:
    """The paper's analysis of any-order rules (blocks of 32): the share of commits at the leftmost
    mask (approximately) and the mean distance of a commit from it (tokens, approximately)."""

    fraction: float
    mean_distance: float


LEFTMOST = Leftmost(fraction=0.5, mean_distance=3.0)  # "~50% leftmost, mean distance ~3 tokens"


# ---------------------------------------------------------------------------------------------------
# Another paper's number

PROPHET_RIGHT_AT_HALF = 0.97  # Prophet (Li et al., 2025): share of GSM8K answers already right at half the steps (LLaDA-8B)


def percent(fraction: float) -> float:
    """A fraction as the paper prints it, in percent (``0.7695`` -> ``76.95``, rounded to 2 decimals)."""
    return round(100 * fraction, 2)
