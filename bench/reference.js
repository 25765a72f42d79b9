// The reference side of `make bench`: LaunchDarkly's official Node.js server SDK and its
// DynamoDB store (launchdarkly-node-server-sdk-dynamodb), pinned in bench/package.json, run on
// the same DynamoDB Local and the same data as this project. Prints one JSON line per command.
//
//   node reference.js init <table> <data.json>          official store init: time, requests
//   node reference.js eval <table> <flag> <context-key> daemon-mode client, first evaluation
//   node reference.js warm <table> <flag> <context-key> <n>  evaluations per second, cache on
'use strict';

const fs = require('fs');
const AWS = require('aws-sdk');
const LaunchDarkly = require('launchdarkly-node-server-sdk');
const { DynamoDBFeatureStore } = require('launchdarkly-node-server-sdk-dynamodb');

const requests = {};
let itemWrites = 0;
AWS.events.on('send', resp => {
  const op = resp.request.operation;
  requests[op] = (requests[op] || 0) + 1;
  if (op === 'batchWriteItem') {
    Object.values(resp.request.params.RequestItems).forEach(items => { itemWrites += items.length; });
  } else if (op === 'putItem' || op === 'deleteItem') {
    itemWrites += 1;
  }
});

function dynamoOptions() {
  return {
    clientOptions: {
      endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      region: process.env.AWS_REGION || 'us-east-1',
    },
  };
}

const silent = LaunchDarkly.basicLogger({ level: 'none' });

async function init(table, dataFile) {
  const data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
  const store = DynamoDBFeatureStore(table, { ...dynamoOptions(), cacheTTL: 0 })({ logger: silent });
  const started = process.hrtime.bigint();
  await new Promise(resolve => store.init({ features: data.flags, segments: data.segments }, resolve));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const writes = (requests.batchWriteItem || 0) + (requests.putItem || 0) + (requests.deleteItem || 0);
  console.log(JSON.stringify({ ms, requests, writeRequests: writes, itemWrites }));
  store.close && store.close();
}

async function client(table) {
  const ld = LaunchDarkly.init('sdk-bench-key', {
    featureStore: DynamoDBFeatureStore(table, { ...dynamoOptions(), cacheTTL: 15 }),
    useLdd: true,
    sendEvents: false,
    diagnosticOptOut: true,
    logger: silent,
  });
  await ld.waitForInitialization();
  return ld;
}

async function evaluate(table, flag, contextKey) {
  const ld = await client(table);
  const value = await ld.variation(flag, { kind: 'user', key: contextKey }, null);
  console.log(JSON.stringify({ flag, value }));
  ld.close();
}

async function warm(table, flag, contextKey, n) {
  const ld = await client(table);
  const context = { kind: 'user', key: contextKey };
  await ld.variation(flag, context, null);
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await ld.variation(flag, context, null);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ evaluations: n, perSecond: n / seconds }));
  ld.close();
}

const [command, ...args] = process.argv.slice(2);
const commands = { init, eval: evaluate, warm: (t, f, k, n) => warm(t, f, k, Number(n)) };
if (!commands[command]) {
  console.error('usage: node reference.js init|eval|warm ...');
  process.exit(2);
}
commands[command](...args).catch(err => {
  console.error(`reference ${command} failed: ${err}`);
  process.exit(1);
});
