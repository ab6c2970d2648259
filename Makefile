# convlstm-lab: `make demo` and `make test` are the two commands a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN    ?= demo

.PHONY: setup test test-fast demo notebooks bench lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

demo: setup
	$(VENV)/bin/lab demo

notebooks: setup
	$(VENV)/bin/lab notebooks --run-name $(RUN)

bench: setup
	$(VENV)/bin/lab bench

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf data/train data/val data/test checkpoints/* logs reports/demo
