#!/usr/bin/env bash
# The pipeline end to end on this machine (run by `make demo` inside scripts/with-local-aws.sh):
# a LaunchDarkly stand-in serving demo/flags.json, `syncer sync` through its real HTTP fetch,
# evaluations with `example-reader eval` from DynamoDB only, one flag change, a second sync, the
# reader's HTTP API served locally (`example-reader serve`, its GET routes and OFREP), and a 503
# for a missing table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
python=.venv/bin/python

step "Building the syncer, the example reader, the LaunchDarkly stand-in and the local tool (debug build: about 3 minutes on 2 cores the first time, seconds after)"
cargo build --locked --quiet --workspace --bin syncer --bin example-reader --bin launchdarkly-standin --bin launchdarkly-dynamo-local
bin=target/debug

work=$(mktemp -d -t ld-demo.XXXXXX)
cp demo/flags.json "$work/flags.json"
"$bin/launchdarkly-standin" "$work/flags.json" demo-sdk-key "$work/ld-url" &
standin=$!
server=
trap 'kill $standin $server 2>/dev/null || true; wait $standin $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/ld-url" ] && break; sleep 0.1; done

export LAUNCHDARKLY_DYNAMODB_TABLE=launchdarkly-demo
export LAUNCHDARKLY_BASE_URI=$(cat "$work/ld-url")
export LAUNCHDARKLY_CACHE_TTL_SECONDS=0
export RUST_LOG=warn
echo "LaunchDarkly stand-in at $LAUNCHDARKLY_BASE_URI, serving 4 flags and 1 segment from demo/flags.json"

step "Creating the table $LAUNCHDARKLY_DYNAMODB_TABLE in DynamoDB Local"
"$bin/launchdarkly-dynamo-local" create-table "$LAUNCHDARKLY_DYNAMODB_TABLE"

sync() { LAUNCHDARKLY_SDK_KEY=demo-sdk-key "$bin/syncer" sync --text | sed 's/^/  /'; }

evaluate() { "$bin/example-reader" eval "$1" --context "$2" --text | sed 's/^/  /'; }

evaluate_all() {
  for flag in payments-enabled new-checkout beta-dashboard welcome-banner; do
    evaluate "$flag" '{"kind":"user","key":"alice"}'
    evaluate "$flag" '{"kind":"user","key":"bob"}'
    evaluate "$flag" '{"kind":"user","key":"carol","email":"carol@beta.example.com"}'
    evaluate "$flag" '{"kind":"user","key":"dave"}'
  done
}

step "Sync 1: the syncer fetches every flag and segment from LaunchDarkly and writes them to DynamoDB"
sync

step "Evaluating from DynamoDB only (the SDK in daemon mode: no call to LaunchDarkly)"
echo "  payments-enabled: a kill switch; new-checkout: a 25% rollout; beta-dashboard: on for the"
echo "  beta-testers segment (alice, and anyone with a @beta.example.com email: carol);"
echo "  welcome-banner: a string, with dave targeted individually."
evaluate_all

step "In LaunchDarkly, someone pulls the kill switch: payments-enabled is turned off (version 7 -> 8)"
$python - "$work/flags.json" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
flag = data["flags"]["payments-enabled"]
flag["on"] = False
flag["version"] += 1
json.dump(data, open(path, "w"), indent=2)
PY
sleep 0.3

step "Sync 2: only the changed flag is written"
sync

step "Evaluating payments-enabled again"
evaluate payments-enabled '{"kind":"user","key":"alice"}'
evaluate payments-enabled '{"kind":"user","key":"bob"}'

step "The reader's HTTP API, served locally by the same handler as the Lambda (example-reader serve)"
port=$("$bin/launchdarkly-dynamo-local" free-port)
"$bin/example-reader" serve --port "$port" &
server=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/flags" && break; sleep 0.1; done
echo "  GET /flags/beta-dashboard?key=alice"
echo "  -> HTTP $(curl -s -o "$work/http.json" -w '%{http_code}' "http://127.0.0.1:$port/flags/beta-dashboard?key=alice") $(cat "$work/http.json")"
echo "  POST /ofrep/v1/evaluate/flags/beta-dashboard {\"context\":{\"targetingKey\":\"alice\"}}   (OpenFeature OFREP, what the layer serves)"
echo "  -> HTTP $(curl -s -o "$work/http.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d '{"context":{"targetingKey":"alice"}}' "http://127.0.0.1:$port/ofrep/v1/evaluate/flags/beta-dashboard") $(cat "$work/http.json")"

step "A reader pointed at a table that does not exist answers 503, never 'flag not found'"
LAUNCHDARKLY_DYNAMODB_TABLE=no-such-table "$bin/example-reader" serve --port "$((port + 1))" 2>/dev/null &
missing=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$((port + 1))/flags" && break; sleep 0.1; done
echo "  GET /flags/beta-dashboard?key=alice (table no-such-table)"
echo "  -> HTTP $(curl -s -o "$work/http.json" -w '%{http_code}' "http://127.0.0.1:$((port + 1))/flags/beta-dashboard?key=alice") $(cut -c1-160 "$work/http.json")..."
kill $missing 2>/dev/null || true; wait $missing 2>/dev/null || true

step "Done. The stand-in, DynamoDB Local and moto are stopped; nothing was left running."
