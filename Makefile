# Every target bootstraps .venv first, so `make run` and `make test` work on a fresh clone.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Lambda runs Python 3.11 and Chalice packages for the interpreter it runs under: prefer python3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The stamp's name carries a hash of the requirements, so editing them (not just touching them) reinstalls.
REQUIREMENTS_HASH := $(shell cat requirements.txt requirements-dev.txt | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQUIREMENTS_HASH)

PYTEST := $(BIN)/python -m pytest
XDIST := -n 2
# The template checks, the packaged template's (one `chalice package` per session) and packaging a fresh clone:
# infra-check runs them on their own, so the slow packaging is not repeated by every xdist worker.
INFRA_TEST := tests/integration/test_infra_template.py tests/integration/test_packaged_template.py
# mypy refuses a folder without .py files and a missing app.py: check only what exists so far.
TYPED_PATHS = $(wildcard app.py) $(foreach dir,chalicelib devstack infra bench,$(if $(shell find $(dir) -name '*.py' 2>/dev/null | head -n 1),$(dir)))

.PHONY: package deploy destroy help venv run test unit-and-integration lint typecheck unit integration e2e browser browser-tests fuzz infra infra-check bench clean distclean

help:
	@echo "make run          start the local stack (devstack) on http://127.0.0.1:$${SMSCAST_PORT:-8000}"
	@echo "make test         everything CI runs: lint, typecheck, infra-check, unit + integration, e2e, browser-tests"
	@echo "make lint | typecheck | unit | integration | e2e | browser-tests | infra-check"
	@echo "make fuzz         a long API fuzz run on its own devstack (FUZZ_EXAMPLES per operation, default 50)"
	@echo "make browser      install Debian's chromium for the browser tests when it is missing"
	@echo "make bench        run every benchmark (this tree beside the baseline commit) into docs/benchmarks.md"
	@echo "make infra        re-render infra/resources.json from the models"
	@echo "make package      build/package/<STAGE>/{sam.json,deployment.zip} with chalice package (STAGE=dev REGION=...)"
	@echo "make deploy       package, upload and deploy the stack smscast-<STAGE> (README: Deploy to AWS)"
	@echo "make destroy      delete the stack smscast-<STAGE> (the media bucket and opt-out list are kept)"
	@echo "make clean        remove caches and local stack state (distclean: also .venv)"

$(STAMP):
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m devstack

# Runs every check even when an earlier one fails, so one CI run reports all of them; fails if any failed.
test: $(STAMP)
	@failed=""; \
	for check in lint typecheck infra-check unit-and-integration e2e browser-tests; do \
		$(MAKE) --no-print-directory $$check || failed="$$failed $$check"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi

# unit, integration and the CI-sized chaos rounds in one xdist run (its workers start once); the infra tests ran in
# infra-check.
unit-and-integration: $(STAMP)
	$(PYTEST) $(XDIST) tests/unit tests/integration tests/chaos $(addprefix --ignore=,$(INFRA_TEST))

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy $(TYPED_PATHS)

unit: $(STAMP)
	$(PYTEST) $(XDIST) tests/unit

integration: $(STAMP)
	$(PYTEST) $(XDIST) tests/integration

# Each xdist worker starts its own devstack (own moto, ports, clock and state files), so two run side by side;
# loadfile keeps a file's tests on one worker, in order, as they were written to run.
e2e: $(STAMP)
	$(PYTEST) -n 2 --dist loadfile tests/e2e

# The API fuzz test (schemathesis, part of e2e with a few examples per operation) with many more: every
# operation FUZZ_EXAMPLES times, and FUZZ_SCENARIOS chained create-then-act scenarios; it prints the requests
# by operation and status. About 30 minutes at the defaults on a busy 2-CPU machine (1,960 requests).
FUZZ_EXAMPLES ?= 50
FUZZ_SCENARIOS ?= 100
fuzz: $(STAMP)
	SMSCAST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SMSCAST_FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) $(PYTEST) -s tests/e2e/test_devstack_api_fuzz.py

# Playwright's own browser download needs the internet: the browser tests drive Debian's Chromium instead.
CHROMIUM := /usr/bin/chromium

# The emoji font only makes screenshots true to a merchant's browser (the quiet-hours 💤 is an emoji).
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

browser:
	@test -x $(CHROMIUM) -a -f $(EMOJI_FONT) || { echo "installing chromium and an emoji font (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; }

# The dashboard in headless Chromium against one devstack subprocess: one at a time, like e2e.
# Screenshots of every page land in tests/browser/screenshots/ (SMSCAST_SCREENSHOTS moves them).
browser-tests: $(STAMP) browser
	$(PYTEST) tests/browser

# Every benchmark into docs/benchmarks.md, beside the per-recipient baseline commit run in the same go (bench/report.py).
# Writes the whole report even when a bench is missing or fails, then exits non-zero.
bench: $(STAMP)
	$(BIN)/python -m bench.report

infra: $(STAMP)
	$(BIN)/python -m infra.template > infra/resources.json.tmp
	mv infra/resources.json.tmp infra/resources.json

infra-check: $(STAMP)
	$(PYTEST) $(INFRA_TEST)

clean:
	rm -rf .ruff_cache .mypy_cache .pytest_cache .hypothesis build dist .devstack .devstack.json infra/resources.json.tmp tests/browser/screenshots
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

# --- deploying to AWS (README: "Deploy to AWS") ------------------------------------------------------------
STAGE ?= dev
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION))
# ResourcePrefix is always smscast-$(STAGE): .chalice/config.json sets the same SMSCAST_RESOURCE_PREFIX per stage.
STACK ?= smscast-$(STAGE)
PACKAGE_DIR ?= build/package/$(STAGE)
AWS ?= aws
# The name (never the value) of the SSM SecureString with the Shopify app secret; the other two are not secret.
SHOPIFY_API_SECRET_PARAMETER ?= /smscast/$(STAGE)/shopify-api-secret
SHOPIFY_API_KEY ?=
LINK_DOMAIN ?=

define need
	@test -n "$($(1))" || { echo "make $@: set $(1)=... ($(2))" >&2; exit 2; }
endef

# chalice package downloads the Linux (manylinux x86_64) wheels of requirements.txt from PyPI and needs a region.
package: $(STAMP)
	$(call need,REGION,the AWS region)
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$(REGION) $(BIN)/chalice package --stage $(STAGE) --merge-template infra/resources.json $(PACKAGE_DIR)
	@ls -l $(PACKAGE_DIR)/sam.json $(PACKAGE_DIR)/deployment.zip

deploy: package
	$(call need,ARTIFACT_BUCKET,an S3 bucket in REGION for the code)
	$(AWS) cloudformation package --region $(REGION) --template-file $(PACKAGE_DIR)/sam.json \
		--s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(STACK) --output-template-file $(PACKAGE_DIR)/packaged.yaml
	$(AWS) cloudformation deploy --region $(REGION) --stack-name $(STACK) --template-file $(PACKAGE_DIR)/packaged.yaml \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--parameter-overrides ResourcePrefix=smscast-$(STAGE) ShopifyApiSecretParameter=$(SHOPIFY_API_SECRET_PARAMETER) \
		ShopifyApiKey=$(SHOPIFY_API_KEY) LinkDomain=$(LINK_DOMAIN)
	$(AWS) cloudformation describe-stacks --region $(REGION) --stack-name $(STACK) --query 'Stacks[0].Outputs' --output table

destroy:
	$(call need,REGION,the AWS region)
	$(AWS) cloudformation delete-stack --region $(REGION) --stack-name $(STACK)
	$(AWS) cloudformation wait stack-delete-complete --region $(REGION) --stack-name $(STACK)
