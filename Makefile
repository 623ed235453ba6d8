# doubletick: the two commands that matter are `make serve` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
PYTEST_ARGS ?=

.PHONY: venv serve server test lint format bench node clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Node test clients (pusher-js, the pusher SDK), pinned by tests/node/package-lock.json.
# Skipped quietly when npm is missing: those tests then skip (or fail under CI=true).
node: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: Node client tests will be skipped"; fi

serve: venv
	@if [ ! -f app/dashboard.py ]; then exec $(BIN)/doubletick server; fi; \
	$(BIN)/panel serve app/dashboard.py --show --address 127.0.0.1 --port $${PORT:-5006} \
		--allow-websocket-origin=127.0.0.1:$${PORT:-5006} --allow-websocket-origin=localhost:$${PORT:-5006} \
		--check-unused-sessions 1000 --unused-session-lifetime 5000

server: venv
	$(BIN)/doubletick server

# The delivery core's rules are guarded by 100% branch coverage of its unit tests; then the
# whole suite runs (unit, integration with real servers and clients, browser, notebooks).
test: venv node
	$(BIN)/python -m pytest tests/unit/delivery -q --no-header -p no:cacheprovider \
		--cov=doubletick.delivery --cov-branch --cov-fail-under=100 --cov-report=term-missing:skip-covered
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict doubletick/

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv node
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
