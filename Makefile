# convlstm-lab: `make demo` and `make test` are the two commands a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB_RUN ?= notebooks
NB_ARGS ?=

.PHONY: setup test test-fast demo notebooks bench lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Every test, the notebooks included: nbval executes each once, in order, on tiny data, writing into a
# temporary folder (tests/_nbval.py).
test: setup
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env

test-fast: setup
	$(PY) -m pytest tests -m "not slow and not browser"

demo: setup
	$(VENV)/bin/lab demo

notebooks: setup
	$(VENV)/bin/lab notebooks --run-name $(NB_RUN) $(NB_ARGS)

bench: setup
	$(PY) -m benchmarks

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf data/train data/val data/test data/notebooks data/notebooks_real data/notebooks_loo data/real_footage_demo checkpoints/* logs reports/demo* reports/notebooks
