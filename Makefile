# The README's two commands: `make reproduce` (the whole study) and `make test` (install + tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test reproduce lint clean

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
# results_doc rewrites docs/results.md, docs/verdicts.md and the README's headline table from the new records.
reproduce: $(STAMP)
	$(PY) -m mdlm_study.runner --full --jobs 2
	$(PY) benchmarks/bench_model.py --checkpoints checkpoints --data-dir data
	$(PY) -m mdlm_study.results_doc

lint: $(STAMP)
	$(VENV)/bin/ruff check mdlm_study tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
