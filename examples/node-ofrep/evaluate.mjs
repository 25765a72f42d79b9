// node evaluate.mjs '<JSON array of {flag, type, defaultValue, context}>'
// Prints one line of JSON: the OpenFeature evaluation details of each, in order. Used by the
// tests and `make bench` (a process that starts, evaluates through OFREP, and ends).
import { closeOpenFeature, evaluate, openFeatureClient } from './flags.mjs';

const requests = JSON.parse(process.argv[2] ?? '[]');
const client = await openFeatureClient();
const results = [];
for (const request of requests) {
  results.push(await evaluate(client, request));
}
process.stdout.write(`${JSON.stringify(results)}\n`);
await closeOpenFeature();
