"""mdlm-study: reasoning-as-infilling, posterior sampling, step scoring and multi-token entropy
decoding for masked diffusion language models (Horvitz et al., arXiv 2510.19990)."""

import warnings

__version__ = "0.1.0"

# transformers imports tqdm.auto, which inside a notebook kernel without ipywidgets warns "IProgress not
# found" on stderr. The package shows no widget progress bars (they are off unless a terminal runs it), so
# that one warning says nothing about the study: silence it, and only it.
warnings.filterwarnings("ignore", message="IProgress not found")
