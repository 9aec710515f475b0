# Everything installs into .venv from requirements-dev.txt on first use; only python3 (3.11+) and make are needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/remediator/requirements.txt | cksum | cut -d' ' -f1)
# Offline by construction: fake credentials, a fixed region, no profile.
AWS_ENV := env -u AWS_PROFILE AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 SAM_CLI_TELEMETRY=0
PYTHONPATH_ALL := $(CURDIR)/layers/remediator:$(CURDIR)
# sam build needs the Lambda runtime's own interpreter (python3.13) on PATH.
# A pyenv shim is a script that can resolve to another version, so prefer the real interpreter.
PY313 := $(shell ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 || true)
PY313 := $(or $(PY313),$(shell command -v python3.13 2>/dev/null))

.PHONY: dev test unit lint validate build demo clean

dev: $(STAMP)

$(STAMP): requirements-dev.txt layers/remediator/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r layers/remediator/requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

## test: lint, template checks, sam build, and the whole pytest suite
test: dev lint validate build unit

unit: dev
	$(AWS_ENV) $(BIN)/python -m pytest

lint: dev
	$(BIN)/ruff check layers functions tests
	$(BIN)/ruff format --check layers functions tests

validate: dev
	$(AWS_ENV) $(BIN)/sam validate --lint --template template.yaml
	$(AWS_ENV) $(BIN)/cfn-lint template.yaml

build: dev
	@if [ -z "$(PY313)" ]; then echo "make build: python3.13 (the Lambda runtime) not found; install it to run sam build" >&2; exit 1; fi
	PATH="$(dir $(PY313)):$$PATH" $(AWS_ENV) $(BIN)/sam build --template template.yaml --build-dir .aws-sam/build --cache-dir .aws-sam/cache

## demo: the main job on the emulated account (moto + fidelity layer), end to end
demo: dev
	@$(AWS_ENV) PYTHONPATH=$(PYTHONPATH_ALL) $(BIN)/python -m tests.emulation.demo

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
