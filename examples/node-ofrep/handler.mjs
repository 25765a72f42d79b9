// Lambda handler (HTTP API): GET /node/flags/{key}?type=boolean&targetingKey=alice&kind=user
// answers the OpenFeature evaluation details as JSON.
import { evaluate, openFeatureClient } from './flags.mjs';

// Outside the handler: once per container, after the extension is ready.
const client = openFeatureClient();

export const handler = async (event) => {
  const query = event.queryStringParameters ?? {};
  const flag = event.pathParameters?.key;
  if (!flag) {
    return { statusCode: 404, body: JSON.stringify({ error: 'use GET /node/flags/{key}' }) };
  }
  const { type = 'boolean', targetingKey, kind, ...attributes } = query;
  const context = { ...attributes, ...(targetingKey ? { targetingKey } : {}), ...(kind ? { kind } : {}) };
  try {
    const details = await evaluate(await client, { flag, type, context });
    // An unavailable flag store is an error, not a default: say so.
    const statusCode = details.errorCode === 'GENERAL' ? 503 : 200;
    return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(details) };
  } catch (error) {
    return { statusCode: 400, body: JSON.stringify({ error: String(error.message ?? error) }) };
  }
};
