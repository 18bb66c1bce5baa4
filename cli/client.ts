import { Client, Connection } from '@temporalio/client';
import { temporalAddress, temporalNamespace } from '../workers/create';
import { ServiceUnavailableError } from './exit';

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

export function webUiUrl(workflowId: string, base = process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233'): string {
  return `${base}/namespaces/${temporalNamespace()}/workflows/${encodeURIComponent(workflowId)}`;
}
