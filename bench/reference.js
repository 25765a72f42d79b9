// The reference side of `make bench`: LaunchDarkly's official Node.js server SDK and its
// DynamoDB store (launchdarkly-node-server-sdk-dynamodb), pinned in bench/package.json, run on
// the same DynamoDB Local and the same data as this project. Prints one JSON line per command.
//
//   node reference.js init <table> <data.json>          official store init: time, requests
//   node reference.js eval <table> <flag> <context-key> daemon-mode client, first evaluation
//   node reference.js warm <table> <flag> <context-key> <n>  evaluations per second, cache on
//   node reference.js fresh <table> <flag> <context-key>     prints {"ready"} once warm, then the
//                                                           ms until the flag's value changes
//   node reference.js sample <table> <flag> <context-key> <seconds> <interval-ms>
//                                                           prints {"ready"}, waits for a line on
//                                                           stdin, then evaluates every interval:
//                                                           latencies and answers without a value
// (the client as an application would run it: the store's default cache TTL of 15 s)
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

async function client(table, cacheTTL = 15) {
  const ld = LaunchDarkly.init('sdk-bench-key', {
    featureStore: DynamoDBFeatureStore(table, { ...dynamoOptions(), cacheTTL }),
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

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function fresh(table, flag, contextKey) {
  const ld = await client(table);
  const context = { kind: 'user', key: contextKey };
  const first = await ld.variation(flag, context, null);
  console.log(JSON.stringify({ ready: true, value: first }));
  const started = process.hrtime.bigint();
  for (;;) {
    const value = await ld.variation(flag, context, null);
    if (value !== first) break;
    await sleep(20);
  }
  console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - started) / 1e6 }));
  ld.close();
}

async function sample(table, flag, contextKey, seconds, intervalMs) {
  const ld = await client(table);
  const context = { kind: 'user', key: contextKey };
  await ld.variation(flag, context, null);
  console.log(JSON.stringify({ ready: true }));
  await new Promise(resolve => process.stdin.once('data', resolve));
  const latencies = [];
  let missing = 0;
  const until = Date.now() + Number(seconds) * 1000;
  while (Date.now() < until) {
    const started = process.hrtime.bigint();
    // A caller gives up after 5 s (the Python OFREP provider's default timeout): counted as an
    // answer without a value, at 5,000 ms.
    const value = await Promise.race([ld.variation(flag, context, null), sleep(5000).then(() => null)]);
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (value === null) missing += 1;
    await sleep(Number(intervalMs));
  }
  console.log(JSON.stringify({ latencies, missing, requests }));
  ld.close();
  process.exit(0);
}

const [command, ...args] = process.argv.slice(2);
const commands = { init, eval: evaluate, warm: (t, f, k, n) => warm(t, f, k, Number(n)), fresh, sample };
if (!commands[command]) {
  console.error('usage: node reference.js init|eval|warm|fresh|sample ...');
  process.exit(2);
}
commands[command](...args).catch(err => {
  console.error(`reference ${command} failed: ${err}`);
  process.exit(1);
});
