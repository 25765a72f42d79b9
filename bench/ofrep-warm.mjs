// The OFREP side of `make bench`: a Node.js process using the example function's OpenFeature
// code (examples/node-ofrep/flags.mjs) evaluates one flag n times through the running
// launchdarkly-ofrep extension, sequentially as a function would. Prints {"perSecond": ...}.
//
//   OFREP_ENDPOINT=http://127.0.0.1:8016 node bench/ofrep-warm.mjs <flag> <context-key> <n>
import { closeOpenFeature, evaluate, openFeatureClient } from '../examples/node-ofrep/flags.mjs';

const [flag, key, n] = process.argv.slice(2);
const client = await openFeatureClient();
const request = { flag, type: 'boolean', defaultValue: false, context: { targetingKey: key } };
for (let i = 0; i < 200; i += 1) {
  await evaluate(client, request);
}
const first = await evaluate(client, request);
if (first.value !== true || first.errorCode) {
  throw new Error(`unexpected evaluation: ${JSON.stringify(first)}`);
}
const count = Number(n);
const started = process.hrtime.bigint();
for (let i = 0; i < count; i += 1) {
  await evaluate(client, request);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ perSecond: count / seconds })}\n`);
await closeOpenFeature();
