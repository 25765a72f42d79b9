#!/usr/bin/env bash
# OFREP conformance (run by `make ofrep-conformance` inside scripts/with-local-aws.sh): the
# demo flags synced into DynamoDB Local by the real syncer from the LaunchDarkly stand-in, the
# launchdarkly-ofrep extension serving them, and conformance/ofrep.py checking it against the
# official OpenAPI document (explicit cases per status code, then schemathesis). A second
# extension over a missing table gives the 500 cases.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
extension=${1:-target/debug/launchdarkly-ofrep}
report=${2:-target/ofrep-conformance}

cargo build --locked --quiet --bin syncer --bin launchdarkly-standin --bin launchdarkly-dynamo-local
[ -x "$extension" ] || cargo build --locked --quiet --bin launchdarkly-ofrep

work=$(mktemp -d -t ofrep-conformance.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/launchdarkly-standin demo/flags.json conformance-sdk-key "$work/ld-url" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/ld-url" ] && break; sleep 0.1; done

export LAUNCHDARKLY_DYNAMODB_TABLE=ofrep-conformance
export RUST_LOG=warn
target/debug/launchdarkly-dynamo-local create-table "$LAUNCHDARKLY_DYNAMODB_TABLE" >/dev/null
LAUNCHDARKLY_BASE_URI=$(cat "$work/ld-url") LAUNCHDARKLY_SDK_KEY=conformance-sdk-key target/debug/syncer sync >/dev/null

free_port() { target/debug/launchdarkly-dynamo-local free-port; }
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ofrep-conformance: the extension did not listen on port $1" >&2
  return 1
}
port=$(free_port)
LAUNCHDARKLY_OFREP_PORT=$port "$extension" &
pids+=($!)
down_port=$(free_port)
LAUNCHDARKLY_OFREP_PORT=$down_port LAUNCHDARKLY_DYNAMODB_TABLE=ofrep-conformance-missing "$extension" 2>/dev/null &
pids+=($!)
wait_port "$port"
wait_port "$down_port"

.venv/bin/python conformance/ofrep.py --url "http://127.0.0.1:$port" --down-url "http://127.0.0.1:$down_port" \
  --flag payments-enabled --report-dir "$report"
