"""mdlm-study: reasoning-as-infilling, posterior sampling, step scoring and multi-token entropy
decoding for masked diffusion language models (Horvitz et al., arXiv 2510.19990).

Subpackages, lowest first; a module imports from its own subpackage and the ones above it in this
list, never from one below (``tests/test_layers.py`` enforces it, and the layers of the modules):

1. ``core``: the paper's reported numbers, special tokens, argument checks, records, statistics, pooling, verdict words, AUP and
   Pareto, parameters
2. ``engine``: ``generate()``, ``DecodeConfig``, the decoding rules, exits and noise, templates (canvases),
   the batched decode, the denoiser protocol, likelihoods
3. ``models``: the tiny MDLM and tokenizer, checkpoints, released models, ``load_model()`` (the one
   loader of any model, by name or path), the paper's generation setting
4. ``tasks``: ``Task`` and the study's tasks, graders, benchmark readers, the sandbox, datasets on disk
5. ``experiments``: evaluate (decode a task and grade it) and one module per analysis
6. ``training``: the MDLM objective, recipes (they evaluate what they train), fine-tuning, LoRA
7. ``integrations``: the lm-evaluation-harness model class, the data-parallel CLI
8. ``reporting``: claims, conclusions, figures, each notebook's typed headline, generated documents
9. ``runner``: the notebook runner (``python -m mdlm_study.runner``), ``load_experiment``, and
   ``open_notebook`` / ``close_notebook``, what a notebook opens and closes with

Notebooks and ``benchmarks/`` sit above all of it.
"""

import warnings

__version__ = "0.1.0"

# transformers imports tqdm.auto, which inside a notebook kernel without ipywidgets warns "IProgress not
# found" on stderr. The package shows no widget progress bars (they are off unless a terminal runs it), so
# that one warning says nothing about the study: silence it, and only it.
warnings.filterwarnings("ignore", message="IProgress not found")
