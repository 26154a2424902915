"""Decoding for masked diffusion LMs: one engine (``generate``), a configuration (``DecodeConfig``),
pluggable selection rules (``register_rule``), early exit, the decoding grids (``grids``).

The decode entry points, one per level, lowest first (names from ``mdlm_study``): each is built on a
level above it, the last three through an ``evaluate(problems, config)`` callable such as
``exp.evaluate``. The same table is in docs/decisions.md, "Decoding, level by level"
(``tests/test_decode_levels.py`` keeps the two equal and every name importable).

| level | function | input → output | called by |
|---|---|---|---|
| one batch | `engine.generate` | token ids [B, L] of one batch → `GenerationOutput` | `decode_rows`; the README's example, `bench_sampling.py`, `bench_memory.py` |
| rows | `engine.decoding.decode_rows` | left-padded ids [N, L] → `Decoded` (in batches, one seed stream per row) | `decode_canvas`; the harness (prompts without a template) |
| canvas | `engine.decoding.decode_canvas` | a template's `Canvas` → `Decoded` | the two below; posterior sampling; the harness |
| questions | `experiments.evaluate.decode_questions` | question strings + `Template` → (`Canvas`, `Decoded`) | `evaluate_task`; faithfulness |
| questions, every step kept | `experiments.analysis.decode_questions_with_history` | the same, with every step's record | notebooks 02 and 04; `regime` |
| graded problems | `experiments.evaluate.evaluate_task` (`evaluate_arithmetic`, `evaluate_sudoku`) | problems → a table, one graded row per problem | `exp.evaluate` (notebooks 02-04); recipes, fine-tuning, distributed, benchmarks |
| settings | `experiments.analysis.sweep` | `evaluate` + configs → one summary row per config | notebooks 02-04 |
| records | `experiments.selection.sweep_records`, `chosen_records` | `evaluate` + configs → result records, each paired with the reference | `bench_decoding.py`; `selected_records`, `transferred_records` |
"""

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
