# Operating surface of the pipeline. Every target installs the tools it needs, pinned
# (npm: package.json, tools/local/package.json and their locks; Python: tools/requirements*.txt;
# Rust: Cargo.lock and rust-toolchain targets).
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
# One region for every target that talks to AWS (Serverless, the AWS CLI): REGION, else
# AWS_REGION, AWS_DEFAULT_REGION, the CLI profile's region, us-east-1 (Serverless's default).
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),$(shell aws configure get region 2>/dev/null),us-east-1)
IN_REGION = AWS_REGION=$(REGION) AWS_DEFAULT_REGION=$(REGION)
SLS = $(IN_REGION) serverless
AWS = $(IN_REGION) aws
STACK = launchdarkly-dynamo-store-$(ENV)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

# ---- tools --------------------------------------------------------------------------------
# Each target installs only what it needs: deploying needs cargo-lambda (build-tools) and
# Serverless (deploy-tools); the local stand-ins need DynamoDB Local and moto (local-tools);
# `make test` needs all of them (tools).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

tools/local/node_modules/.package-lock.json: tools/local/package.json tools/local/package-lock.json
	npm ci --prefix tools/local --no-audit --no-fund --loglevel=error

# The Node.js example function's pinned OpenFeature packages (deployed with it, used by tests).
examples/node-ofrep/node_modules/.package-lock.json: examples/node-ofrep/package.json examples/node-ofrep/package-lock.json
	npm ci --prefix examples/node-ofrep --no-audit --no-fund --loglevel=error

$(VENV)/bin/pip:
	python3 -m venv $(VENV)

$(VENV)/.build-tools: tools/requirements-build.txt | $(VENV)/bin/pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-build.txt
	touch $@

$(VENV)/.local-tools: tools/requirements-local.txt | $(VENV)/bin/pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-local.txt
	touch $@

$(VENV)/.installed: tools/requirements.txt tools/requirements-build.txt tools/requirements-local.txt examples/python-ofrep/requirements.txt | $(VENV)/bin/pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@ $(VENV)/.build-tools $(VENV)/.local-tools

.PHONY: build-tools serverless-tools deploy-tools local-tools tools
build-tools: $(VENV)/.build-tools
serverless-tools: node_modules/.package-lock.json
deploy-tools: build-tools serverless-tools examples/node-ofrep/node_modules/.package-lock.json
local-tools: tools/local/node_modules/.package-lock.json $(VENV)/.local-tools
tools: deploy-tools local-tools $(VENV)/.installed ## Install every pinned npm and Python tool (what `make test` uses)

# ---- local work ---------------------------------------------------------------------------
.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: test
# A full run gains nothing from incremental caches, which cost 2 GB of disk (exported to every
# step, the sub-makes included).
test: export CARGO_INCREMENTAL := 0
test: tools lint build-all ## Every test: lint, unit and integration tests (DynamoDB Local, SSM, LaunchDarkly and Lambda stand-ins, OpenFeature JS and Python), the arm64 binaries under emulation, contract tests, OFREP conformance, deploy checks, the crate's package
	# Runtime-level tests run the release bootstraps that are deployed (target/lambda/<arch>/...).
	LAMBDA_BINARIES_DIR=$(CURDIR)/target/lambda/x86_64 LAMBDA_BINARIES_ARCH=x86_64 \
	  scripts/with-local-aws.sh $(CARGO) test --workspace --locked
	$(MAKE) test-arm64
	$(MAKE) contract-tests
	$(MAKE) ofrep-conformance OFREP_EXTENSION=$(CURDIR)/target/lambda/x86_64/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep
	$(MAKE) check-deploy
	$(MAKE) check-crate

# The runtime-level tests again, on the aarch64 binaries, under Debian's qemu user-mode
# emulation (qemu-user-static, with the aarch64 C library of libc6-arm64-cross). One test at a
# time: an emulated binary runs several times slower, and two of them beside the test's own
# clients and DynamoDB Local left one without CPU for seconds on 2 cores (an extension that
# took over 10 s to see its first outage); serially they take about 30 s longer in all.
ARM64_RUNTIME_TESTS := -p launchdarkly-dynamo-syncer -p launchdarkly-dynamo-example-reader \
  -p launchdarkly-dynamo-ofrep-extension --test it -- --test-threads=1 \
  runtime:: metrics:: hostile:: reading:: lifecycle:: openfeature:: python:: managed_instances::
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: test-arm64 emulator
test-arm64: tools build-arm64 emulator ## The runtime-level tests on the arm64 binaries, under qemu
	LAMBDA_BINARIES_DIR=$(CURDIR)/target/lambda/arm64 LAMBDA_BINARIES_ARCH=aarch64 \
	  LAMBDA_BINARY_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu" \
	  scripts/with-local-aws.sh $(CARGO) test --locked $(ARM64_RUNTIME_TESTS)

emulator:
	@if ! command -v qemu-aarch64-static >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then \
	  echo "emulator: installing Debian's qemu-user-static and libc6-arm64-cross"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static libc6-arm64-cross \
	  || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static libc6-arm64-cross; }; \
	fi

# The library crate as crates.io would get it: packaged, and the package built on its own.
.PHONY: check-crate
check-crate: ## cargo package the launchdarkly-dynamo-store crate (its files, metadata and a build of the package)
	mkdir -p target
	$(CARGO) package --locked -p launchdarkly-dynamo-store --allow-dirty 2>&1 | tee target/crate-package.log
	@if grep -E '^(warning|error)' target/crate-package.log; then echo "check-crate: cargo package is not clean (above)"; exit 1; fi
	$(CARGO) package --locked -p launchdarkly-dynamo-store --allow-dirty --list | grep -x LICENSE >/dev/null
	python3 scripts/crate-metadata.py

# Publishing needs the repository URL in store/Cargo.toml (which this checkout cannot know) and
# a crates.io token (`cargo login`). DRY_RUN=1 stops before the upload.
.PHONY: publish-crate
publish-crate: check-crate ## Publish launchdarkly-dynamo-store to crates.io (needs `repository` in store/Cargo.toml; DRY_RUN=1 to try)
	python3 scripts/crate-metadata.py --publish
	$(CARGO) publish --locked -p launchdarkly-dynamo-store $(if $(DRY_RUN),--dry-run)

# LaunchDarkly's own contract-test harness (sdk-test-harness v2.41.0), beside the checkout.
SDK_TEST_HARNESS ?= $(CURDIR)/../shared/tools/sdk-test-harness/sdk-test-harness
.PHONY: contract-tests
contract-tests: tools ## LaunchDarkly's contract tests for persistent stores, DynamoDB suite (target/contract-tests/junit.xml)
	@if [ ! -x "$(SDK_TEST_HARNESS)" ]; then 	  echo "contract-tests: skipped: no sdk-test-harness at $(SDK_TEST_HARNESS) (set SDK_TEST_HARNESS=<path>)"; 	  exit 0; 	fi; 	$(CARGO) build --locked -p launchdarkly-dynamo-contract-tests && 	SDK_TEST_HARNESS="$(SDK_TEST_HARNESS)" scripts/with-local-aws.sh 	  scripts/contract-tests.sh target/debug/contract-tests target/contract-tests/junit.xml

# The OFREP endpoint against the official OpenAPI document (conformance/ofrep-openapi.yaml):
# explicit cases per status code, then schemathesis. Reports in target/ofrep-conformance/.
OFREP_EXTENSION ?= $(CURDIR)/target/debug/launchdarkly-ofrep
.PHONY: ofrep-conformance
ofrep-conformance: tools ## OFREP conformance of the extension: explicit cases and schemathesis against the OpenAPI document
	scripts/with-local-aws.sh scripts/ofrep-conformance.sh $(OFREP_EXTENSION) target/ofrep-conformance

.PHONY: demo
demo: local-tools ## Watch the pipeline work locally: DynamoDB Local, bundled flags, sync, evaluate
	scripts/with-local-aws.sh scripts/demo.sh

bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error

BENCH_RUNS ?= 5
.PHONY: bench
bench: build-x86_64 bench/node_modules/.package-lock.json ## Measure against LaunchDarkly's official Node.js store; writes bench/RESULTS.md
	$(CARGO) lambda build --release --x86-64 --locked --bin launchdarkly-dynamo-bench
	# The reader measured is the deployed artifact itself.
	rm -rf target/bench-reader && python3 -m zipfile -e dist/x86_64/example-reader.zip target/bench-reader && chmod +x target/bench-reader/bootstrap
	scripts/with-local-aws.sh target/lambda/launchdarkly-dynamo-bench/bootstrap target/bench-reader/bootstrap \
	  target/lambda/x86_64/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep bench/RESULTS.md $(BENCH_RUNS)
	@cat bench/RESULTS.md

.PHONY: build-times
build-times: ## Time the first hour on a fresh clone (local.sh start, make demo, make package, make deploy without credentials; BUILD_TIMES_TEST=1 adds make test): bench/BUILD-TIMES.md
	scripts/build-times.sh bench/BUILD-TIMES.md

# ---- build and package --------------------------------------------------------------------
# The functions' architecture (`make deploy ARCH=x86_64`). arm64 by default: Graviton costs
# about 20% less per GB-second, and these binaries have no native dependencies to port.
ARCH ?= arm64
ifeq ($(filter $(ARCH),arm64 x86_64),)
$(error ARCH must be arm64 or x86_64, not $(ARCH))
endif
# The architectures the launchdarkly-ofrep layer is published for: the functions' by default,
# so a deploy builds one architecture; `LAYER_ARCHS=both` for functions of both architectures
# (serverless.yml's `ofrepLayers`).
LAYER_ARCHS ?= $(ARCH)
ifeq ($(filter $(LAYER_ARCHS),arm64 x86_64 both),)
$(error LAYER_ARCHS must be arm64, x86_64 or both, not $(LAYER_ARCHS))
endif
ARCHS := x86_64 arm64
# What `make build`, `make package` and `make deploy` build: the functions' architecture and the
# layer's. `make test` builds both (build-all).
BUILD_ARCHS := $(sort $(ARCH) $(if $(filter both,$(LAYER_ARCHS)),$(ARCHS),$(LAYER_ARCHS)))
# The aarch64 standard library, for cargo-lambda's arm64 builds (rustup, the same toolchain).
RUST_TARGETS := x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu

.PHONY: rust-targets
rust-targets:
	@installed=$$(rustup target list --installed); for t in $(RUST_TARGETS); do \
	  grep -qx "$$t" <<<"$$installed" || rustup target add "$$t"; done

.PHONY: build build-all
build: build-tools rust-targets ## Build the Lambda zips and the extension layer for ARCH and LAYER_ARCHS (dist/<arch>/; a release build of about 6 min per architecture on 2 cores)
	for arch in $(BUILD_ARCHS); do $(MAKE) --no-print-directory build-$$arch; done

build-all: build-tools rust-targets ## Build for both architectures (what make test uses)
	for arch in $(ARCHS); do $(MAKE) --no-print-directory build-$$arch; done

# One architecture: the zips in dist/<arch>/, and unpacked as deployed in target/lambda/<arch>/
# (`<bin>/bootstrap`, `layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep`) for the
# runtime-level tests (LAMBDA_BINARIES_DIR). One cargo invocation for the three binaries, so
# their optimized links share the two cores; the zips are made here (scripts/lambda-zip.py).
.PHONY: build-x86_64 build-arm64
build-x86_64 build-arm64: build-%: build-tools rust-targets
	@echo "build-$*: release build of syncer, example-reader and launchdarkly-ofrep for $* (about 6 min on 2 cores from a fresh clone, seconds when nothing changed)"
	$(CARGO) lambda build --release --$(subst x86_64,x86-64,$*) --output-format binary --locked \
	  --lambda-dir target/cargo-lambda/$* --bin syncer --bin example-reader --bin launchdarkly-ofrep
	rm -rf dist/$* target/lambda/$*
	mkdir -p dist/$* target/lambda/$*/layers/launchdarkly-ofrep/extensions
	for bin in syncer example-reader; do \
	  python3 scripts/lambda-zip.py target/cargo-lambda/$*/$$bin/bootstrap dist/$*/$$bin.zip bootstrap; \
	  python3 -m zipfile -e dist/$*/$$bin.zip target/lambda/$*/$$bin/ && chmod +x target/lambda/$*/$$bin/bootstrap; \
	done
	python3 scripts/lambda-zip.py target/cargo-lambda/$*/launchdarkly-ofrep/bootstrap \
	  dist/$*/launchdarkly-ofrep-layer.zip extensions/launchdarkly-ofrep
	python3 -m zipfile -e dist/$*/launchdarkly-ofrep-layer.zip target/lambda/$*/layers/launchdarkly-ofrep/
	chmod +x target/lambda/$*/layers/launchdarkly-ofrep/extensions/launchdarkly-ofrep

.PHONY: package
package: build deploy-tools ## serverless package for ARCH (default arm64) and LAYER_ARCHS, offline: no AWS credentials needed (.serverless/)
	SLS_OFFLINE_PACKAGE=1 AWS_EC2_METADATA_DISABLED=true CI=true $(SLS) package --stage $(ENV) < /dev/null

# The deployment shapes checked: the defaults (arm64, no examples, today's names, no reserved
# concurrency), the other architecture with the examples, custom names and a reservation, and
# Lambda Managed Instances (a capacity provider given, with the examples; one the stack creates).
DEPLOY_SHAPES := default x86_64-examples managed-instances managed-instances-created
SHAPE_default :=
SHAPE_x86_64-examples := ARCH=x86_64 LAYER_ARCHS=both EXAMPLES=true SYNCER_CONCURRENCY=5 TABLE_NAME=ld-shop-$(ENV) SSM_PATH=/ld/shop-$(ENV)
SHAPE_managed-instances := EXAMPLES=true MAX_CONCURRENCY=32 \
  CAPACITY_PROVIDER=arn:aws:lambda:us-east-1:123456789012:capacity-provider:flags
SHAPE_managed-instances-created := CAPACITY_PROVIDER_SUBNETS=subnet-0a1b2c3d,subnet-4e5f6a7b \
  CAPACITY_PROVIDER_SECURITY_GROUPS=sg-0a1b2c3d CAPACITY_PROVIDER_MAX_VCPUS=16

.PHONY: check-deploy
check-deploy: build-all deploy-tools ## cfn-lint and assertions on the packaged CloudFormation template, for each deployment shape
	for shape in $(DEPLOY_SHAPES); do $(MAKE) --no-print-directory check-deploy-$$shape; done

check-deploy-%:
	@echo "check-deploy: $* ($(SHAPE_$*))"
	env $(SHAPE_$*) SLS_OFFLINE_PACKAGE=1 AWS_EC2_METADATA_DISABLED=true CI=true \
	  $(SLS) package --stage $(ENV) --package target/deploy-check/$* < /dev/null
	cfn-lint --ignore-checks W3005 -- target/deploy-check/$*/cloudformation-template-update-stack.json
	env $(SHAPE_$*) STAGE=$(ENV) python3 deploy/test_template.py target/deploy-check/$*

# ---- AWS ----------------------------------------------------------------------------------
# Every target that talks to AWS checks the CLI, credentials and region first (and deploys and
# invokes the SDK key parameter), in seconds, before it builds or installs anything.
SSM_PATH_OF_STAGE = $(or $(SSM_PATH),/launchdarkly/$(ENV))
.PHONY: aws-preflight aws-preflight-parameters
aws-preflight:
	@scripts/aws-preflight.sh "$(REGION)" "$(SSM_PATH_OF_STAGE)"
aws-preflight-parameters:
	@scripts/aws-preflight.sh "$(REGION)" "$(SSM_PATH_OF_STAGE)" --parameters

.PHONY: deploy
deploy: aws-preflight-parameters ## Deploy the stage ENV (default staging); checks credentials, region and the SDK key parameter first
	$(MAKE) --no-print-directory build deploy-tools
	$(SLS) deploy --stage $(ENV)
	@echo "dashboard: $$($(MAKE) -s --no-print-directory dashboard-url)"

.PHONY: staging production
staging: ## make deploy ENV=staging
	$(MAKE) deploy ENV=staging
production: ## make deploy ENV=production
	$(MAKE) deploy ENV=production

.PHONY: deploy-%
deploy-%: aws-preflight-parameters ## Update one function's code only: make deploy-store, make deploy-reader
	$(MAKE) --no-print-directory build deploy-tools
	$(SLS) deploy function --function $* --stage $(ENV)

.PHONY: deployments rollback
deployments: aws-preflight serverless-tools ## List the stage's deployments (timestamps for make rollback)
	$(SLS) deploy list --stage $(ENV)

rollback: aws-preflight serverless-tools ## Redeploy an earlier deployment of the stage: make rollback TIMESTAMP=<from make deployments>
	@[ -n "$(TIMESTAMP)" ] || { echo "rollback: set TIMESTAMP=<a timestamp from make deployments ENV=$(ENV)>"; exit 2; }
	$(SLS) rollback --stage $(ENV) --timestamp $(TIMESTAMP)
	@echo "rollback: the table's data is not rolled back; run make invoke ENV=$(ENV) to sync it with LaunchDarkly"

.PHONY: destroy
destroy: aws-preflight serverless-tools ## Remove the stage's stack (functions, APIs, the table and its data)
	@echo "make destroy: removing the stack $(STACK), which DELETES the table $(or $(TABLE_NAME),launchdarkly-$(ENV)) and every flag in it (readers of this stage stop answering); the SSM parameters under $(or $(SSM_PATH),/launchdarkly/$(ENV))/ are kept (region $(REGION))"
	$(SLS) remove --stage $(ENV)

.PHONY: url
url: aws-preflight ## Print the webhook URL to paste into LaunchDarkly
	@$(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue" --output text

.PHONY: dashboard-url
dashboard-url: aws-preflight ## Print the operators' CloudWatch dashboard URL (syncs, items written, readers' answers)
	@$(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='DashboardUrl'].OutputValue" --output text

.PHONY: reader-url
reader-url: aws-preflight ## Print the example reader's base URL
	@$(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='ReaderUrl'].OutputValue" --output text

.PHONY: logs-%
logs-%: aws-preflight serverless-tools ## Follow a function's logs: make logs-store, make logs-reader, make logs-node
	$(SLS) logs --function $* --stage $(ENV) --tail

.PHONY: invoke
invoke: aws-preflight-parameters serverless-tools ## Run one sync now (serverless invoke --function store) and print its summary
	$(SLS) invoke --function store --stage $(ENV) --data '{}'

.PHONY: status
status: aws-preflight-parameters serverless-tools ## The stage's sync state (last success and failure, generation, running sync, webhook signing) and its alarms
	@$(SLS) invoke --function store --stage $(ENV) --data '{"status": true}'
	@echo "dashboard: $$($(MAKE) -s --no-print-directory dashboard-url)"
	@$(AWS) cloudwatch describe-alarms --alarm-names $(STACK)-sync-failures $(STACK)-sync-stale $(STACK)-readers-stale \
	  --query "MetricAlarms[].[AlarmName,StateValue,StateReason]" --output table

.PHONY: invoke-clean-up
invoke-clean-up: aws-preflight-parameters serverless-tools ## One sync that may delete any number of flags (after removing them in LaunchDarkly)
	$(SLS) invoke --function store --stage $(ENV) --data '{"allowMassDelete": true}'
