# facegate: `make run` starts a local NocoDB and facegate; `make test` runs every check and test.
# Both install what they need first (uv, the Python packages, NocoDB from npm, the sample photos).

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser run test lint test-fast openapi bench clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install --quiet uv

setup: $(UV)
	$(UV) sync --frozen
	$(UV) run python scripts/fetch_samples.py

# Headless Chromium and its driver, and Caddy (the TLS proxy of the embed's https test), from
# Debian's packages, for the carousel's browser tests. On a machine that runs systemd, Debian's caddy
# package also starts its own service on port 80: `systemctl disable --now caddy` stops it.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v caddy >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver caddy; }

run: setup
	$(UV) run python -m scripts.up

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run python -m scripts.export_openapi --check

test: lint browser
	$(UV) run python -m harness.nocodb install
	$(UV) run python -m harness.postgres install
	$(UV) run pytest -p no:cacheprovider -rs --junitxml=artifacts/junit.xml

# Everything but the real-NocoDB integration tests.
test-fast: setup
	$(UV) run python -m harness.postgres install
	$(UV) run pytest -m "not integration"

# Speed and memory, measured side by side (not part of `make test`; a smoke run of it is).
bench: setup
	$(UV) run python -m harness.nocodb install
	$(UV) run python -m harness.postgres install
	$(UV) run python -m bench.run

openapi: setup
	$(UV) run python -m scripts.export_openapi

clean:
	rm -rf .venv .tools artifacts .pytest_cache .mypy_cache .ruff_cache
