# One entry point for people and CI. `make test` installs everything it needs first.
#   make install   venv + Python dependencies + pinned CDK CLI
#   make synth     synthesize every template offline (cdk.out/)
#   make unit      unit tests with coverage
#   make deploy    deploy to the local AWS emulator (TARGET=aws for the account in your environment)
#   make destroy   destroy whatever `make deploy` last deployed
#   make test      unit tests + local deploy + integration tests + destroy + leftover check

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUFFIX ?= $(or $(ENVIRONMENT_SUFFIX),dev)
TARGET ?= local
LOCAL_PORT ?= 5055
OUTPUTS_DIR := cfn-outputs
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1

# The local target: a moto server this project starts, with dummy credentials and a fixed account.
LOCAL_ENV := AWS_ENDPOINT_URL=http://127.0.0.1:$(LOCAL_PORT) AWS_ACCESS_KEY_ID=testing \
	AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing AWS_DEFAULT_REGION=us-east-1 \
	AWS_REGION=us-east-1 CDK_DEFAULT_ACCOUNT=123456789012 CDK_DEFAULT_REGION=us-east-1
ifeq ($(TARGET),local)
TARGET_ENV := $(LOCAL_ENV)
else ifeq ($(TARGET),aws)
TARGET_ENV :=
else
$(error TARGET must be 'local' (the emulator, default) or 'aws' (the account in your environment), not '$(TARGET)')
endif
CDK := $(TARGET_ENV) npx --no-install cdk -c environmentSuffix=$(SUFFIX)

.PHONY: install synth unit lint deploy destroy integration test clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

synth: install
	npx --no-install cdk synth -c environmentSuffix=$(SUFFIX) --quiet

unit: install
	$(PY) -m pytest tests/unit --cov=lib --cov-report=term

lint: install
	$(VENV)/bin/ruff check bin lib tests tools
	$(VENV)/bin/ruff format --check bin lib tests tools
	$(VENV)/bin/mypy bin lib tools

clean:
	rm -rf cdk.out .build $(OUTPUTS_DIR) .pytest_cache .coverage

test: unit
