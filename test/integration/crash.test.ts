import fs from 'node:fs';
import { db } from '../../lib/db';
import type { Progress } from '../../lib/contract';
import { encodeKey } from '../../engine/server';
import { temporalClient, uniqueId, useTestEnvironment } from './harness';
import { liveProcessesMatching } from '../processes';
import { startRun } from '../../lib/client';
import { expectOneRowPerNaturalKey } from './run-rows';
import { killHard, startWorker as startWorkerProcess, until } from './worker-process';

jest.setTimeout(20 * 60_000);

const CONCURRENCY = 4;
const CHECKPOINT_EVERY = 5;

// A slow web: each image takes 150 ms, so the download stage lasts long enough to be killed in.
const env = useTestEnvironment('crash', { engine: { imageLatencyMs: 150 } });
const startWorker = (name: string) => startWorkerProcess(name, env.databaseUrl);

test('SIGKILL of the worker during download and again during training: the run completes, nothing is duplicated or fetched twice, training resumes', async () => {
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-crash');
  // One iteration: both kills land in it.
  const config = env.runConfig({
    iterations: 1,
    download: { concurrency: CONCURRENCY },
    train: { steps: 30, checkpointEvery: CHECKPOINT_EVERY, batchSize: 32 },
  });
  const handle = await startRun(client, runId, config);

  // 1. Kill during download, once some images are stored.
  const first = startWorker('first');
  await until('downloads to start', async () =>
    (await db().fetch.count({ where: { runId } })) >= 5 ? true : undefined,
  );
  await killHard(first.proc);
  const fetchedBeforeKill = new Set(
    (await db().fetch.findMany({ where: { runId }, select: { url: true } })).map((f) => f.url),
  );
  const stageAtKill = await db().iteration.findUniqueOrThrow({ where: { runId_index: { runId, index: 0 } } });
  expect(stageAtKill.trainSteps).toBeNull(); // it really was killed before training

  // 2. Kill during training, after at least two checkpoints.
  const second = startWorker('second');
  const stepAtKill = await until('two checkpoints of iteration 0', async () => {
    const last = await db().checkpoint.findFirst({ where: { runId, iteration: 0 }, orderBy: { step: 'desc' } });
    return last && last.step >= 2 * CHECKPOINT_EVERY ? last.step : undefined;
  });
  await killHard(second.proc);
  // The trainer dies with its worker instead of writing on as an orphan.
  await until(
    'the orphaned trainer to exit',
    async () => (liveProcessesMatching(runId).length === 0 ? true : undefined),
    20_000,
  );

  // 3. A fresh worker finishes the run.
  const third = startWorker('third');
  let result: Progress;
  try {
    result = await handle.result();
  } finally {
    third.proc.kill('SIGTERM');
  }
  expect(result.status).toBe('completed');
  expect(result.history.map((h) => h.iteration)).toEqual([0]);

  // Training resumed from its last checkpoint: the step counter continued.
  const resumed = fs
    .readFileSync(third.log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('training resumed from checkpoint'))
    .map((l) => JSON.parse(l) as { iteration: number; step: number });
  expect(resumed.find((r) => r.iteration === 0)?.step).toBeGreaterThanOrEqual(stepAtKill);
  const iteration0 = await db().iteration.findUniqueOrThrow({ where: { runId_index: { runId, index: 0 } } });
  expect(iteration0.trainSteps).toBe(30);
  const steps = (await db().checkpoint.findMany({ where: { runId, iteration: 0 }, orderBy: { step: 'asc' } })).map(
    (c) => c.step,
  );
  expect(steps[steps.length - 1]).toBe(30);
  expect(steps.every((s) => s % CHECKPOINT_EVERY === 0)).toBe(true);

  // No image fetched twice: everything recorded before the kill was served exactly once; only requests
  // in flight at the moment of the kill (at most the concurrency) could be repeated.
  const urlOf = (key: string) => `${env.engine.url}/images/${encodeKey(key)}.jpg`;
  const served = Object.entries(env.engine.stats().imageRequests).map(([key, n]) => ({ url: urlOf(key), n }));
  for (const { url, n } of served) if (fetchedBeforeKill.has(url)) expect(n).toBe(1);
  const repeated = served.filter((s) => s.n > 1);
  expect(repeated.length).toBeLessThanOrEqual(CONCURRENCY);
  expect(repeated.every((s) => !fetchedBeforeKill.has(s.url) && s.n === 2)).toBe(true);

  // No duplicate rows: one outcome per URL, one row per natural key, counts match what was searched.
  await expectOneRowPerNaturalKey(runId, 1);

  await connection.close();
});
