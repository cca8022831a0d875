# visionblocks: every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q
CORE := $(VENV)/.stamp-core
DEV := $(VENV)/.stamp-dev

.PHONY: demo test lint format data bench clean chromium graphviz

$(PY):
	@echo "== creating the virtual environment $(VENV) (once)"
	$(PYTHON) -m venv $(VENV)

$(CORE): pyproject.toml | $(PY)
	@echo "== installing visionblocks with numpy, tqdm and scikit-learn (for the embedded digits) into $(VENV) (first run only)"
	$(PIP) -e ".[digits]"
	@echo "== installed"
	touch $@

# torch first: the pinned range takes the local CPU build, never the CUDA wheels.
$(DEV): pyproject.toml | $(PY)
	@echo "== installing PyTorch 2.13 (CPU build, about 200 MB) into $(VENV) (first run only; the largest download)"
	$(PIP) "torch>=2.13,<2.14"
	@echo "== installing the test tools and oracles: pytest, hypothesis, ruff, scikit-learn, matplotlib, pycocotools, tensorboard"
	$(PIP) -e ".[digits,plots,torch,dev]"
	@echo "== installed"
	touch $@ $(CORE)

demo: $(CORE)
	rm -rf runs/digits-demo
	$(VENV)/bin/visionblocks train --config configs/digits_demo.toml

lint: $(DEV)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(DEV)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# The report test renders report.html in headless Chromium (Debian's package; CI runs as root).
chromium:
	@command -v chromium >/dev/null || { echo "== installing Debian's chromium with apt-get (for the report rendering test; first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The autograd graph drawings use Graphviz's `dot` (Debian's package; a plain fallback exists without it).
graphviz:
	@command -v dot >/dev/null || { echo "== installing Debian's graphviz with apt-get (for the graph drawing tests; first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; }

# Every test oracle is installed here, so a test that would skip for a missing one fails instead.
test: lint chromium graphviz
	@echo "== running the tests on 2 workers"
	VISIONBLOCKS_REQUIRE_ORACLES=1 MPLBACKEND=Agg $(PY) -m pytest -q -n 2 --durations=10

data:
	@if command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y dataset-fashion-mnist || sudo apt-get install -y dataset-fashion-mnist; \
	else \
		echo "No apt-get here. Put the four Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ..."; \
		echo "t10k-labels-idx1-ubyte.gz) in ~/.cache/visionblocks/fashion-mnist or set VISIONBLOCKS_DATA."; \
		exit 1; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
