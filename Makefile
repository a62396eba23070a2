# Two commands for a fresh machine:
#   make run    set up, fetch the weights the default models need, run the bot (sandbox without BOT_TOKEN)
#   make test   set up and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test setup dev-setup system-deps weights lint bench gallery clean

run: setup
	-$(PY) -m ml_models download
	$(PY) main.py

test: dev-setup system-deps
	$(PY) -m pytest -q -p no:cacheprovider

setup: $(VENV)/.runtime
dev-setup: $(VENV)/.dev

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Redis (Celery tests), Chromium + chromedriver (sandbox browser test). Tests skip with a reason where these are absent.
system-deps:
	@bash scripts/system_deps.sh

weights: setup
	$(PY) -m ml_models download $(MODELS)

lint: dev-setup
	$(BIN)/ruff check .

bench: setup
	$(PY) -m benchmarks

gallery: setup
	$(PY) scripts/make_gallery.py

clean:
	rm -rf $(VENV) .pytest_cache
