"""LaunchDarkly's Python SDK in daemon mode: flags come from the DynamoDB table the syncer
fills, never from LaunchDarkly. The table layout is the one of LaunchDarkly's own DynamoDB
integrations, so the SDK reads it as it is.

    python evaluate.py <flag> <context-key> [<default>]

Settings from the environment: LAUNCHDARKLY_DYNAMODB_TABLE (required),
LAUNCHDARKLY_DYNAMODB_PREFIX (optional), and boto3's own (AWS_REGION, credentials and, for
DynamoDB Local, AWS_ENDPOINT_URL_DYNAMODB). Prints `python-daemon: <flag> for <key>: <value>
(<reason>)`; exits 1 when the table holds no synced data.
"""

import os
import sys

import ldclient
from ldclient import Context
from ldclient.config import Config
from ldclient.feature_store import CacheConfig
from ldclient.integrations import DynamoDB


def main() -> int:
    flag, key = sys.argv[1], sys.argv[2]
    default = sys.argv[3] if len(sys.argv) > 3 else None
    store = DynamoDB.new_feature_store(
        os.environ["LAUNCHDARKLY_DYNAMODB_TABLE"],
        prefix=os.environ.get("LAUNCHDARKLY_DYNAMODB_PREFIX") or None,
        # Items are cached in memory for 30 s: a long-lived service reads the table at most
        # that often per flag.
        caching=CacheConfig(expiration=30),
    )
    # In daemon mode (use_ldd) the SDK key only labels analytics events, which are off here.
    config = Config(
        os.environ.get("LAUNCHDARKLY_SDK_KEY", "daemon-mode"),
        feature_store=store,
        use_ldd=True,
        send_events=False,
    )
    ldclient.set_config(config)
    client = ldclient.get()
    try:
        if not client.is_initialized():
            print("python-daemon: the table holds no synced data yet (run a sync)", file=sys.stderr)
            return 1
        detail = client.variation_detail(flag, Context.builder(key).build(), default)
        reason = " ".join(filter(None, [detail.reason["kind"], detail.reason.get("errorKind")]))
        print(f"python-daemon: {flag} for {key}: {detail.value} ({reason})")
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
