# Two entry points: `make demo` (precompute on the embedded default, then the dashboard) and
# `make test` (the test suite). Both create .venv and install the pinned requirements first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: setup browser test test-all demo precompute precompute-seeds images app bench bench-findings clean

$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-assets.txt
	# the console scripts taskfair and taskfair-precompute (the code stays where it is)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the real-browser test of the dashboard.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium (need root and apt); the browser test will not run"

test: setup browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# Includes tests marked slow (real MiniLM fine-tuning); kept out of CI.
test-all: setup browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "slow or not slow"

precompute: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m precompute --config $(PROFILE)

# The embedded default with three seeds (intervals that include seed-to-seed variation): 3× quick's cost.
precompute-seeds: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m precompute --config quick --set 'seeds=[13,14,15]' --set name=quick-3seeds

app: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m ui.serve app.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.headless true --browser.gatherUsageStats false

# The dashboard first (pages fill in as results land), the precompute beside it; Ctrl-C stops both.
demo: setup
	@HF_HUB_OFFLINE=1 $(BIN)/python -m ui.serve app.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.headless true --browser.gatherUsageStats false >dashboard.log 2>&1 & app=$$!; \
	trap 'kill $$app 2>/dev/null' EXIT INT TERM; \
	echo "dashboard: http://127.0.0.1:8501 (log: dashboard.log); its pages fill in as the precompute stores results"; \
	if HF_HUB_OFFLINE=1 $(BIN)/python -m precompute --config $(PROFILE); then \
	  echo "precompute finished; the dashboard stays up at http://127.0.0.1:8501 (Ctrl-C to stop)"; \
	else echo "the precompute stopped (see above); rerun 'make demo' to resume it"; \
	  kill -0 $$app 2>/dev/null && echo "the dashboard stays up at http://127.0.0.1:8501 (Ctrl-C to stop)"; fi; \
	wait $$app

# The image setting on a generated image folder (tiny ViT, about a minute); then `make app`.
images: setup
	test -f data/synthetic-images/labels.csv || HF_HUB_OFFLINE=1 $(BIN)/python -m taskfair images data/synthetic-images
	HF_HUB_OFFLINE=1 $(BIN)/python -m precompute --config images-demo

# Every benchmark (about 45 minutes on 2 cores, ~20 GB of scratch disk), then BENCHMARKS.md.
bench: setup
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_metrics.py
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_merge.py
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_engine.py
	test -f artifacts/quick/manifest.json || $(MAKE) precompute
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_precompute.py ../artifacts
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_remix.py ../artifacts quick 20
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_exact.py ../artifacts quick
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_load.py ../artifacts quick 10
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_load.py ../artifacts quick 10 1
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_floor.py
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_load.py ../artifacts quick 10
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_load.py ../artifacts quick 10 1
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_load.py ../artifacts quick 10 1 streamlit
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_load.py ../artifacts quick 10 1 ui.serve on
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_serve_soak.py ../artifacts quick 6000 200
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_demo.py --costs-only
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_beyond.py ../artifacts quick 5 6
	cd bench && HF_HUB_OFFLINE=1 PYTHONPATH=.. ../$(BIN)/python bench_scale.py
	$(MAKE) bench-findings
	$(BIN)/python bench/report.py

# The findings' calibration on synthetic runs (about 10 minutes on 2 cores): its table in BENCHMARKS.md.
bench-findings: setup
	cd bench && PYTHONPATH=.. ../$(BIN)/python bench_findings.py
	$(BIN)/python bench/report.py --section findings

clean:
	rm -rf $(VENV)
