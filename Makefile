# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROTOS := $(wildcard protos/*.proto)
STUBS := $(patsubst protos/%.proto,generated/%_pb2.py,$(PROTOS))
PYTEST_ARGS ?=

.PHONY: setup protos run test lint fmt clean bench

setup: $(STAMP) $(STUBS)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

protos: $(STUBS)

# -Igenerated=protos makes generated modules import each other as generated.x_pb2.
generated/%_pb2.py: protos/%.proto $(STAMP)
	$(PY) -m grpc_tools.protoc -Igenerated=protos \
		--python_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=. \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc --mypy_grpc_out=. \
		$<

run: setup
	$(PY) -m examples.run_demo

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The side-by-side benchmark (about 10 minutes; BENCH_SCALE=0.01 for a smoke run).
bench: setup
	$(PY) -m bench.run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf generated/*_pb2*.py generated/*_pb2*.pyi .mypy_cache .pytest_cache .ruff_cache
