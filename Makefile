# facegate: `make run` starts a local NocoDB and facegate; `make test` runs every check and test.
# Both install what they need first (uv, the Python packages, NocoDB from npm, the sample photos).

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV

.PHONY: setup run test lint test-fast openapi bench clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install --quiet uv

setup: $(UV)
	$(UV) sync --frozen
	$(UV) run python scripts/fetch_samples.py

run: setup
	$(UV) run python -m scripts.up

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run python -m scripts.export_openapi --check

test: lint
	$(UV) run python -m scripts.localnocodb install
	$(UV) run pytest -p no:cacheprovider -rs --junitxml=artifacts/junit.xml

# Everything but the real-NocoDB integration tests.
test-fast: setup
	$(UV) run pytest -m "not integration"

# Speed and memory, measured side by side (not part of `make test`; a smoke run of it is).
bench: setup
	$(UV) run python -m scripts.localnocodb install
	$(UV) run python -m bench.run

openapi: setup
	$(UV) run python -m scripts.export_openapi

clean:
	rm -rf .venv .tools artifacts .pytest_cache .mypy_cache .ruff_cache
