#!/usr/bin/env bash
# How long a newcomer waits: times the first-hour commands on a fresh clone of this checkout's
# HEAD (the local start, the demo, packaging, a deploy without credentials) and writes them as
# a Markdown table.
#
#   scripts/build-times.sh [out.md]      (make build-times; default bench/BUILD-TIMES.md)
#
# Each step starts from what the steps before it left, as on a new machine: the clone has no
# target/, .venv/ or node_modules/ (crates already in ~/.cargo and npm's and pip's caches are
# reused: downloads are not what is measured). BUILD_TIMES_TEST=1 also times `make test` on
# the same clone (CI's command; about 30 minutes more). The clone is deleted afterwards.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/BUILD-TIMES.md}
work=$(mktemp -d)
clone=$work/main
trap 'rm -rf "$work"' EXIT

say() { echo "build-times: $*" >&2; }

git clone --quiet "$root" "$clone"
# make test reads LaunchDarkly's harness from ../shared, as on CI.
[ -e "$root/../shared" ] && ln -s "$(cd "$root/../shared" && pwd)" "$work/shared"
commit=$(git -C "$clone" rev-parse --short HEAD)
rows=()

# Runs a step in the clone, logging to $work/<name>.log, and records its wall time under `label`
# (the command as the README gives it). `expect` is succeed or fail.
timed() {
  local name=$1 label=$2 expect=$3 note=$4; shift 4
  say "$name: $* (log: $work/$name.log)"
  local started=$SECONDS status=0
  (cd "$clone" && "$@") >"$work/$name.log" 2>&1 || status=$?
  local took=$((SECONDS - started))
  if [ "$expect" = succeed ] && [ "$status" != 0 ]; then
    say "$name failed (exit $status); its log:"; tail -n 30 "$work/$name.log" >&2; exit 1
  fi
  if [ "$expect" = fail ] && [ "$status" = 0 ]; then
    say "$name was expected to fail and did not"; exit 1
  fi
  say "$name: $(minutes "$took")"
  # A note of "%said%" is the step's one line for the user (the first `make: ...` line).
  [ "$note" = "%said%" ] && note="says: $(grep -m1 '^make: [^*]' "$work/$name.log" | cut -c1-160 | sed 's/|/\\|/g')"
  rows+=("| \`$label\` | $(minutes "$took") | $note |")
}

minutes() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

# The local path: one command installs DynamoDB Local and builds the five binaries it runs.
local_env=(env LOCAL_STATE_DIR="$work/local" LOCAL_DYNAMODB_PORT=18915 LAUNCHDARKLY_OFREP_PORT=18916)
timed local-start "scripts/local.sh start" succeed "first start: installs DynamoDB Local and moto, builds five binaries (dev profile), syncs and serves OFREP" \
  "${local_env[@]}" scripts/local.sh start
(cd "$clone" && "${local_env[@]}" scripts/local.sh stop) >/dev/null 2>&1

# The demo builds four of the same binaries: after the start above it only runs.
timed demo "make demo" succeed "after the start above (the same dev build): DynamoDB Local, sync, evaluate, change a flag, sync again" \
  make demo

# Packaging for AWS needs no credentials: one release build of the stage's architecture.
timed package "make package" succeed "installs cargo-lambda, zig and osls; one release build (arm64: functions and layer); serverless package" \
  make package

# Deploying without credentials fails before it builds anything.
no_aws=(env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true)
timed deploy-without-credentials "make deploy (no AWS credentials)" fail "%said%" "${no_aws[@]}" make deploy

if [ -n "${BUILD_TIMES_TEST:-}" ]; then
  timed test "make test" succeed "what CI runs, on the same clone (the release builds of both architectures, every test)" \
    env CI=true make test
fi

{
  echo "# Build times"
  echo
  echo "Written by \`make build-times\` (scripts/build-times.sh) on $(date -u +%Y-%m-%d), commit $commit,"
  echo "$(nproc) cores, from a fresh clone, in the README's order (each step after the ones above it)."
  echo
  echo "| command | wall time | what it does |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
say "wrote $out"
cat "$out"
