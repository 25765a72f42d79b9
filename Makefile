# Operating surface of the pipeline. Every target installs the tools it needs, pinned.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV ?= staging
CARGO ?= cargo

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 22

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

.PHONY: npm
npm: node_modules/.package-lock.json

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: test
test: npm lint ## Every test: lint, unit and integration tests against DynamoDB Local
	scripts/with-local-aws.sh $(CARGO) test --workspace --locked
