// OpenFeature, backed by the launchdarkly-ofrep extension on localhost: the flags come from the
// DynamoDB table the syncer fills, with no LaunchDarkly SDK in this function.
import http from 'node:http';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

/** The OFREP endpoint: OFREP_ENDPOINT (OpenFeature's standard variable), else the extension on
 *  127.0.0.1 at LAUNCHDARKLY_OFREP_PORT (default 8016). */
export function ofrepUrl(env = process.env) {
  return env.OFREP_ENDPOINT ?? `http://127.0.0.1:${env.LAUNCHDARKLY_OFREP_PORT ?? 8016}`;
}

const keepAlive = new http.Agent({ keepAlive: true });
const noBody = new Set([101, 204, 205, 304]);

/**
 * A `fetch` for the provider over `node:http`. Node's built-in fetch starts its HTTP parser in
 * WebAssembly on first use, which costs a cold process about 60 ms and 35 MiB (measured by
 * `make bench`); the extension is on loopback, so plain HTTP/1.1 with keep-alive is all it needs.
 */
export async function loopbackFetch(request) {
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const url = new URL(request.url);
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        agent: keepAlive,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: Object.fromEntries(request.headers),
      },
      (incoming) => {
        const chunks = [];
        incoming.on('data', (chunk) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const status = incoming.statusCode ?? 500;
          const headers = Object.entries(incoming.headers).map(([name, value]) => [name, String(value)]);
          resolve(new Response(noBody.has(status) ? null : Buffer.concat(chunks), { status, headers }));
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** An OpenFeature client on the OFREP provider; set up once per container. */
export async function openFeatureClient(baseUrl = ofrepUrl()) {
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl, fetchImplementation: loopbackFetch }));
  return OpenFeature.getClient();
}

/** Shuts OpenFeature down (a process that ends, not a Lambda handler). */
export function closeOpenFeature() {
  return OpenFeature.close();
}

const byType = {
  boolean: (client, flag, fallback, context) => client.getBooleanDetails(flag, fallback ?? false, context),
  string: (client, flag, fallback, context) => client.getStringDetails(flag, fallback ?? '', context),
  number: (client, flag, fallback, context) => client.getNumberDetails(flag, fallback ?? 0, context),
  object: (client, flag, fallback, context) => client.getObjectDetails(flag, fallback ?? {}, context),
};

/**
 * Evaluates one flag. `context` is an OpenFeature evaluation context: `targetingKey` is the
 * LaunchDarkly context key, `kind` its kind (default `user`), other attributes are attributes.
 * OpenFeature never throws here: on any error the details carry the default value, `reason`
 * `ERROR` and an `errorCode`.
 */
export async function evaluate(client, { flag, type = 'boolean', defaultValue, context = {} }) {
  const resolve = byType[type];
  if (!resolve) {
    throw new Error(`type must be one of ${Object.keys(byType).join(', ')}, not ${type}`);
  }
  return resolve(client, flag, defaultValue, context);
}
