# goknut: `make run` starts it, `make test` tests it. Both work from a fresh clone
# on a machine with Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench lint format migrate screenshots browser-deps clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

# The web server and ingest side by side; Ctrl-C (or either one exiting) stops
# both. Chat comes from Twitch or from the built-in simulator (`ingest --demo`),
# and make run says which and why (messages_app/ingest/heartbeat.py,
# make_run_plan): INGEST_SOURCE=twitch|demo if given, Twitch when
# TWITCH_CHANNELS is set, else the source that ran on this database last, else
# Twitch if channels are enabled, else the demo. A switch is said out loud.
# The demo keeps the pages offline: emotes as names (EMOTE_IMAGES=false unless set).
INGEST_SOURCE ?=
run: SHELL := /bin/bash
run: migrate
	@plan=$$($(BIN)/python manage.py shell --no-imports -v 0 -c "from messages_app.ingest.heartbeat import make_run_plan; \
	print(make_run_plan('$(INGEST_SOURCE)'))") || exit 1; \
	echo "$$plan" | tail -n +2; demo=$$(echo "$$plan" | head -n 1); \
	if [ -n "$$demo" ]; then export EMOTE_IMAGES=$${EMOTE_IMAGES:-false}; fi; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) goknut.asgi:application & web=$$!; \
	$(BIN)/python manage.py ingest $$demo & ingest=$$!; \
	trap 'stopping=1; kill -TERM $$web $$ingest 2>/dev/null' INT TERM; \
	wait -n; status=$$?; kill -TERM $$web $$ingest 2>/dev/null; wait; [ -n "$$stopping" ] || exit $$status

# Lint, the whole suite on SQLite, then again on PostgreSQL (.ci/run postgres: a
# throwaway database, loudly skipped when no server answers, required when CI=true).
# -rs lists every skipped test with its reason at the end. Two xdist workers when
# pytest-xdist is installed (each gets its own test database): most of the suite
# waits on subprocesses and sockets, so the whole suite took 7m52s instead of 13m44s
# on 2 cores. `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= $$($(BIN)/python -c 'import xdist' 2>/dev/null && echo -p xdist -n 2)
test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)
	PYTHON_BIN=$(BIN)/python .ci/run postgres $(PYTEST_ARGS)

# Benchmarks print their figures and write their sections of docs/perf.md; run them
# on an otherwise idle machine.
bench: $(STAMP)
	$(BIN)/python -m pytest -q -m bench -p no:randomly -s tests/benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The browser suite (tests/browser) drives Debian's chromium through Playwright
# and checks pages with axe-core from npm. Missing parts are installed when that
# is possible (chromium needs root and apt-get; never a downloaded browser);
# otherwise the suite is skipped, loudly. With CI=true a missing part is an error.
CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT_SPEC ?= playwright>=1.49,<2

browser-deps: $(STAMP)
	@ci=false; case "$$CI" in true|1|yes) ci=true;; esac; missing=""; \
	if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser-deps: installing chromium with apt-get"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium($(CHROMIUM): as root, apt-get install chromium)"; \
	if ! $(BIN)/python -c "import playwright" 2>/dev/null; then \
		echo "browser-deps: installing the playwright package (no browser download)"; \
		$(BIN)/python -m pip install -q '$(PLAYWRIGHT_SPEC)' || true; \
	fi; \
	$(BIN)/python -c "import playwright" 2>/dev/null || missing="$$missing playwright(pip)"; \
	if [ ! -f node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then \
		echo "browser-deps: npm ci (axe-core)"; npm ci --no-audit --no-fund || true; \
	fi; \
	[ -f node_modules/axe-core/axe.min.js ] || missing="$$missing axe-core(npm ci)"; \
	if [ -n "$$missing" ]; then \
		if [ "$$ci" = true ]; then echo "error: CI=true and the browser tests cannot run, missing:$$missing"; exit 1; fi; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! browser tests (tests/browser) will be SKIPPED, missing:$$missing"; \
		echo "!!! (all of them without chromium or playwright, the accessibility ones without axe-core)"; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

# docs/images/*.png: every page at 1280x800 with live demo data (tests/browser/screenshots.py).
screenshots: $(STAMP) browser-deps
	$(BIN)/python tests/browser/screenshots.py

clean:
	rm -rf $(VENV) *.sqlite3*
