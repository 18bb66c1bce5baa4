// PostgreSQL stopped for two minutes at three points of one run, with no human action: during the download,
// during the training, and while the run waits between its iterations (its bookkeeping: the control it
// records, the status it sets). One worker process hosts every role throughout; the run completes, the
// worker is the same process, and the database holds what an uninterrupted run of the same config holds.
// The cluster is the test's own (on a free port), never the one the other suites share.
// Takes about 11 minutes on 2 cores: the uninterrupted run (~1.5 min), then the run with its outages (~9.5 min).
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowUpdateStage } from '@temporalio/client';
import { iterationDir } from '../../../activities/iteration-files';
import { closeDb, db } from '../../../lib/db';
import { sleep } from '../../../lib/services/process';
import { resumeUpdate } from '../../../lib/contract';
import { startRun } from '../../../lib/client';
import { sendControl } from '../../../cli/commands/control';
import { startIsolatedPostgres, type IsolatedPostgres } from '../../support/isolated-postgres';
import { temporalClient, uniqueId, useTestEnvironment } from '../harness';
import { expectOneRowPerNaturalKey, naturalKeys } from '../run-rows';
import { waitForProgress } from '../run-watch';
import { running, startWorker, until, withSurvivingWorker } from '../worker-process';
import { recordRecovery, referenceRun, rowsLost } from './recovery';

/** How long each outage lasts (the two minutes; IE_TEST_PG_OUTAGE_S shortens it while developing). */
const OUTAGE_MS = Number(process.env.IE_TEST_PG_OUTAGE_S ?? 120) * 1000;

jest.setTimeout(40 * 60_000);

// A slow web (150 ms an image) keeps the download going long enough to stop the database in it.
const env = useTestEnvironment('pg-outage', { engine: { imageLatencyMs: 150 }, database: false });
let pg: IsolatedPostgres;

beforeAll(async () => {
  pg = await startIsolatedPostgres('ie-pg-outage');
});

afterAll(async () => {
  await closeDb();
  await pg?.remove();
});

/** Points this process's database client at `url` (the workers get theirs when they start). */
async function useDatabase(url: string): Promise<void> {
  await closeDb();
  process.env.DATABASE_URL = url;
}

test('PostgreSQL stopped for 2 minutes in download, in training and between iterations: the run completes by itself, the worker lives on, the database equals an uninterrupted run', async () => {
  const { client, connection } = await temporalClient();
  const config = env.runConfig({
    download: { concurrency: 4 },
    train: { steps: 30, checkpointEvery: 5, batchSize: 32 },
  });

  // The uninterrupted run, in a database of its own. Under the same id: the id seeds the run's draws. Its
  // folder (manifests, checkpoints) goes once it is done, so the run under test starts from nothing too.
  const runId = uniqueId('it-pg-outage');
  const referenceUrl = await pg.createDatabase('reference');
  await useDatabase(referenceUrl);
  const referenceMs = await referenceRun(client, runId, config, referenceUrl);
  const expected = await naturalKeys(runId);
  fs.rmSync(path.dirname(iterationDir(runId, 0)), { recursive: true, force: true });

  const url = await pg.createDatabase('outage');
  await useDatabase(url);
  const worker = startWorker('outage', url);
  /** The stages of iteration 0 that had finished. */
  const finished = async () =>
    (await db().stageTiming.findMany({ where: { runId, iteration: 0 } })).map((t) => t.stage).sort();
  const outage = async () => {
    await pg.stop();
    await sleep(OUTAGE_MS);
    expect(running(worker)).toBe(true);
    await pg.start();
  };
  let faultedMs = 0;
  // The same worker process lives through every outage.
  await withSurvivingWorker(worker, async () => {
    const runStarted = performance.now();
    const handle = await startRun(client, runId, config);

    // 1. During the download of iteration 0, once a few images are stored.
    await until('downloads to start', async () =>
      (await db().fetch.count({ where: { runId } })) >= 5 ? true : undefined,
    );
    expect(await finished()).toEqual(['sample', 'search']);
    await outage();
    // The run is to wait before iteration 1 (where the third outage happens).
    expect(await sendControl(client, runId, 'pause')).toMatchObject({ accepted: true });

    // 2. During the training of iteration 0, once it has saved a checkpoint.
    await until('a checkpoint of iteration 0', async () =>
      (await db().checkpoint.count({ where: { runId, iteration: 0 } })) > 0 ? true : undefined,
    );
    expect(await finished()).toEqual(['download', 'sample', 'search']);
    await outage();

    // 3. While the run waits between iterations: the resume arrives while the database is away, so the run
    // records the control and sets its status against a stopped server.
    await waitForProgress(handle, (p) => p.status === 'paused');
    await until('the run to record its pause', async () =>
      (await db().run.findUnique({ where: { id: runId } }))?.status === 'paused' ? true : undefined,
    );
    await pg.stop();
    const resume = await handle.startUpdate(resumeUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
    await sleep(OUTAGE_MS);
    expect(running(worker)).toBe(true);
    await pg.start();

    const result = await handle.result();
    faultedMs = performance.now() - runStarted;
    expect(await resume.result()).toMatchObject({ accepted: true });
    expect(result.status).toBe('completed');
    expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);
  });
  // Each outage was waited out where it struck: the download and the training carried on in their first
  // attempt (the trainer kept training), the run's bookkeeping waited for the server too.
  const waited = fs
    .readFileSync(worker.log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('the activity waits for it'))
    .map((l) => (JSON.parse(l) as { activity: string }).activity);
  expect(waited).toEqual(
    expect.arrayContaining(['downloadCandidates', 'trainEncoder', 'recordControl', 'setRunStatus']),
  );
  const attempts = await db().stageTiming.findMany({
    where: { runId, iteration: 0, stage: { in: ['download', 'train'] } },
  });
  expect(attempts.map((t) => t.attempt)).toEqual([1, 1]);

  await expectOneRowPerNaturalKey(runId);
  const actual = await naturalKeys(runId);
  recordRecovery({
    fault: 'PostgreSQL stopped 3 × 2 min (download, training, between iterations)',
    survived: true,
    rowsLost: rowsLost(expected, actual),
    referenceMs,
    faultedMs,
    outageMs: 3 * OUTAGE_MS,
  });
  for (const table of Object.keys(expected)) expect([table, actual[table]]).toEqual([table, expected[table]]);
  const controls = await db().runControl.findMany({ where: { runId }, orderBy: { id: 'asc' } });
  expect(controls.map((c) => [c.kind, c.accepted])).toEqual([
    ['pause', true],
    ['resume', true],
  ]);
  await connection.close();
});
