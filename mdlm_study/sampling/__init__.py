"""Decoding for masked diffusion LMs: one engine (``generate``), pluggable selection rules, early exit."""

from mdlm_study.sampling.engine import GenerationOutput, generate, model_device
from mdlm_study.sampling.exit import EXIT_RULES
from mdlm_study.sampling.rules import RULES

SAMPLERS = tuple(RULES)

__all__ = ["EXIT_RULES", "RULES", "SAMPLERS", "GenerationOutput", "generate", "model_device"]
