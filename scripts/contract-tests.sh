#!/usr/bin/env bash
# Runs LaunchDarkly's contract-test harness (sdk-test-harness) against the `contract-tests`
# service, for the persistent data store suite, on DynamoDB Local. Run under
# scripts/with-local-aws.sh (which `make contract-tests` does): it sets AWS_ENDPOINT_URL_DYNAMODB.
#
#   scripts/contract-tests.sh <service binary> <junit.xml>
# SDK_TEST_HARNESS: the harness binary; SDK_TEST_HARNESS_SKIP: extra -skip patterns, one per line.
set -euo pipefail

service_binary=$1
junit=$2
harness=${SDK_TEST_HARNESS:?}
: "${AWS_ENDPOINT_URL_DYNAMODB:?run this under scripts/with-local-aws.sh}"

# Built by scripts/with-local-aws.sh, which runs this script.
free_port() { target/debug/launchdarkly-dynamo-local free-port; }
service_port=$(free_port)
callback_port=$(free_port)
mkdir -p "$(dirname "$junit")"
log=$(dirname "$junit")/service.log

PORT=$service_port "$service_binary" >"$log" 2>&1 &
service_pid=$!
trap 'kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$service_port/" && break
  kill -0 "$service_pid" 2>/dev/null || { echo "contract-tests: the service did not start; its log:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done

skips=()
while IFS= read -r pattern; do
  [ -n "$pattern" ] && skips+=(-skip "$pattern")
done <<<"${SDK_TEST_HARNESS_SKIP:-}"

echo "contract-tests: harness $harness, service on :$service_port, DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB" >&2
SDK_TEST_HARNESS_DYNAMODB_ENDPOINT=$AWS_ENDPOINT_URL_DYNAMODB "$harness" \
  -url "http://127.0.0.1:$service_port" -host 127.0.0.1 -port "$callback_port" \
  -enable-persistence-tests -run 'persistent data store' \
  -junit "$junit" "${skips[@]}"
