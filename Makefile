# The two commands that matter: `make demo` and `make test`. Both set up what they need first.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.bootstrapped
DEMO_HOME ?= data/demo
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING
export OMP_THREAD_LIMIT := 1

.PHONY: setup native demo test lint typecheck unit bench serve clean

setup: $(STAMP)

# Optional C accelerators (the camt element tree); without a compiler the pure-Python code runs.
native: $(STAMP)
	@$(PY) scripts/build_native.py

$(STAMP): pyproject.toml uv.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh

demo: native
	@scripts/demo.sh "$(DEMO_HOME)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: native
	$(PY) -m pytest -q

test: lint typecheck unit

bench: native
	$(PY) -m benchmarks.run

serve: $(STAMP)
	@echo "serve: the HTTP API arrives with the serving issue" >&2; exit 2

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
	rm -f ingest/bank/*.so
