# The README's two commands: `make demo` (a real search on the bundled digits data set, with the
# service and dashboard) and `make test`. Both create or reuse .venv/ at the repository root.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/pip
# torch first, pinned: that wheel is on local disk as a CPU build; an unpinned torch pulls CUDA.
TORCH := torch==2.13.0

.PHONY: demo test lint install install-dev clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .
	touch $@

# SpikingJelly is the parity and benchmark peer, not a dependency: --no-deps keeps its
# torchaudio/torchvision requirements from replacing the CPU torch.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps spikingjelly==2.0.0 loguru tqdm
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/spikenas demo

test: $(VENV)/.installed-dev
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
