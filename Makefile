# Everything installs into .venv from requirements-dev.txt on first use; only python3 (3.11+) and make are needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/remediator/requirements*.txt | cksum | cut -d' ' -f1)
# Offline by construction: fake credentials, a fixed region, no profile.
AWS_ENV := env -u AWS_PROFILE AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 SAM_CLI_TELEMETRY=0
PYTHONPATH_ALL := $(CURDIR)/layers/remediator:$(CURDIR)
# sam build needs the Lambda runtime's own interpreter (python3.13) on PATH.
# A pyenv shim is a script that can resolve to another version, so prefer the real interpreter.
PY313 := $(shell ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 || true)
PY313 := $(or $(PY313),$(shell command -v python3.13 2>/dev/null))
# checkov pins boto3 exactly (3.3.30: boto3==1.35.49) as aws-sam-cli does (1.170.0: boto3==1.43.108), so the
# two cannot share a venv; the newest checkov that could (3.2.10) ignores SAM Globals. It gets its own venv,
# inside .venv, pinned here rather than in requirements-dev.txt.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# Scans locally only: no API key (nothing uploaded), no platform download, no PyPI version check.
CHECKOV_ENV := env -u BC_API_KEY -u PRISMA_API_URL BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE

# The whole suite runs in parallel: one worker more than this machine's two cores, because several tests
# sleep through real (short) settle windows; idle workers steal queued tests (worksteal), so one long file
# does not hold the tail. Override with PYTEST_WORKERS=n (0: no parallelism).
PYTEST_WORKERS ?= 3

.PHONY: dev test unit suite lint mypy format validate checkov build demo bench redrive clean

dev: $(STAMP)

$(STAMP): requirements-dev.txt layers/remediator/requirements.txt layers/remediator/requirements-tracing.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r layers/remediator/requirements.txt \
		-r layers/remediator/requirements-tracing.txt
	@rm -f $(VENV)/.installed-* && touch $@

## test: lint (ruff, mypy), template checks, security scan, sam build, and the whole pytest suite (CI runs this)
test: dev lint validate checkov build suite

## unit: the fast tier: the pure core and the template's contracts, no emulated account (under 30 s): on both
##   cores, each property over 50 examples instead of make test's 150
unit: dev
	$(AWS_ENV) PROPERTY_EXAMPLES=50 $(BIN)/python -m pytest -m unit -q -n 2

## suite: every test, in parallel
suite: dev
	$(AWS_ENV) $(BIN)/python -m pytest $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist worksteal)

lint: dev mypy
	$(BIN)/ruff check layers functions tests scripts
	$(BIN)/ruff format --check layers functions tests scripts

## mypy: the package (pyproject.toml: untyped definitions refused), then each handler with it
mypy: dev
	$(BIN)/mypy
	@for app in functions/*/app.py; do MYPYPATH=layers/remediator $(BIN)/mypy "$$app" || exit 1; done

## format: what lint checks, fixed in place
format: dev
	$(BIN)/ruff format layers functions tests scripts
	$(BIN)/ruff check --fix layers functions tests scripts

validate: dev
	$(AWS_ENV) $(BIN)/sam validate --lint --template template.yaml
	$(AWS_ENV) $(BIN)/cfn-lint template.yaml

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

## checkov: security scan of template.yaml; every finding is fixed or skipped in place with a reason
# The cloudformation framework reads the SAM resources (AWS::Serverless::*, merged with Globals) as they
# are; "serverless" is the Serverless Framework's serverless.yml and would scan nothing here.
## checkov: the template as written, and as the SAM transform expands it (the roles and policies SAM writes),
## once with the defaults and once with every optional part on (checkov skips resources a false Condition drops)
SCAN_DIR := $(VENV)/scan
CHECKOV_RUN := $(CHECKOV_ENV) $(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --quiet --compact
checkov: dev $(CHECKOV_STAMP)
	$(CHECKOV_RUN) --file template.yaml
	@mkdir -p $(SCAN_DIR)
	$(AWS_ENV) $(BIN)/python scripts/expand_for_scan.py template.yaml $(SCAN_DIR)/expanded.json
	$(CHECKOV_RUN) --file $(SCAN_DIR)/expanded.json
	$(AWS_ENV) $(BIN)/python scripts/expand_for_scan.py template.yaml $(SCAN_DIR)/expanded-all-on.json \
		ConfigRule=on Tracing=on AlarmEmail=ops@example.com
	$(CHECKOV_RUN) --file $(SCAN_DIR)/expanded-all-on.json

build: dev
	@if [ -z "$(PY313)" ]; then echo "make build: python3.13 (the Lambda runtime) not found; install it to run sam build" >&2; exit 1; fi
	PATH="$(dir $(PY313)):$$PATH" $(AWS_ENV) $(BIN)/sam build --template template.yaml --build-dir .aws-sam/build --cache-dir .aws-sam/cache
	@# The runtime provides boto3/botocore; a copy in the layer would shadow it with another version.
	@for p in boto3 botocore s3transfer; do if [ -e .aws-sam/build/RemediatorLayer/python/$$p ]; then \
		echo "make build: $$p is bundled in the layer" >&2; exit 1; fi; done

## demo: the main job on the emulated account (moto + fidelity layer), end to end
demo: dev
	@$(AWS_ENV) PYTHONPATH=$(PYTHONPATH_ALL) $(BIN)/python -m tests.emulation.demo

## bench: call counts, handler and sweep times on the emulation, cold imports (python3.11 and 3.13), build sizes
##   (docs/performance.md); not a test. Creates a throwaway python3.13 venv under /tmp on first use (PyPI).
bench: dev build
	@$(AWS_ENV) PYTHONPATH=$(PYTHONPATH_ALL) $(BIN)/python -m scripts.bench $(if $(PY313),--py313 '$(PY313)')

## redrive: replay the failed-events queue on the real account (your credentials, not the fake ones):
##   make redrive QUEUE_URL=<FailedEventsQueueUrl output> [DRY_RUN=1] [FUNCTION_NAME=name] [MAX=n] [REGION=r] [PROFILE=p]
redrive: dev
	@if [ -z "$(QUEUE_URL)" ]; then echo "usage: make redrive QUEUE_URL=<FailedEventsQueueUrl output> [DRY_RUN=1] [FUNCTION_NAME=name] [MAX=n] [REGION=r] [PROFILE=p]" >&2; exit 2; fi
	$(BIN)/python scripts/redrive.py --queue-url '$(QUEUE_URL)' \
		$(if $(FUNCTION_NAME),--function-name '$(FUNCTION_NAME)') $(if $(REGION),--region '$(REGION)') \
		$(if $(PROFILE),--profile '$(PROFILE)') $(if $(MAX),--max '$(MAX)') $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .mypy_cache
