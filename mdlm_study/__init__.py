"""mdlm-study: reasoning-as-infilling, posterior sampling, step scoring and multi-token entropy
decoding for masked diffusion language models (Horvitz et al., arXiv 2510.19990)."""

__version__ = "0.1.0"
