// SIGKILL of the worker process in each of the seven stages of an iteration, and of the trainer process
// alone. Each case runs the same one-iteration run (same run id, same seed, its own database) as an
// uninterrupted run made once before them, kills at the chosen moment, starts a new worker and lets the run
// finish by itself; then the database must hold the uninterrupted run's rows, by natural key, and the same
// rewards, distribution and metrics within FIGURE_TOLERANCE.
//
// A killed activity is noticed when its heartbeat lapses (30 s; score and evaluate 1 min, as
// workflows/iteration.ts sets them), so each worker case waits that long; the trainer case does not (the
// activity fails as its trainer dies and is retried at once). On a 2-core machine the file takes 10.5 minutes
// (15 when other suites load it): the uninterrupted run with the database template ~1.5 min, each case 1–1.5 min.
import fs from 'node:fs';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { closeDb, db } from '../../../lib/db';
import { sampleQueries } from '../../../activities/stages/sample';
import { stateDir } from '../../../lib/paths';
import { progressQuery } from '../../../lib/contract';
import { startRun } from '../../../lib/client';
import { startEngine, type RunningEngine } from '../../../engine/server';
import type { RunConfigInput } from '../../../lib/config';
import { sleep } from '../../../lib/services/process';
import { createTestDatabase, smallPetsTarget, smallRunConfig, temporalClient, uniqueId } from '../harness';
import { killHard, stopWorker, until } from '../worker-process';
import { naturalKeys } from '../run-rows';
import { liveProcessesMatching } from '../../processes';
import { startFakeChatCompletions, type FakeChatCompletions } from '../../support/fake-chat-completions';
import {
  activityAttempts,
  figuresApart,
  largestDifference,
  runFigures,
  stageStarted,
  startWatchedWorker,
  type WatchedWorker,
} from './kill';
import { recordRecovery, rowsLost, timed } from './recovery';

jest.setTimeout(20 * 60_000);

const CHECKPOINT_EVERY = 4;
const STEPS = 8;
/**
 * Rewards, standardised rewards, GP predictions and probabilities, metrics and losses of a killed run against
 * the uninterrupted one, absolute. On CPU with the same seed they are equal: batches and augmentations depend
 * only on (seed, step) and a resumed trainer restores its RNG state (trainer/tests/test_train.py), ONNX Runtime
 * and the GP are deterministic on the same machine. The tolerance leaves room for summation order only.
 */
const FIGURE_TOLERANCE = 1e-5;

// One run id for every run: the concepts drawn, the replay and evidence keys are seeded by it.
const RUN_ID = uniqueId('it-kill');

let engine: RunningEngine;
let llm: FakeChatCompletions;
let client: Client;
let connection: Connection;
let baseline: { keys: Record<string, string[]>; iteration: unknown[]; figures: Map<string, number>; ms: number };

function runConfig(): RunConfigInput {
  return smallRunConfig(smallPetsTarget(), engine.url, {
    iterations: 1,
    queriesPerIteration: 12,
    descriptors: 'llm',
    llm: { baseUrl: llm.baseUrl, model: 'fake-descriptors' },
    download: { concurrency: 2 },
    train: { steps: STEPS, checkpointEvery: CHECKPOINT_EVERY, batchSize: 32 },
  });
}

/** The run's folder (checkpoints, encoders, handed-over files): each run starts without one. */
function removeRunFolder(): void {
  fs.rmSync(path.join(stateDir(), 'runs', RUN_ID), { recursive: true, force: true });
}

/** What the iteration row says besides its timing: counts and where training ended. */
async function iterationRows(): Promise<unknown[]> {
  const rows = await db().iteration.findMany({ where: { runId: RUN_ID }, orderBy: { index: 'asc' } });
  return rows.map((r) => ({
    index: r.index,
    status: r.status,
    queries: r.queries,
    results: r.results,
    downloaded: r.downloaded,
    failed: r.failed,
    kept: r.kept,
    trainSteps: r.trainSteps,
    checkpoint: r.checkpoint && path.basename(r.checkpoint),
  }));
}

beforeAll(async () => {
  // A slow web and a slow descriptor endpoint, so the sample, search and download stages last long enough
  // to be killed in.
  engine = await startEngine({ port: 0, imageLatencyMs: 200, faults: { searchLatencyMs: 1000 } });
  llm = await startFakeChatCompletions(() => ({ content: '["close up", "in daylight"]' }), { delayMs: 600 });
  ({ client, connection } = await temporalClient());

  // Every run gets a database of its own.
  const databaseUrl = await createTestDatabase('kill_baseline');
  removeRunFolder();
  const worker = startWatchedWorker('baseline', databaseUrl);
  let ms: number;
  try {
    const run = await timed(async () => (await startRun(client, RUN_ID, runConfig())).result());
    expect(run.value.status).toBe('completed');
    ms = run.ms;
  } finally {
    await stopWorker(worker);
  }
  baseline = {
    keys: await naturalKeys(RUN_ID),
    iteration: await iterationRows(),
    figures: await runFigures(RUN_ID),
    ms,
  };
  // Every stage ran once, and the run has something to compare.
  const timings = await db().stageTiming.findMany({ where: { runId: RUN_ID } });
  expect(timings.map((t) => [t.stage, t.attempt]).sort()).toEqual(
    ['download', 'evaluate', 'sample', 'score', 'search', 'train', 'update'].map((s) => [s, 1]),
  );
  expect(baseline.keys.imageReward.length).toBeGreaterThan(10);
  removeRunFolder();
}, 10 * 60_000);

afterAll(async () => {
  removeRunFolder();
  await connection?.close();
  await engine?.close();
  await llm?.close();
  await closeDb();
});

interface KillCase {
  /** The stage the kill lands in. */
  stage: string;
  activity: string;
  /** What is killed: the whole worker process, or the trainer it started. */
  victim: 'worker' | 'trainer';
  /** Resolves at the moment to kill, the stage's activity being under way on `worker`. */
  moment: (worker: WatchedWorker) => Promise<unknown>;
}

const started = (stage: string) => (worker: WatchedWorker) =>
  worker.waitForLine(`the ${stage} stage to start`, stageStarted(stage, 0));

/** Once the trainer has written its first checkpoint (so a retry resumes from it). */
const afterFirstCheckpoint = async (worker: WatchedWorker) => {
  await started('train')(worker);
  await until('the first checkpoint', async () =>
    (await db().checkpoint.count({ where: { runId: RUN_ID, iteration: 0 } })) > 0 ? true : undefined,
  );
};

/** Live processes of this run's folder: the trainer, the GP, the linear probe. */
const pythonChildren = (module?: string) =>
  liveProcessesMatching(path.join('runs', RUN_ID)).filter(
    (pid) => !module || fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(module),
  );

/** Once the stage has started `module` (its Python child), so the kill lands while that runs. */
const whilePythonRuns = (stage: string, module: string) => async (worker: WatchedWorker) => {
  await started(stage)(worker);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if (pythonChildren(module).length > 0) return;
    } catch {
      // it exited while we looked
    }
    await sleep(10);
  }
  throw new Error(`${module} never ran in the ${stage} stage`);
};

const CASES: [string, KillCase][] = [
  // Each concept's descriptors take the endpoint 0.6 s: the kill lands with requests in flight.
  ['sample', { stage: 'sample', activity: 'sampleQueries', victim: 'worker', moment: started('sample') }],
  // Each search waits 1 s for the engine: the kill lands with queries in flight.
  ['search', { stage: 'search', activity: 'searchQueries', victim: 'worker', moment: started('search') }],
  [
    'download',
    {
      stage: 'download',
      activity: 'downloadCandidates',
      victim: 'worker',
      moment: async (worker) => {
        await started('download')(worker);
        await until('three fetches', async () =>
          (await db().fetch.count({ where: { runId: RUN_ID } })) >= 3 ? true : undefined,
        );
      },
    },
  ],
  ['train', { stage: 'train', activity: 'trainEncoder', victim: 'worker', moment: afterFirstCheckpoint }],
  ['score', { stage: 'score', activity: 'scoreCandidates', victim: 'worker', moment: started('score') }],
  // The GP and the linear probe take seconds: the kill lands while they run.
  [
    'update',
    {
      stage: 'update',
      activity: 'updateDistribution',
      victim: 'worker',
      moment: whilePythonRuns('update', 'ietrainer.gp'),
    },
  ],
  [
    'evaluate',
    {
      stage: 'evaluate',
      activity: 'evaluateEncoder',
      victim: 'worker',
      moment: whilePythonRuns('evaluate', 'ietrainer.probe'),
    },
  ],
  ['trainer', { stage: 'train', activity: 'trainEncoder', victim: 'trainer', moment: afterFirstCheckpoint }],
];

test.each(CASES)(
  'SIGKILL of the %s: the run completes by itself and its database equals the uninterrupted run',
  async (name, kill) => {
    const databaseUrl = await createTestDatabase(`kill_${name}`);
    removeRunFolder();
    const workers: WatchedWorker[] = [];
    try {
      const first = startWatchedWorker(`${name}-first`, databaseUrl);
      workers.push(first);
      const runStarted = performance.now();
      const handle = await startRun(client, RUN_ID, runConfig());
      await kill.moment(first);

      if (kill.victim === 'trainer') {
        const trainers = pythonChildren('ietrainer.train');
        expect(trainers.length).toBeGreaterThan(0);
        for (const pid of trainers) process.kill(pid, 'SIGKILL');
      } else {
        await killHard(first.proc);
        // A Python child (trainer, GP, probe) dies with its worker instead of going on as an orphan.
        await until(
          'the orphaned Python processes to exit',
          async () => (pythonChildren().length === 0 ? true : undefined),
          20_000,
        );
        workers.push(startWatchedWorker(`${name}-second`, databaseUrl));
      }

      const result = await handle.result();
      const faultedMs = performance.now() - runStarted;
      expect(result.status).toBe('completed');
      expect(result.history.map((h) => h.iteration)).toEqual([0]);
      expect((await handle.query(progressQuery)).failed).toBeNull();

      // The kill landed in the stage: its activity ran again, after a lapsed heartbeat (or, for the trainer
      // alone, after the trainer died); every other stage ran once.
      const attempts = await activityAttempts(client, RUN_ID, 0, kill.activity);
      expect(attempts).toHaveLength(1);
      expect(attempts[0].attempt).toBe(2);
      expect(attempts[0].lastFailure).toMatch(kill.victim === 'worker' ? /heartbeat/i : /trainer exited with SIGKILL/);
      const timings = await db().stageTiming.findMany({ where: { runId: RUN_ID } });
      expect(Object.fromEntries(timings.map((t) => [t.stage, t.attempt]))).toEqual({
        sample: 1,
        search: 1,
        download: 1,
        train: 1,
        score: 1,
        update: 1,
        evaluate: 1,
        [kill.stage]: 2,
      });
      expect(await db().iterationFailure.count({ where: { runId: RUN_ID } })).toBe(0);

      if (kill.stage === 'train') {
        // Training went on from its checkpoint instead of starting again.
        const resumed = workers
          .flatMap((w) => w.lines())
          .filter((l) => l.msg === 'training resumed from checkpoint' && l.iteration === 0);
        expect(resumed).toHaveLength(1);
        expect(resumed[0].step).toBeGreaterThanOrEqual(CHECKPOINT_EVERY);
      }

      // The same rows by natural key, the same counts, the same figures.
      const keys = await naturalKeys(RUN_ID);
      recordRecovery({
        fault: kill.victim === 'trainer' ? 'SIGKILL of the trainer' : `SIGKILL of the worker in ${kill.stage}`,
        survived: true,
        rowsLost: rowsLost(baseline.keys, keys),
        referenceMs: baseline.ms,
        faultedMs,
      });
      expect(keys).toEqual(baseline.keys);
      expect(await iterationRows()).toEqual(baseline.iteration);
      const figures = await runFigures(RUN_ID);
      const apart = figuresApart(baseline.figures, figures, FIGURE_TOLERANCE);
      expect({ apart: apart.slice(0, 10), count: apart.length }).toEqual({ apart: [], count: 0 });
      console.log(`kill ${name}: largest difference of a figure ${largestDifference(baseline.figures, figures)}`);

      if (name === 'sample') {
        // A kill between storing the queries and counting them on the iteration: the retry counts them.
        const ref = { runId: RUN_ID, iteration: 0 };
        const counted = (baseline.iteration[0] as { queries: number }).queries;
        await db().iteration.update({ where: { runId_index: { runId: RUN_ID, index: 0 } }, data: { queries: 0 } });
        expect((await sampleQueries(ref)).queries).toBe(counted);
        expect(await iterationRows()).toEqual(baseline.iteration);
      }
    } finally {
      for (const worker of workers) await stopWorker(worker);
      removeRunFolder();
    }
  },
);
