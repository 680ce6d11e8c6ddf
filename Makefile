# Two commands on a fresh machine with Python 3.11+ and make: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo seq test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The demo needs only NumPy and its optional extras (plots, progress bars, the digits).
$(VENV)/.demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[demo]"
	touch $@

# Tests add pytest, hypothesis and torch (the reference oracle, CPU build).
$(VENV)/.test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,demo]"
	touch $@

demo: $(VENV)/.demo
	$(PY) -m tapegrad.demo $(ARGS)

# The second example: a Transformer and an LSTM learn to add numbers written as digits.
seq: $(VENV)/.demo
	$(PY) -m tapegrad.examples.seq $(ARGS)

# Lint first, so CI that runs `make test` keeps the ruff rules of pyproject.toml.
lint: $(VENV)/.test
	$(PY) -m ruff check src tests bench

test: lint
	$(PY) -m pytest

bench: $(VENV)/.test
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis demo-out seq-out
