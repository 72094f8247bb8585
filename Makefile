# Two commands on a fresh clone: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NODE_DIRS := tests/oidc_op tests/oidc_rp tests/browser/axe
NODE_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NODE_DIRS))

.PHONY: demo test test-deps system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

system-deps:
	./scripts/system-deps.sh

# The Node packages the tests drive (panva's oidc-provider and openid-client, axe-core), from their lock files.
%/node_modules/.package-lock.json: %/package-lock.json | system-deps
	cd $* && npm ci --no-audit --no-fund --loglevel=error

demo: $(STAMP)
	$(BIN)/hub demo

test-deps: $(STAMP) system-deps $(NODE_STAMPS)

test: test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance $(addsuffix /node_modules,$(NODE_DIRS))
