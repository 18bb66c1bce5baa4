import { Client, Connection } from '@temporalio/client';
import { ServiceUnavailableError } from '../errors';

/** The Temporal frontend every client and worker talks to (`TEMPORAL_ADDRESS`, default the local dev server). */
export function temporalAddress(): string {
  return process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
}

export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE ?? 'default';
}

/** A client on `temporalAddress()`; an unreachable server is a ServiceUnavailableError that says what to do. */
export async function connectClient(): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: temporalAddress(), connectTimeout: '5s' });
  } catch (error) {
    throw new ServiceUnavailableError(
      `Temporal is not reachable at ${temporalAddress()} (${(error as Error).message}); start it with \`ie up\` or set TEMPORAL_ADDRESS`,
    );
  }
  return new Client({ connection, namespace: temporalNamespace() });
}

/** The Web UI page of a workflow. */
export function webUiUrl(workflowId: string, base = process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233'): string {
  return `${base}/namespaces/${temporalNamespace()}/workflows/${encodeURIComponent(workflowId)}`;
}
