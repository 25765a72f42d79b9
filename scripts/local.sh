#!/usr/bin/env bash
# The pipeline on this machine, without AWS or LaunchDarkly accounts, kept running until stopped:
# DynamoDB Local, a LaunchDarkly stand-in serving a flags file (demo/flags.json by default,
# re-read when it changes), the table, a first sync through the syncer's real fetch, and the
# launchdarkly-ofrep extension serving OFREP on 127.0.0.1:8016.
#
#   scripts/local.sh start [flags.json]   start everything, print the environment to export
#   eval "$(scripts/local.sh env)"        export it (OFREP_ENDPOINT, the AWS and LaunchDarkly variables,
#                                         and PATH with the binaries: syncer, example-reader, ...)
#   scripts/local.sh sync                 sync again (after editing the flags file); returns once
#                                         the extension answers from the new data
#   scripts/local.sh status               what runs, on which ports, and its logs (exit 1: stopped)
#   scripts/local.sh stop                 stop everything (the data is in memory: it goes too)
#
# Binaries: target/debug/{syncer,launchdarkly-ofrep,example-reader,launchdarkly-standin,
# launchdarkly-dynamo-local}, built with `cargo build` the first time when missing: the dev
# profile builds in a fraction of a release build's time and shares its target folder with
# `make demo` and `make test`, and 4 flags need no optimizer. LOCAL_PROFILE=release builds and
# uses target/release instead (for measuring); LOCAL_BIN_DIR picks a folder of built binaries.
# Logs: target/local/{dynamodb,launchdarkly,ofrep}.log.
# Ports: LOCAL_DYNAMODB_PORT (8000), LAUNCHDARKLY_OFREP_PORT (8016); state in LOCAL_STATE_DIR
# (target/local).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${LOCAL_STATE_DIR:-$root/target/local}
profile=${LOCAL_PROFILE:-dev}
case $profile in
  dev) profile_dir=debug ;;
  release) profile_dir=release ;;
  *) echo "local: LOCAL_PROFILE must be dev or release, not $profile" >&2; exit 2 ;;
esac
bin=${LOCAL_BIN_DIR:-$root/target/$profile_dir}
dynamo_port=${LOCAL_DYNAMODB_PORT:-8000}
ofrep_port=${LAUNCHDARKLY_OFREP_PORT:-8016}
table=${LAUNCHDARKLY_DYNAMODB_TABLE:-launchdarkly-local}
sdk_key=local-sdk-key

say() { echo "local: $*" >&2; }
fail() { say "$*"; exit 1; }

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

# The variables every local program needs, as `export` lines (also what `env` prints).
environment() {
  cat <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(cat "$state/dynamodb.port")
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export LAUNCHDARKLY_DYNAMODB_TABLE=$(cat "$state/table")
export LAUNCHDARKLY_BASE_URI=$(cat "$state/launchdarkly.url")
export LAUNCHDARKLY_SDK_KEY=$sdk_key
export OFREP_ENDPOINT=http://127.0.0.1:$(cat "$state/ofrep.port")
export PATH="$bin:\$PATH"
EOF
}

# Waits up to 30 s for `check` to succeed while the process `name` runs.
wait_for() {
  local name=$1; shift
  for _ in $(seq 1 120); do
    "$@" && return 0
    running "$name" || break
    sleep 0.25
  done
  say "$name did not start; its log ($state/$name.log):"; tail -n 20 "$state/$name.log" >&2; stop; exit 1
}

binaries=(syncer launchdarkly-ofrep example-reader launchdarkly-standin launchdarkly-dynamo-local)
binaries() {
  local missing=
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || missing=1; done
  [ -z "$missing" ] && return
  [ -n "${LOCAL_BIN_DIR:-}" ] && fail "not all of ${binaries[*]} are in LOCAL_BIN_DIR=$bin"
  say "building ${binaries[*]} into $bin (cargo build --profile $profile, once: about 3 minutes on 2 cores from a fresh clone, seconds after make demo or make test)"
  # --workspace: features as `make test` and `make demo` resolve them, so they reuse every crate.
  (cd "$root" && cargo build --profile "$profile" --locked --workspace $(printf -- '--bin %s ' "${binaries[@]}"))
}

start() {
  local flags=${1:-$root/demo/flags.json}
  [ -f "$flags" ] || fail "no flags file $flags"
  running dynamodb && fail "already running (scripts/local.sh stop first); scripts/local.sh env prints its environment"
  command -v java >/dev/null || fail "java (17+) is required to run DynamoDB Local"
  make -s -C "$root" local-tools >&2
  binaries
  mkdir -p "$state"
  rm -f "$state"/*.pid
  trap 'say "start failed: stopping what it started"; stop' ERR
  flags=$(cd "$(dirname "$flags")" && pwd)/$(basename "$flags")
  echo "$flags" >"$state/flags.path"
  echo "$table" >"$state/table"
  echo "$ofrep_port" >"$state/ofrep.port"

  # DynamoDB Local and the LaunchDarkly stand-in, each in its own process group so they outlive
  # this script, and the table: testkit/src/local.rs, shared with make test and make demo.
  "$bin/launchdarkly-dynamo-local" --root "$root" start --state "$state" --dynamodb-port "$dynamo_port" \
    --flags "$flags" --sdk-key "$sdk_key" --table "$table" --standin "$bin/launchdarkly-standin"
  eval "$(environment)"
  sync
  # The extension outside Lambda serves OFREP until stopped; without an SDK key it sends no
  # analytics events anywhere.
  env -u LAUNCHDARKLY_SDK_KEY LAUNCHDARKLY_OFREP_PORT="$ofrep_port" RUST_LOG="${RUST_LOG:-warn}" \
    setsid "$bin/launchdarkly-ofrep" >"$state/ofrep.log" 2>&1 </dev/null &
  echo $! >"$state/ofrep.pid"
  wait_for ofrep curl -sf -o /dev/null "http://127.0.0.1:$ofrep_port/health"
  trap - ERR
  say "DynamoDB Local on :$dynamo_port, a LaunchDarkly stand-in serving $flags, OFREP on :$ofrep_port"
  say "binaries in $bin (try: $bin/example-reader eval payments-enabled --key alice); logs in $state/*.log"
  say "export the environment with: eval \"\$(scripts/local.sh env)\"; stop with: scripts/local.sh stop"
  environment
}

sync() {
  running dynamodb || fail "not running: scripts/local.sh start"
  eval "$(environment)"
  # The stand-in re-reads its file every 100 ms: a sync right after an edit brings that edit.
  "$bin/launchdarkly-dynamo-local" await-served "$(cat "$state/flags.path")" "$LAUNCHDARKLY_BASE_URI" "$sdk_key"
  local before= summary
  running ofrep && before=$("$bin/launchdarkly-dynamo-local" generation "$(health)")
  summary=$(RUST_LOG="${RUST_LOG:-warn}" "$bin/syncer" sync)
  echo "$summary" >&2
  [ -n "$before" ] || return 0
  # A sync that changed the table: return once the extension answers from it (it checks the
  # table every freshness interval, 1 s by default); 10 s at most.
  "$bin/launchdarkly-dynamo-local" await-extension "$(health)" "$before" "$summary" || true
}

health() { echo "http://127.0.0.1:$(cat "$state/ofrep.port")/health"; }

# Where each part listens, as status shows it.
where() {
  case $1 in
    dynamodb) echo "http://127.0.0.1:$(cat "$state/dynamodb.port") (table $(cat "$state/table"))" ;;
    launchdarkly) cat "$state/launchdarkly.url" 2>/dev/null ;;
    ofrep) echo "http://127.0.0.1:$(cat "$state/ofrep.port") (OFREP, /health)" ;;
  esac
}

status() {
  local up=0
  for name in dynamodb launchdarkly ofrep; do
    if running "$name"; then
      up=$((up + 1))
      say "$name: running, pid $(cat "$state/$name.pid"), $(where "$name"), log $state/$name.log"
    else
      say "$name: stopped"
    fi
  done
  [ "$up" -gt 0 ] || { say "nothing runs: scripts/local.sh start"; return 1; }
  say "flags file: $(cat "$state/flags.path"); binaries: $bin"
  [ "$up" -eq 3 ] || { say "only part of it runs: scripts/local.sh stop, then start"; return 1; }
}

stop() {
  "$bin/launchdarkly-dynamo-local" stop --state "$state" ofrep launchdarkly dynamodb
}

case "${1:-}" in
  start) shift; start "$@" ;;
  env) running dynamodb || fail "not running: scripts/local.sh start"; environment ;;
  sync) sync ;;
  status) status ;;
  stop) stop ;;
  *) echo "usage: scripts/local.sh start [flags.json] | env | sync | status | stop" >&2; exit 2 ;;
esac
