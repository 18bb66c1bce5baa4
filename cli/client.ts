import { Client, Connection } from '@temporalio/client';
import { temporalAddress, temporalNamespace } from '../workers/create';

export async function connectClient(): Promise<Client> {
  const connection = await Connection.connect({ address: temporalAddress() });
  return new Client({ connection, namespace: temporalNamespace() });
}

export function webUiUrl(workflowId: string, base = process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233'): string {
  return `${base}/namespaces/${temporalNamespace()}/workflows/${encodeURIComponent(workflowId)}`;
}
