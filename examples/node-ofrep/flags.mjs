// OpenFeature, backed by the launchdarkly-ofrep extension on localhost: the flags come from the
// DynamoDB table the syncer fills, with no LaunchDarkly SDK in this function.
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

/** The extension's OFREP endpoint (LAUNCHDARKLY_OFREP_PORT, default 8016). */
export function ofrepUrl(env = process.env) {
  return env.OFREP_URL ?? `http://127.0.0.1:${env.LAUNCHDARKLY_OFREP_PORT ?? 8016}`;
}

/** An OpenFeature client on the OFREP provider; set up once per container. */
export async function openFeatureClient(baseUrl = ofrepUrl()) {
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl }));
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
