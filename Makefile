# One entry point for people and CI. Every target installs what it needs first.
#   make test      lint + unit + emulator tests + deploy to the local emulator + integration tests + drill + destroy
#                  + a 2-day soak + the same for the prod profile, shorter (make prod-check)
#   make deploy    deploy to the local AWS emulator; TARGET=aws deploys to the account in your environment;
#                  PROFILE=prod ALARM_EMAIL=you@example.com deploys the production profile (default dev)
#   make destroy   destroy what `make deploy` last deployed (the target it recorded), then check leftovers;
#                  refuses while the deployment is protected (prod): `make unprotect` first
#   make synth     synthesize every template offline into cdk.out/ (cdk-nag, DR gate, CloudFormation validation)
#   make unit      unit tests with coverage: the synthesized app, handlers, tools (no emulator, no PostgreSQL)
#   make emulator  emulator and drill-tool tests with coverage: an in-process emulator, real PostgreSQL servers
#   make lint      ruff, mypy, cfn-lint, checkov (dev and prod templates); make lint-templates: synth + cfn-lint only
#   make integration   integration tests against the recorded deployment (on-demand actions; < 45 min on AWS)
#   make integration-long   the integration tests that wait for schedules (up to 17 days on AWS on dev)
#   make prod-check    the prod profile on the local emulator: deploy, read back, blocked destroy, unprotect, destroy
#   make soak DAYS=7   N emulated days of normal operation on the local deployment, then its invariants
#   make bench     synth / tests / local cycle timings and ratios against an empty app (bench-results.json)
#   make dashboard draw the deployed CloudWatch dashboard with the emulator's metric data (dashboard-reports/)
#   make cost      estimated monthly cost per profile (dev, prod), idle and typical, against a naive build (COST=--markdown)
#   make tick MINUTES=60 [TO_MINUTE=6] [TICK=--quiet|--json]   advance the local emulator's clock (schedules,
#                  backups, alarms run) and print what happened: invocations, jobs, alarm changes, a summary

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
OUTPUTS_DIR := cfn-outputs
SUFFIX ?= $(or $(ENVIRONMENT_SUFFIX),dev)
PROFILE ?= dev
LOCAL_PORT ?= 5055
LOCAL_ENDPOINT := http://127.0.0.1:$(LOCAL_PORT)
export CDK_DISABLE_VERSION_CHECK := 1
# The Node.js that package.json pins (an LTS jsii supports) runs the CDK CLI and jsii, whatever Node.js
# the machine has: npm installs it into node_modules/.bin, which comes first on every recipe's PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

# Deploy goes to the local emulator unless TARGET=aws is given: never a real account by accident.
# Destroy goes to the target the last deploy recorded, unless TARGET is given.
TARGET ?= local
RECORDED_TARGET := $(shell sed -n 's/.*"target": *"\([a-z]*\)".*/\1/p' $(OUTPUTS_DIR)/target.json 2>/dev/null)
DESTROY_TARGET := $(if $(filter command line environment,$(origin TARGET)),$(TARGET),$(or $(RECORDED_TARGET),local))
ifeq ($(filter local aws,$(TARGET) $(DESTROY_TARGET)),)
$(error TARGET must be 'local' (the emulator, default) or 'aws' (the account in your environment), not '$(TARGET)')
endif

# The local target: the moto server this project starts, dummy credentials, a fixed account.
LOCAL_ENV := AWS_ENDPOINT_URL=$(LOCAL_ENDPOINT) AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	AWS_SESSION_TOKEN=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	CDK_DEFAULT_ACCOUNT=123456789012 CDK_DEFAULT_REGION=us-east-1
target_env = $(if $(filter local,$(1)),$(LOCAL_ENV),)
cdk = $(call target_env,$(1)) npx --no-install cdk -c environmentSuffix=$(SUFFIX) -c profile=$(PROFILE)

# The cloud assembly in cdk.out is synthesized once and reused by lint, deploy and destroy until a source
# file or a parameter changes. Synth is where the checks run (cdk-nag, the DR gate, CloudFormation
# validation): a synth that fails writes no stamp, so nothing unchecked is ever reused or deployed.
ASSEMBLY_SOURCES := $(shell find bin lib cdk.json -type f ! -path '*/__pycache__/*')
assembly_id = suffix=$(SUFFIX) profile=$(PROFILE) target=$(1) alarm-email=$(or $(ALARM_EMAIL),none)
define assembly
	@if [ "$$(cat cdk.out/.assembly 2>/dev/null)" = "$(call assembly_id,$(1))" ] && \
	  [ -z "$$(find $(ASSEMBLY_SOURCES) -newer cdk.out/.assembly -print -quit)" ]; then \
	  echo "Reusing cdk.out ($(call assembly_id,$(1))): synthesized and checked, no source changed since."; \
	else rm -rf cdk.out && $(call cdk,$(1)) synth --quiet && echo "$(call assembly_id,$(1))" > cdk.out/.assembly; fi
endef

# A throwaway synth of one profile into its own directory (lint's prod gate, make cost); prod needs an
# alert e-mail, and this placeholder is the one the local prod check deploys with too.
PLACEHOLDER_EMAIL := ops@example.com
synth_profile = rm -rf $(2) && npx --no-install cdk synth -c environmentSuffix=$(SUFFIX) -c profile=$(1) \
	$(if $(filter prod,$(1)),-c alarmEmail=$(PLACEHOLDER_EMAIL)) --quiet -o $(2)

.PHONY: install postgres chromium dashboard synth unit emulator lint lint-templates deploy destroy unprotect prod-check integration integration-long integration-last drill soak test clean tick bench cost

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# checkov pins an old boto3/botocore; its own venv keeps those pins out of the project's.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed postgres chromium

# The emulator runs one real PostgreSQL (with TLS) per Aurora cluster: Debian's server package,
# installed when missing (the pip wheels that bundle PostgreSQL are built without OpenSSL).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
	  echo "Installing PostgreSQL (Debian package postgresql) for the local Aurora emulation"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# `make dashboard` draws into HTML, and its test looks at the page in a real headless browser:
# Debian's Chromium, installed when missing.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "Installing Chromium (Debian package chromium) to look at the drawn dashboard"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

synth: install
	rm -f cdk.out/.assembly
	$(call assembly,$(TARGET))

unit: install
	$(PY) -m pytest tests/unit --cov --cov-report=term

emulator: install
	$(PY) -m pytest tests/local_aws tests/dr_drill --cov --cov-report=term

# The synthesized templates (cdk-nag and the DR gate run in the synth) through cfn-lint; pre-commit's hook.
lint-templates: install
	$(call assembly,$(TARGET))
	$(VENV)/bin/cfn-lint

lint: lint-templates $(CHECKOV_VENV)/.installed
	$(VENV)/bin/ruff check bin lib tests tools
	$(VENV)/bin/ruff format --check bin lib tests tools
	$(VENV)/bin/mypy bin lib tools
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml
	@# the prod profile's templates through the same gates (cdk-nag runs in its synth)
	$(call synth_profile,prod,cdk.out.prod)
	$(VENV)/bin/cfn-lint --config-file .cfnlintrc.yaml -- cdk.out.prod/*.template.json
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d cdk.out.prod

deploy: install
	$(PY) -m lib.config $(SUFFIX) $(PROFILE)
	$(call assembly,$(TARGET))
	$(if $(filter local,$(TARGET)),$(PY) -m tools.local_aws start --port $(LOCAL_PORT))
	mkdir -p $(OUTPUTS_DIR)
	$(call cdk,$(TARGET)) bootstrap --app cdk.out --quiet $(if $(filter local,$(TARGET)),aws://123456789012/us-east-1)
	$(call cdk,$(TARGET)) deploy --app cdk.out --all --require-approval never \
	  --outputs-file $(OUTPUTS_DIR)/cdk-outputs.json
	$(PY) -m tools.write_outputs $(OUTPUTS_DIR)/cdk-outputs.json $(TARGET) $(if $(filter local,$(TARGET)),$(LOCAL_ENDPOINT))

destroy: install
	$(call target_env,$(DESTROY_TARGET)) $(PY) -m tools.protection check --suffix $(SUFFIX)
	$(call assembly,$(DESTROY_TARGET))
	$(if $(filter local,$(DESTROY_TARGET)),$(PY) -m tools.local_aws settle --endpoint $(LOCAL_ENDPOINT))
	$(call cdk,$(DESTROY_TARGET)) destroy --app cdk.out --all --force
	$(if $(filter local,$(DESTROY_TARGET)),$(PY) -m tools.local_aws leftovers --endpoint $(LOCAL_ENDPOINT))
	$(if $(filter local,$(DESTROY_TARGET)),$(PY) -m tools.local_aws stop)
	rm -rf $(OUTPUTS_DIR)

# Lift a protected (prod) deployment's locks, so that `make destroy` can delete it (README, "Profiles").
unprotect: install
	$(call target_env,$(DESTROY_TARGET)) $(PY) -m tools.protection unprotect --suffix $(SUFFIX)

# Against AWS `make integration` takes under 45 minutes (on-demand actions only); the tests that need
# schedules to pass (the hourly plan, the scheduled restore test, an RPO breach) take up to 17 days
# on dev and run only with `make integration-long`. Each says at its start how long it takes on AWS;
# locally both take seconds.
integration: install
	$(PY) -m pytest tests/integration -m "not long" -v

integration-long: install
	$(PY) -m pytest tests/integration -m "long and not last" -v

# The integration tests that break the deployment for good (a deleted VPC endpoint): only right before
# `make destroy`, which must still delete everything.
integration-last: install
	$(PY) -m pytest tests/integration -m last -v

# Rehearse a recovery on the recorded deployment: restore each store into a temporary copy, validate
# it, time it against the RTO/RPO, clean up; reports in drill-reports/ (JSON + HTML timeline).
#   make drill   (DRILL=status, DRILL=failover, DRILL=az-loss, DRILL="restore --store aurora --keep", DRILL="restore --dry-run")
DRILL ?= restore
drill: install
	$(PY) -m tools.dr_drill $(DRILL) \
	  $(if $(filter command line,$(origin SUFFIX))$(ENVIRONMENT_SUFFIX),--suffix $(SUFFIX)) \
	  $(if $(filter command line environment,$(origin TARGET)),--target $(TARGET))

# N emulated days of normal operation on the recorded local deployment (canary, hourly backups, monitor,
# daily restore test, alarms), per-day wall time, server RSS and state size, then the invariants; exit 1
# names each broken one. Report in soak-reports/. README, "Soak".
#   make soak DAYS=7   (SOAK="--report soak.json --max-rss-mb 600 --max-state-mb 300")
DAYS ?= 7
soak: install
	$(PY) -m tools.local_aws soak --days $(DAYS) $(SOAK)

# The whole cycle on the local emulator; destroy (and the server stop) runs even when a test fails.
# The drill runs after an hour of normal operation (the canary on its schedule, then the hourly backup),
# so it restores recovery points taken after the integration tests' outages; it lands fifteen minutes
# after an hourly backup started (its Aurora job completes twelve emulated minutes after the hour), so
# it restores that backup and the data-loss window it measures does not depend on the time of day.
# Then the AZ-loss drill, two emulated days of normal operation that must keep the soak's invariants,
# and last the tests that break the deployment for good; the destroy must still leave nothing.
test: lint unit emulator
	status=0; { $(MAKE) deploy TARGET=local && $(MAKE) integration integration-long && \
	  $(MAKE) tick MINUTES=60 TO_MINUTE=15 && \
	  $(MAKE) drill DRILL=restore && \
	  $(MAKE) drill DRILL="az-loss --minutes 2" && \
	  $(MAKE) soak DAYS=2 && \
	  $(MAKE) integration-last; } || status=$$?; \
	  $(MAKE) destroy TARGET=local || status=$$?; $(PY) -m tools.local_aws stop >/dev/null || true; exit $$status
	$(MAKE) prod-check

# The prod profile deploys to the local emulator too: its configuration reads back as prod, it survives the
# loss of an AZ (after its first hourly backup has completed and been measured, so no RPO alarm stops the
# experiment), `make destroy`
# refuses with the one sentence, and after `make unprotect` it destroys with nothing left (suffix prodcheck).
PROD_CHECK := TARGET=local PROFILE=prod SUFFIX=prodcheck ALARM_EMAIL=$(PLACEHOLDER_EMAIL)
prod-check: install
	status=0; { $(MAKE) deploy $(PROD_CHECK) && \
	  $(PY) -m pytest tests/integration/test_deployed_*.py -q && \
	  $(MAKE) tick MINUTES=60 TO_MINUTE=20 && $(MAKE) drill DRILL="az-loss --minutes 2" $(PROD_CHECK) && \
	  { $(MAKE) destroy $(PROD_CHECK) 2>&1 || true; } | grep -F "Error: Destroy blocked: TapStackprodcheck"; \
	  } || status=$$?; \
	  $(MAKE) unprotect destroy $(PROD_CHECK) || status=$$?; \
	  $(PY) -m tools.local_aws stop >/dev/null || true; exit $$status

# Advance the local emulator's clock: what falls due on the way (schedules, backups, alarms) runs.
# Draw the deployed dashboard with the emulator's data (the last 3 h of its clock) into one HTML file:
#   make dashboard   (DASHBOARD="--hours 24 --out /tmp/d.html")
dashboard: install
	$(PY) -m tools.local_aws dashboard $(DASHBOARD)

tick: install
	$(PY) -m tools.local_aws tick --minutes $(or $(MINUTES),60) $(if $(TO_MINUTE),--to-minute $(TO_MINUTE)) $(TICK)

# What engineers wait for, against the floor (cases interleaved; ratios, not single times):
#   make bench   (BENCH="--repeat 3 --cases synth,synth-cli,floor,floor-cli,unit,emulator,cycle,soak --profile")
BENCH ?= --repeat 3 --profile
bench: install
	$(PY) -m tools.bench $(BENCH)

# Synthesize each profile into its own assembly and price every resource of its templates:
#   make cost   (COST=--markdown for docs/COST.md's tables, COST="--json cost.json" for everything)
cost: install
	$(call synth_profile,dev,cdk.out.cost-dev)
	$(call synth_profile,prod,cdk.out.cost-prod)
	$(PY) -m tools.cost dev=cdk.out.cost-dev prod=cdk.out.cost-prod $(COST)

clean:
	-$(PY) -m tools.local_aws stop
	rm -rf cdk.out .build $(OUTPUTS_DIR) .pytest_cache .coverage
