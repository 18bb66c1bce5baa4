// The Temporal server stopped while a run trains and started again: the worker process reconnects by itself,
// the run completes with no human action, and its database equals an uninterrupted run's by natural key.
// The server is the test's own dev server with SQLite persistence (as a single-host deployment runs it),
// on a free port; the suites' shared in-memory server only runs the uninterrupted reference run.
// Takes about 3 minutes on 2 cores.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { iterationDir } from '../../../activities/iteration-files';
import { closeDb, db } from '../../../lib/db';
import { sleep } from '../../../lib/services/process';
import { ensureTemporalDevServer, stopTemporalDevServer } from '../../../lib/services/temporal';
import { startRun } from '../../../lib/client';
import type { Progress } from '../../../lib/contract';
import { freePort } from '../../support/isolated-postgres';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment } from '../harness';
import { expectOneRowPerNaturalKey, naturalKeys } from '../run-rows';
import { running, startWorker, until, withSurvivingWorker } from '../worker-process';
import { recordRecovery, referenceRun, rowsLost } from './recovery';

/** How long the server stays down: long enough for every poll and heartbeat of the worker to fail. */
const OUTAGE_MS = 15_000;

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('temporal-restart', { engine: {}, database: false });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-temporal-restart-'));
let server: { port: number; name: string; dbFile: string };

const startServer = () =>
  ensureTemporalDevServer({ port: server.port, uiPort: 0, name: server.name, dbFile: server.dbFile });

beforeAll(async () => {
  const port = await freePort();
  server = { port, name: `temporal-restart-${port}`, dbFile: path.join(dir, 'temporal.db') };
  await startServer();
});

afterAll(async () => {
  await stopTemporalDevServer(server.name);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('Temporal stopped mid-training and started again: the worker reconnects, the run completes, the database equals an uninterrupted run', async () => {
  // One iteration: the outage falls in its training.
  const config = env.runConfig({ iterations: 1, train: { steps: 30, checkpointEvery: 5, batchSize: 32 } });
  const runId = uniqueId('it-temporal-restart');

  // The uninterrupted run, under the same id (the id seeds the run's draws), in a database of its own.
  const shared = await temporalClient();
  const referenceUrl = await createTestDatabase('temporal_restart_reference');
  let referenceMs: number;
  try {
    referenceMs = await referenceRun(shared.client, runId, config, referenceUrl);
  } finally {
    await shared.connection.close();
  }
  const expected = await naturalKeys(runId);
  fs.rmSync(path.dirname(iterationDir(runId, 0)), { recursive: true, force: true });

  const url = await createTestDatabase('temporal_restart');
  const address = `127.0.0.1:${server.port}`;
  const worker = startWorker('temporal-restart', url, address);
  let faultedMs = 0;
  // The same worker process lives through the restart: nobody starts another.
  await withSurvivingWorker(worker, async () => {
    const runStarted = performance.now();
    const first = await Connection.connect({ address });
    await startRun(new Client({ connection: first }), runId, config);
    await until('a checkpoint of iteration 0', async () =>
      (await db().checkpoint.count({ where: { runId, iteration: 0 } })) > 0 ? true : undefined,
    );
    await stopTemporalDevServer(server.name);
    await first.close();
    await sleep(OUTAGE_MS);
    expect(running(worker)).toBe(true);
    await startServer();

    // A client connected after the restart finds the run where the persisted server left it.
    const connection = await Connection.connect({ address });
    try {
      const result = (await new Client({ connection }).workflow.getHandle(runId).result()) as Progress;
      faultedMs = performance.now() - runStarted;
      expect(result.status).toBe('completed');
      expect(result.history.map((h) => h.iteration)).toEqual([0]);
    } finally {
      await connection.close();
    }
  });
  expect(await db().iterationFailure.count({ where: { runId } })).toBe(0);
  await expectOneRowPerNaturalKey(runId, 1);
  const actual = await naturalKeys(runId);
  recordRecovery({
    fault: 'Temporal server stopped mid-training and restarted',
    survived: true,
    rowsLost: rowsLost(expected, actual),
    referenceMs,
    faultedMs,
    outageMs: OUTAGE_MS,
  });
  for (const table of Object.keys(expected)) expect([table, actual[table]]).toEqual([table, expected[table]]);
  await closeDb();
});
