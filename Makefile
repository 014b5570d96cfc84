# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROTOS := $(wildcard protos/*.proto)
STUBS := $(patsubst protos/%.proto,generated/%_pb2.py,$(PROTOS))
PYTEST_ARGS ?=
NODE_AGENT := examples/node-agent
NODE_STAMP := $(NODE_AGENT)/node_modules/.installed-stamp
JS_SDK := tests/js
JS_SDK_STAMP := $(JS_SDK)/node_modules/.installed-stamp
HAVE_NODE := $(shell command -v node >/dev/null && command -v npm >/dev/null && echo yes)

A2A03 := .venv-a2a03
A2A03_STAMP := $(A2A03)/.installed-stamp


.PHONY: setup protos run test lint fmt clean node-agent js-sdk a2a03 bench lock js-grpc


setup: $(STAMP) $(STUBS)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

protos: $(STUBS)

# -Igenerated=protos makes generated modules import each other as generated.x_pb2.
generated/%_pb2.py: protos/%.proto $(STAMP)
	$(PY) -m grpc_tools.protoc -Igenerated=protos \
		--python_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=. \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc --mypy_grpc_out=. \
		$<

# The Node.js example agent's dependencies, from its committed package-lock.json.
ifeq ($(HAVE_NODE),yes)
node-agent: $(NODE_STAMP)
else
node-agent:
	@echo "node/npm not found: skipping the Node.js agent (its test will be skipped)"
endif

$(NODE_STAMP): $(NODE_AGENT)/package-lock.json $(NODE_AGENT)/package.json
	cd $(NODE_AGENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The official A2A JavaScript SDK, a client for the interop tests, from tests/js/package-lock.json.
ifeq ($(HAVE_NODE),yes)
js-sdk: $(JS_SDK_STAMP)
else
js-sdk:
	@echo "node/npm not found: skipping the JS SDK (its interop tests will be skipped)"
endif

$(JS_SDK_STAMP): $(JS_SDK)/package-lock.json $(JS_SDK)/package.json
	cd $(JS_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The @a2a-js/sdk client over the gateway's gRPC binding (tests/test_grpc_js.py), from its
# committed package-lock.json; without node, that test skips.
JS_GRPC := tests/js-grpc
JS_GRPC_STAMP := $(JS_GRPC)/node_modules/.installed-stamp
ifeq ($(HAVE_NODE),yes)
js-grpc: $(JS_GRPC_STAMP)
else
js-grpc:
	@echo "node/npm not found: skipping the JS gRPC client (its test will be skipped)"
endif

$(JS_GRPC_STAMP): $(JS_GRPC)/package-lock.json $(JS_GRPC)/package.json
	cd $(JS_GRPC) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup node-agent
	$(PY) -m examples.run_demo

test: setup lint node-agent js-sdk a2a03 js-grpc
	$(PY) -m pytest $(PYTEST_ARGS)

# The a2a-sdk 0.3 client, in a virtual environment of its own (the project uses a2a-sdk 1.x),
# for the v0.3 interop tests. If it cannot be created, those tests skip and say why.
a2a03: $(A2A03_STAMP)

$(A2A03_STAMP): tests/sdk03/requirements.txt
	@rm -rf $(A2A03)
	@if $(PYTHON) -m venv $(A2A03) && $(A2A03)/bin/python -m pip install --quiet -r tests/sdk03/requirements.txt; \
	then touch $@; \
	else rm -rf $(A2A03); echo "WARNING: could not create $(A2A03); v0.3 interop tests will skip" >&2; fi
# The side-by-side benchmark (about 10 minutes, 20 with the Redis systems, which
# BENCH_NO_REDIS=1 leaves out; BENCH_SCALE=0.01 for a smoke run).
bench: setup
	$(PY) -m bench.run

# Reproducible installs: constraints.txt pins every package `make setup` installs (and
# tests/sdk03/requirements.txt the a2a-sdk 0.3 environment); `make lock` refreshes both.
lock: setup
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev --extra fast -o constraints.txt pyproject.toml
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		-o tests/sdk03/requirements.txt tests/sdk03/requirements.in

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf generated/*_pb2*.py generated/*_pb2*.pyi .mypy_cache .pytest_cache .ruff_cache \
		$(NODE_AGENT)/node_modules $(JS_SDK)/node_modules $(JS_GRPC)/node_modules $(A2A03)
