"""The tiny MDLM and its tokenizer, checkpoints, the released models, the one loader of any model by
name or path (:func:`load_model`: a released or trained study model, a local folder, a hub name; LLaDA,
Dream, any masked LM and their remote code) and the paper's generation setting."""

from mdlm_study.models.loader import LoadedMDLM, load_model

__all__ = ["LoadedMDLM", "load_model"]
