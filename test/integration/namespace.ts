// A Temporal namespace of a suite's own, for suites whose state would leak into others on the shared test
// server: pollers seen in the last minutes (which hide a missing worker), worker deployments (which route a
// task queue's tasks to one deployment's version). Created in beforeAll, its search attributes registered;
// TEMPORAL_NAMESPACE names it for this process and the worker processes it starts.
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { ensureRunSearchAttributes, temporalCli } from '../../lib/services/temporal';
import { uniqueId } from './harness';
import { TEST_TEMPORAL_ADDRESS } from './services';
import { until } from './worker-process';

export interface OwnNamespace {
  readonly name: string;
  readonly client: Client;
  readonly connection: Connection;
}

export function useOwnNamespace(prefix: string): OwnNamespace {
  const name = uniqueId(prefix);
  let connection: Connection | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    connection = await Connection.connect({ address: TEST_TEMPORAL_ADDRESS });
    execFileSync(temporalCli(), ['operator', 'namespace', 'create', '--namespace', name], {
      env: { ...process.env, TEMPORAL_ADDRESS: TEST_TEMPORAL_ADDRESS },
      stdio: 'pipe',
    });
    // A new namespace reaches the server's cache within seconds.
    const ready = connection;
    await until('the namespace to be usable', async () => {
      try {
        await ready.workflowService.describeNamespace({ namespace: name });
        return (await ensureRunSearchAttributes(TEST_TEMPORAL_ADDRESS, name)) && true;
      } catch {
        return undefined;
      }
    });
    client = new Client({ connection, namespace: name });
    process.env.TEMPORAL_NAMESPACE = name;
  });
  afterAll(async () => {
    delete process.env.TEMPORAL_NAMESPACE;
    await connection?.close();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error(`namespace ${name} is not set up yet`);
    return value;
  };
  return {
    name,
    get client() {
      return ready(client);
    },
    get connection() {
      return ready(connection);
    },
  };
}
