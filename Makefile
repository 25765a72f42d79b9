# Operating surface of the pipeline. Every target installs the tools it needs, pinned
# (npm: package.json/package-lock.json; Python: tools/requirements.txt; Rust: Cargo.lock).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV ?= staging
CARGO ?= cargo
VENV := $(CURDIR)/.venv
# cargo-lambda links with zig from the venv; serverless and friends come from node_modules.
export PATH := $(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export SLS_TELEMETRY_DISABLED := 1
export SLS_NOTIFICATIONS_MODE := off
SLS := serverless
STACK = launchdarkly-dynamo-store-$(ENV)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

# ---- tools --------------------------------------------------------------------------------
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The Node.js example function's pinned OpenFeature packages (deployed with it, used by tests).
examples/node-ofrep/node_modules/.package-lock.json: examples/node-ofrep/package.json examples/node-ofrep/package-lock.json
	npm ci --prefix examples/node-ofrep --no-audit --no-fund --loglevel=error

$(VENV)/.installed: tools/requirements.txt examples/python-ofrep/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

.PHONY: tools
tools: node_modules/.package-lock.json examples/node-ofrep/node_modules/.package-lock.json $(VENV)/.installed ## Install the pinned npm and Python tools

# ---- local work ---------------------------------------------------------------------------
.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: test
test: tools lint build ## Every test: lint, unit and integration tests (DynamoDB Local, SSM, LaunchDarkly and Lambda stand-ins, OpenFeature JS), contract tests, OFREP conformance, deploy checks
	# Runtime-level tests run the release bootstraps that are deployed (target/lambda/*/bootstrap).
	LAMBDA_BINARIES_DIR=$(CURDIR)/target/lambda scripts/with-local-aws.sh $(CARGO) test --workspace --locked
	$(MAKE) contract-tests
	$(MAKE) ofrep-conformance OFREP_EXTENSION=$(CURDIR)/target/lambda/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep
	$(MAKE) check-deploy

# LaunchDarkly's own contract-test harness (sdk-test-harness v2.41.0), beside the checkout.
SDK_TEST_HARNESS ?= $(CURDIR)/../shared/tools/sdk-test-harness/sdk-test-harness
.PHONY: contract-tests
contract-tests: tools ## LaunchDarkly's contract tests for persistent stores, DynamoDB suite (target/contract-tests/junit.xml)
	@if [ ! -x "$(SDK_TEST_HARNESS)" ]; then 	  echo "contract-tests: skipped: no sdk-test-harness at $(SDK_TEST_HARNESS) (set SDK_TEST_HARNESS=<path>)"; 	  exit 0; 	fi; 	$(CARGO) build --locked -p contract-tests && 	SDK_TEST_HARNESS="$(SDK_TEST_HARNESS)" scripts/with-local-aws.sh 	  scripts/contract-tests.sh target/debug/contract-tests target/contract-tests/junit.xml

# The OFREP endpoint against the official OpenAPI document (conformance/ofrep-openapi.yaml):
# explicit cases per status code, then schemathesis. Reports in target/ofrep-conformance/.
OFREP_EXTENSION ?= $(CURDIR)/target/debug/launchdarkly-ofrep
.PHONY: ofrep-conformance
ofrep-conformance: tools ## OFREP conformance of the extension: explicit cases and schemathesis against the OpenAPI document
	scripts/with-local-aws.sh scripts/ofrep-conformance.sh $(OFREP_EXTENSION) target/ofrep-conformance

.PHONY: demo
demo: tools ## Watch the pipeline work locally: DynamoDB Local, bundled flags, sync, evaluate
	scripts/with-local-aws.sh scripts/demo.sh

bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error

BENCH_RUNS ?= 5
.PHONY: bench
bench: build bench/node_modules/.package-lock.json ## Measure against LaunchDarkly's official Node.js store; writes bench/RESULTS.md
	$(CARGO) lambda build --release --x86-64 --locked --bin ld-dynamo-bench
	# The reader measured is the deployed artifact itself.
	rm -rf target/bench-reader && python3 -m zipfile -e dist/example-reader.zip target/bench-reader && chmod +x target/bench-reader/bootstrap
	scripts/with-local-aws.sh target/lambda/ld-dynamo-bench/bootstrap target/bench-reader/bootstrap \
	  target/lambda/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep bench/RESULTS.md $(BENCH_RUNS)
	@cat bench/RESULTS.md

# ---- build and package --------------------------------------------------------------------
.PHONY: build
build: tools ## Build the Lambda zips and the extension layer with cargo-lambda (dist/)
	$(CARGO) lambda build --release --x86-64 --output-format zip --locked --bin syncer --bin example-reader
	$(CARGO) lambda build --release --x86-64 --extension --output-format zip --locked --bin launchdarkly-ofrep
	mkdir -p dist
	cp target/lambda/syncer/bootstrap.zip dist/syncer.zip
	cp target/lambda/example-reader/bootstrap.zip dist/example-reader.zip
	cp target/lambda/extensions/launchdarkly-ofrep.zip dist/launchdarkly-ofrep-layer.zip
	# The deployed bootstraps and layer, unzipped, for the runtime-level tests (LAMBDA_BINARIES_DIR).
	for bin in syncer example-reader; do \
	  python3 -m zipfile -e dist/$$bin.zip target/lambda/$$bin/ && chmod +x target/lambda/$$bin/bootstrap; \
	done
	rm -rf target/lambda/layers/launchdarkly-ofrep
	python3 -m zipfile -e dist/launchdarkly-ofrep-layer.zip target/lambda/layers/launchdarkly-ofrep/
	chmod +x target/lambda/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep

.PHONY: package
package: build ## serverless package, offline: no AWS credentials needed (.serverless/)
	SLS_OFFLINE_PACKAGE=1 AWS_EC2_METADATA_DISABLED=true CI=true $(SLS) package --stage $(ENV) < /dev/null

.PHONY: check-deploy
check-deploy: package ## cfn-lint and assertions on the packaged CloudFormation template
	cfn-lint --ignore-checks W3005 -- .serverless/cloudformation-template-update-stack.json
	STAGE=$(ENV) python3 deploy/test_template.py .serverless

# ---- AWS ----------------------------------------------------------------------------------
.PHONY: deploy
deploy: build ## Deploy the stage ENV (default staging)
	$(SLS) deploy --stage $(ENV)

.PHONY: staging production
staging: ## make deploy ENV=staging
	$(MAKE) deploy ENV=staging
production: ## make deploy ENV=production
	$(MAKE) deploy ENV=production

.PHONY: deploy-%
deploy-%: build ## Update one function's code only: make deploy-store, make deploy-reader
	$(SLS) deploy function --function $* --stage $(ENV)

.PHONY: destroy
destroy: tools ## Remove the stage's stack (functions, APIs, the table and its data)
	@echo "make destroy: removing the stack $(STACK), which DELETES the table launchdarkly-$(ENV) and every flag in it (readers of this stage stop answering); the SSM parameters under /launchdarkly/$(ENV)/ are kept"
	$(SLS) remove --stage $(ENV)

.PHONY: url
url: ## Print the webhook URL to paste into LaunchDarkly
	@aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue" --output text

.PHONY: reader-url
reader-url: ## Print the example reader's base URL
	@aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='ReaderUrl'].OutputValue" --output text

.PHONY: logs-%
logs-%: tools ## Follow a function's logs: make logs-store, make logs-reader, make logs-node
	$(SLS) logs --function $* --stage $(ENV) --tail

.PHONY: invoke
invoke: tools ## Run one sync now (serverless invoke --function store) and print its summary
	$(SLS) invoke --function store --stage $(ENV) --data '{}'

.PHONY: status
status: tools ## The stage's sync state (last success and failure, generation, running sync, webhook signing) and its alarms
	@$(SLS) invoke --function store --stage $(ENV) --data '{"status": true}'
	@aws cloudwatch describe-alarms --alarm-names $(STACK)-sync-failures $(STACK)-sync-stale $(STACK)-readers-stale \
	  --query "MetricAlarms[].[AlarmName,StateValue,StateReason]" --output table

.PHONY: invoke-clean-up
invoke-clean-up: tools ## One sync that may delete any number of flags (after removing them in LaunchDarkly)
	$(SLS) invoke --function store --stage $(ENV) --data '{"allowMassDelete": true}'
