// LaunchDarkly's Node.js server SDK in daemon mode: flags come from the DynamoDB table the
// syncer fills, never from LaunchDarkly. The table layout is the one of LaunchDarkly's own
// DynamoDB stores, so their store reads it as it is.
//
//   node evaluate.js <flag> <context-key> [<default JSON>]
//
// Settings from the environment: LAUNCHDARKLY_DYNAMODB_TABLE (required),
// LAUNCHDARKLY_DYNAMODB_PREFIX (optional), AWS_REGION, the AWS credentials and, for DynamoDB
// Local, AWS_ENDPOINT_URL_DYNAMODB (passed on: this AWS SDK does not read it itself).
// Prints `node-daemon: <flag> for <key>: <value JSON> (<reason>)`; exits 1 when the table holds
// no synced data.
'use strict';

// aws-sdk v2 (what this store version uses) prints an end-of-support notice on load.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
const LaunchDarkly = require('launchdarkly-node-server-sdk');
const { DynamoDBFeatureStore } = require('launchdarkly-node-server-sdk-dynamodb');

async function main() {
  const [flag, key, defaultJson] = process.argv.slice(2);
  const fallback = defaultJson === undefined ? null : JSON.parse(defaultJson);
  const store = DynamoDBFeatureStore(process.env.LAUNCHDARKLY_DYNAMODB_TABLE, {
    prefix: process.env.LAUNCHDARKLY_DYNAMODB_PREFIX || undefined,
    // Items are cached in memory for 30 s: a long-lived service reads the table at most that
    // often per flag.
    cacheTTL: 30,
    clientOptions: {
      region: process.env.AWS_REGION || 'us-east-1',
      endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
    },
  });
  // In daemon mode (useLdd) the SDK key only labels analytics events, which are off here.
  const client = LaunchDarkly.init(process.env.LAUNCHDARKLY_SDK_KEY || 'daemon-mode', {
    featureStore: store,
    useLdd: true,
    sendEvents: false,
    diagnosticOptOut: true,
    logger: LaunchDarkly.basicLogger({ level: 'warn' }),
  });
  try {
    await client.waitForInitialization();
    if (!(await client.initialized())) {
      console.error('node-daemon: the table holds no synced data yet (run a sync)');
      return 1;
    }
    const detail = await client.variationDetail(flag, { kind: 'user', key }, fallback);
    console.log(`node-daemon: ${flag} for ${key}: ${JSON.stringify(detail.value)} (${[detail.reason.kind, detail.reason.errorKind].filter(Boolean).join(' ')})`);
    return 0;
  } finally {
    client.close();
  }
}

main().then(code => process.exit(code), err => {
  console.error(`node-daemon: ${err.message || err}`);
  process.exit(1);
});
