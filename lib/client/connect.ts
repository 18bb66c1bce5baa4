import { Client, Connection } from '@temporalio/client';
import { loadClientConfigProfile, toClientOptions, type ClientConnectConfig } from '@temporalio/envconfig';
import { ServiceUnavailableError, UsageError } from '../errors';

/** Where every client and worker connects, and how: address, namespace, TLS or mTLS, API key, gRPC metadata. */
export interface TemporalTarget {
  address: string;
  namespace: string;
  connectionOptions: ClientConnectConfig['connectionOptions'] & { address: string };
}

/**
 * The Temporal cluster every client and worker talks to, read as the Temporal CLI reads it: environment
 * variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
 * TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, …) over the profile
 * TEMPORAL_PROFILE of the CLI's config file (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml);
 * without either, the local dev server. An API key turns TLS on (Temporal Cloud). A bad setting is a
 * UsageError that names it.
 */
export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  let profile: ReturnType<typeof loadClientConfigProfile>;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: env as Record<string, string> });
  } catch (error) {
    throw new UsageError(`the Temporal connection settings cannot be read: ${(error as Error).message}`);
  }
  const tls = profile.tls;
  if (tls && !tls.disabled && Boolean(tls.clientCert) !== Boolean(tls.clientKey))
    throw new UsageError(
      `mTLS needs both a client certificate and its key, and only the ${tls.clientCert ? 'certificate' : 'key'} is ` +
        'set: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH together (or neither)',
    );
  let options: ClientConnectConfig;
  try {
    options = toClientOptions(profile);
  } catch (error) {
    throw new UsageError(
      `a TLS file of the Temporal connection cannot be read: ${(error as Error).message}; check the TEMPORAL_TLS_*_PATH settings`,
    );
  }
  const address = options.connectionOptions.address ?? '127.0.0.1:7233';
  return {
    address,
    namespace: options.namespace ?? 'default',
    connectionOptions: { ...options.connectionOptions, address },
  };
}

/** The Temporal frontend every client and worker talks to (`TEMPORAL_ADDRESS`, default the local dev server). */
export function temporalAddress(): string {
  return temporalTarget().address;
}

export function temporalNamespace(): string {
  return temporalTarget().namespace;
}

/** A client of `temporalTarget()`; an unreachable server is a ServiceUnavailableError that says what to do. */
export async function connectClient(): Promise<Client> {
  const target = temporalTarget();
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...target.connectionOptions, connectTimeout: '5s' });
  } catch (error) {
    throw new ServiceUnavailableError(
      `Temporal is not reachable at ${target.address} (${(error as Error).message}); start it with \`ie up\`, or ` +
        'check TEMPORAL_ADDRESS and, for a cluster, its TLS or API key settings (docs/operations.md, "A Temporal cluster")',
    );
  }
  return new Client({ connection, namespace: target.namespace });
}

/** The Web UI page of a workflow. */
export function webUiUrl(workflowId: string, base = process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233'): string {
  return `${base}/namespaces/${temporalNamespace()}/workflows/${encodeURIComponent(workflowId)}`;
}
