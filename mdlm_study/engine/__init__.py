"""Decoding for masked diffusion LMs: one engine (``generate``), a configuration (``DecodeConfig``),
pluggable selection rules (``register_rule``), early exit, the decoding grids (``grids``)."""

from mdlm_study.engine.config import DecodeConfig
from mdlm_study.engine.exit import EXIT_RULES
from mdlm_study.engine.grids import FIXED_KS, rule_grids, rule_sweep, rule_sweep_size
from mdlm_study.engine.loop import GenerationOutput, generate, model_device
from mdlm_study.engine.noise import row_generator, row_generators
from mdlm_study.engine.recent_rules import RECENT_RULES  # registers WINO, KLASS, PC-Sampler, LocalLeap
from mdlm_study.engine.rules import RULES, Param, Rule, load_rule_modules, register_rule

SAMPLERS = tuple(RULES)

__all__ = ["EXIT_RULES", "FIXED_KS", "RECENT_RULES", "RULES", "SAMPLERS", "DecodeConfig", "GenerationOutput", "Param", "Rule", "generate",
           "load_rule_modules", "model_device", "register_rule", "row_generator", "row_generators", "rule_grids", "rule_sweep",
           "rule_sweep_size"]
