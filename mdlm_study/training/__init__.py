"""Training: the MDLM objective, the data as tensors, the loop (its speed-ups and progress lines), the
study's recipes (each evaluates what it trains), early stopping inside the paper's regime, fine-tuning on posterior traces, LoRA."""
