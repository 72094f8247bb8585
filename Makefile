# Two commands on a fresh clone: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The lock (docs/testing.md): exact versions with hashes, compiled from pyproject.toml by `make lock`.
TEST_LOCK := requirements/test.txt
RUNTIME_LOCK := requirements/runtime.txt
# The social-core version Open edX pins, beside the newest one in the virtualenv (tests/idp/test_rp_libraries.py).
OPENEDX_LOCK := requirements/social-core-openedx.txt
OPENEDX_DIR := .venv-social-core-openedx
OPENEDX_STAMP := $(OPENEDX_DIR)/.installed
PIP_TOOLS := pip-tools==7.7.0
LOCK_VENV := .venv-lock
# Add e.g. LOCK_ARGS=--upgrade (every package to the newest its range allows) or LOCK_ARGS='-P flask' (just flask).
LOCK_ARGS ?=
COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --all-build-deps --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

NODE_DIRS := tests/oidc_op tests/oidc_rp tests/browser/axe
NODE_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NODE_DIRS))

.PHONY: demo test test-deps check system-deps lock screenshots clean

# Only what the lock names, each file checked against its hash; then the hub itself, built with the locked
# setuptools. `pip check` stops here if pyproject.toml wants a package the lock lacks: run `make lock`.
$(STAMP): pyproject.toml $(TEST_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

# Refresh both lock files from pyproject.toml, keeping every pin that still fits (a new dependency is added, nothing
# else moves unless LOCK_ARGS says so). The runtime lock is constrained by the test lock: the same versions in both.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet '$(PIP_TOOLS)'; }
	$(COMPILE) --extra embedded --extra postgres --extra server --extra test --extra dev -o $(TEST_LOCK) pyproject.toml
	$(COMPILE) --extra postgres --extra server --constraint $(TEST_LOCK) -o $(RUNTIME_LOCK) pyproject.toml
	$(subst --all-build-deps,,$(COMPILE)) -o $(OPENEDX_LOCK) requirements/social-core-openedx.in

# A directory of its own (pip --target) that tests/idp/conftest.py puts first on the RP process's PYTHONPATH.
$(OPENEDX_STAMP): $(OPENEDX_LOCK) | $(STAMP)
	rm -rf $(OPENEDX_DIR)
	$(BIN)/pip install --quiet --require-hashes --no-deps --target $(OPENEDX_DIR) -r $(OPENEDX_LOCK)
	touch $(OPENEDX_STAMP)

system-deps:
	./scripts/system-deps.sh

# The Node packages the tests drive (panva's oidc-provider and openid-client, axe-core), from their lock files.
%/node_modules/.package-lock.json: %/package-lock.json | system-deps
	cd $* && npm ci --no-audit --no-fund --loglevel=error

demo: $(STAMP)
	$(BIN)/hub demo $(if $(PORT),--port $(PORT)) $(if $(filter 1 yes true,$(HTTPS)),--https)

test-deps: $(STAMP) $(OPENEDX_STAMP) system-deps $(NODE_STAMPS)

test: test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff over the whole tree, then mypy over hub/, providers/ and webhooks/, both as pyproject.toml configures them;
# any finding fails (docs/contributing.md, "Checks"). .ci/run runs this before the tests.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Refresh the pictures in docs/screenshots from the browser tests (an ordinary `make test` keeps them elsewhere).
screenshots: test-deps
	HUB_TEST_SCREENSHOTS=docs $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(OPENEDX_DIR) instance $(addsuffix /node_modules,$(NODE_DIRS))
