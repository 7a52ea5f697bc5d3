# Ember's two commands: `make demo` (install everything, run the default job) and `make test` (install, run the suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck bench clean

NODE_STAMP := node_modules/.installed

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Minecraft's Node side (flying-squid, mineflayer, minecraft-data) from the lockfile; nothing installs at run time.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18+ with npm (the Minecraft backend needs it)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: setup
	$(BIN)/ember run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow the editable install's package-dir mapping, so it checks a tree of links named like the package.
typecheck: setup
	rm -rf build/typecheck && mkdir -p build/typecheck/ember
	cp ember/__init__.py build/typecheck/ember/
	for layer in sims robots skills planners launch; do ln -s ../../../$$layer build/typecheck/ember/$$layer; done
	cd build/typecheck && ../../$(BIN)/mypy -p ember

test: lint typecheck
	$(BIN)/python -m pytest --durations=15

bench: setup
	$(BIN)/python bench/tabletop.py

clean:
	rm -rf $(VENV) build runs outputs multirun .pytest_cache .mypy_cache .ruff_cache
