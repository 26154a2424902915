"""The tiny MDLM and its tokenizer, checkpoints, the released models, one loader for real masked LMs
(LLaDA, Dream, any masked LM; their remote code) and the paper's generation setting."""
