# The README's two commands: `make reproduce` (the whole study) and `make test` (install + tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test reproduce lint clean notebook study-released seeds seeds-retrain

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: on this machine it resolves to a CPU build from local disk; users with GPUs
# install their own build beforehand and pip keeps it (pyproject only asks torch>=2.4).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,harness]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup

# Training happens inside notebook 01; bench_model.py then writes the default model's targets
# (exact-answer accuracy, answer-only accuracy, training seconds) into benchmarks/results/default/model.json;
# the retrained weights are compared with the released ones (models/MANIFEST.json), model by model, bit for bit
# (a record with provenance: weights may differ across CPU types); results_doc rewrites docs/results.md,
# docs/verdicts.md and the README's headline table from the new records, and results_index rewrites
# benchmarks/results/INDEX.md (the bookkeeping: after it, `make test` passes; tests/test_results_index.py).
# The deep regime's seed 0 (`chains`, warm-started from the released `models/steps`) is trained after the notebooks
# with both threads and its regime checked on the test chains of 3-8 steps, every chain reported by depth
# (bench_regime.py's floor for chains, experiments.regime.DEEP_MIN_STEPS; benchmarks/results/machine/reproduce_regime_chains.json;
# the released one was trained with one thread, so its weights are compared but need not be bit-identical).
reproduce: $(STAMP)
	$(PY) -m mdlm_study.runner --full --jobs 2
	$(PY) -m mdlm_study.training.recipes chains --checkpoints checkpoints --threads 2
	$(PY) benchmarks/bench_regime.py --task chains --models checkpoints/chains --out benchmarks/results/machine/reproduce_regime_chains.json
	$(PY) benchmarks/bench_model.py --checkpoints checkpoints --data-dir data
	$(PY) -m mdlm_study.models.released compare --checkpoints checkpoints --out benchmarks/results/machine/reproduce_weights.json
	$(PY) -m mdlm_study.reporting.results_doc
	$(PY) -m mdlm_study.reporting.results_index

# Fast paths on the released models (models/, no training; outputs under build/released/).
# One notebook with changed parameters (one key=value each; a value may hold spaces):
#   make notebook NB=04 ARGS='gammas=[0.05, 0.5] n_problems=100'
NB   ?= 04
ARGS ?=
notebook: $(STAMP)
	$(PY) -m mdlm_study.runner --full --released --only $(NB) $(foreach a,$(ARGS),-p '$(a)')

# Every notebook on the released models: 01 reports the released runs (no training), 02-07 as in the study.
study-released: $(STAMP)
	$(PY) -m mdlm_study.runner --full --released --jobs 2

# The seeds study: every decoding claim on the five training seeds of the default recipe (not part of
# `make reproduce`). `seeds` decodes with the released models (models/default, default_seed1..4, and each seed's
# answer-only twin answer_only, answer_only_seed1..4 for the reasoning check) into benchmarks/results/seeds/ and
# figures/seeds_forest.png; `seeds-retrain` first trains the five seeds and their twins (CKPT/seed<N>/default and
# answer_only; hours of CPU) and writes its results beside them, not over the released ones.
# A rerun resumes: finished runs and decodings are kept.
# Two processes side by side (seeds 0-2 and 3-4, one thread each: 68 minutes on this 2-core CPU), then the verdicts.
# Then the trace claims on the same seeds (Table D, filtering, step scoring; benchmarks/results/seeds_traces/), Table E on
# each seed's base snapshot (models/base, base_seed1..4; benchmarks/results/seeds_finetune/), and the
# Sudoku claims on the Sudoku recipe's seeds (models/sudoku, sudoku_seed1..4; benchmarks/results/seeds_sudoku/), and
# the deep regime's claims on the chains recipe's released seeds (benchmarks/results/seeds_chains/, figures/claims_by_depth.png).
SEEDS_ARGS ?=
TRACE_ARGS ?=
FINETUNE_ARGS ?=
seeds: $(STAMP)
	( OMP_NUM_THREADS=1 $(PY) benchmarks/bench_seeds.py --seeds 0 1 2 --decode-only $(SEEDS_ARGS) & pid=$$!; \
	  OMP_NUM_THREADS=1 $(PY) benchmarks/bench_seeds.py --seeds 3 4 --decode-only $(SEEDS_ARGS); rc=$$?; wait $$pid && exit $$rc )
	$(PY) benchmarks/bench_seeds.py --analyse-only $(SEEDS_ARGS)
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_trace_seeds.py --n-problems 600 $(TRACE_ARGS)
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_finetune_seeds.py $(FINETUNE_ARGS)
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_sudoku_seeds.py
	OMP_NUM_THREADS=2 $(PY) benchmarks/bench_chains_seeds.py --threads 2 --answer-only chains_answer_only

SEEDS_CKPT ?= checkpoints/seeds
seeds-retrain: $(STAMP)
	for s in 0 1 2 3 4; do $(PY) -m mdlm_study.training.recipes default answer_only --seed $$s --checkpoints $(SEEDS_CKPT)/seed$$s || exit 1; done
	$(MAKE) seeds SEEDS_ARGS="--models-dir $(SEEDS_CKPT) --out-dir $(SEEDS_CKPT)/results --figures-root $(SEEDS_CKPT)" \
	  TRACE_ARGS="--models-dir $(SEEDS_CKPT) --out-dir $(SEEDS_CKPT)/results_traces" \
	  FINETUNE_ARGS="--models-dir $(SEEDS_CKPT) --out-dir $(SEEDS_CKPT)/results_finetune"

lint: $(STAMP)
	$(VENV)/bin/ruff check mdlm_study tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
