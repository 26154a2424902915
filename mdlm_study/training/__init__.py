"""Training: the MDLM objective and loop, the study's recipes (each evaluates what it trains), fine-tuning on
posterior traces, LoRA."""
