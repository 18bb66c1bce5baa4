// Duplicate execution: two workers on every queue, and the training activity run twice at once. The worker
// training iteration 0 is frozen (SIGSTOP, with its trainer) as a long pause or a network partition would
// freeze it; its heartbeat lapses, the other worker takes the retry and trains from the newest checkpoint; then
// the frozen one is thawed while the retry is under way, so two trainers write the same iteration's files at
// the same time. The run must complete with no human action, both workers live on, no stage ever reads a
// torn or mixed file (every handed-over file is written atomically and checked when read), and the database
// holds an uninterrupted run's rows by natural key and its figures within FIGURE_TOLERANCE.
// Takes about 5 minutes on 2 cores.
import fs from 'node:fs';
import path from 'node:path';
import { closeDb, db } from '../../../lib/db';
import { stateDir } from '../../../lib/paths';
import { startRun } from '../../../lib/client';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment } from '../harness';
import { expectOneRowPerNaturalKey, naturalKeys } from '../run-rows';
import { liveProcessesMatching } from '../../processes';
import { running, stopWorker, until } from '../worker-process';
import {
  activityAttempts,
  figuresApart,
  runFigures,
  stageStarted,
  startWatchedWorker,
  type LogLine,
  type WatchedWorker,
} from './kill';
import { recordRecovery, referenceRun, rowsLost } from './recovery';

jest.setTimeout(15 * 60_000);

/** As in kill-per-stage.test.ts: on CPU with the same seed the figures are equal but for summation order. */
const FIGURE_TOLERANCE = 1e-5;

const env = useTestEnvironment('duplicate-execution', { engine: {}, database: false });

/** The parent process id of `pid`, from /proc. */
function parentOf(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
  } catch {
    return undefined;
  }
}

/** The trainer processes (their command line names the run's folder) that `worker` started. */
const trainersOf = (worker: WatchedWorker, runId: string) =>
  liveProcessesMatching(path.join('runs', runId)).filter((pid) => parentOf(pid) === worker.proc.pid);

const attemptStarted = (stage: string, iteration: number, attempt: number) => (line: LogLine) =>
  line.msg === 'stage started' && line.stage === stage && line.iteration === iteration && line.attempt === attempt;

const tornFileLines = (worker: WatchedWorker) =>
  worker.lines().filter((l) => JSON.stringify(l).includes('HandoverFileError'));

test('the training activity run twice at once by two workers: the run completes, no torn file is read, the database equals an uninterrupted run', async () => {
  // One iteration: the duplicate execution is its training.
  const config = env.runConfig({ iterations: 1, train: { steps: 40, checkpointEvery: 4, batchSize: 32 } });
  const runId = uniqueId('it-duplicate');
  const runFolder = path.join(stateDir(), 'runs', runId);
  const { client, connection } = await temporalClient();
  try {
    // The uninterrupted run, under the same id (the id seeds the run's draws), in a database of its own.
    const referenceUrl = await createTestDatabase('duplicate_reference');
    const referenceMs = await referenceRun(client, runId, config, referenceUrl);
    const expected = { keys: await naturalKeys(runId), figures: await runFigures(runId) };
    fs.rmSync(runFolder, { recursive: true, force: true });

    const url = await createTestDatabase('duplicate_execution');
    const workers = [startWatchedWorker('duplicate-a', url), startWatchedWorker('duplicate-b', url)];
    const pids = workers.map((w) => w.proc.pid);
    let frozen: number[] = [];
    const runStarted = performance.now();
    let frozenAt = 0;
    let faultedMs = 0;
    let outageMs = 0;
    try {
      const handle = await startRun(client, runId, config);
      const first = await Promise.race(
        workers.map((w) => w.waitForLine('training of iteration 0', stageStarted('train', 0)).then(() => w)),
      );
      const other = workers.find((w) => w !== first)!;
      await until('a checkpoint of iteration 0', async () =>
        (await db().checkpoint.count({ where: { runId, iteration: 0 } })) > 0 ? true : undefined,
      );
      const trainers = trainersOf(first, runId);
      expect(trainers).toHaveLength(1);
      frozen = [first.proc.pid!, ...trainers];
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      frozenAt = performance.now();

      // The heartbeat lapses (30 s) and the other worker takes the retry; once its trainer runs, thaw the first.
      await other.waitForLine('the retry of training', attemptStarted('train', 0, 2), 120_000);
      await until('the retry training', async () => (trainersOf(other, runId).length > 0 ? true : undefined), 60_000);
      expect(trainersOf(first, runId)).toEqual(trainers); // still there, frozen mid-training
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      frozen = [];
      outageMs = performance.now() - frozenAt;

      const result = await handle.result();
      faultedMs = performance.now() - runStarted;
      expect(result.status).toBe('completed');
      expect(result.history.map((h) => h.iteration)).toEqual([0]);
      // Training ran twice: the attempt that completed was the second, the first lost to its lapsed heartbeat.
      expect(await activityAttempts(client, runId, 0, 'trainEncoder')).toEqual([
        { attempt: 2, lastFailure: expect.stringMatching(/heartbeat/i) as unknown },
      ]);
      // The thawed trainer stopped: nothing of the first attempt outlives the run.
      await until('no trainer left', async () => (liveProcessesMatching(runFolder).length === 0 ? true : undefined));
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      const alive = workers.map(running);
      await Promise.all(workers.map(stopWorker));
      // Both workers lived through it: the duplicate cost nobody a process.
      expect({ pids: workers.map((w) => w.proc.pid), alive }).toEqual({ pids, alive: [true, true] });
    }

    expect(workers.flatMap(tornFileLines)).toEqual([]);
    expect(await db().iterationFailure.count({ where: { runId } })).toBe(0);
    await expectOneRowPerNaturalKey(runId, 1);
    const actual = await naturalKeys(runId);
    recordRecovery({
      fault: 'duplicate execution (training run twice at once)',
      survived: true,
      rowsLost: rowsLost(expected.keys, actual),
      referenceMs,
      faultedMs,
      outageMs,
    });
    for (const table of Object.keys(expected.keys))
      expect([table, actual[table]]).toEqual([table, expected.keys[table]]);
    expect(figuresApart(expected.figures, await runFigures(runId), FIGURE_TOLERANCE)).toEqual([]);
  } finally {
    fs.rmSync(runFolder, { recursive: true, force: true });
    await connection.close();
    await closeDb();
  }
});
