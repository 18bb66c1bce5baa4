import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import * as activities from '../../activities';
import { db } from '../../lib/db';
import { parseRunConfig } from '../../lib/config';
import { stateDir } from '../../lib/paths';
import { SCORE_QUEUE, RUN_SEARCH_ATTRIBUTES as SA, type Progress, type StageRef } from '../../lib/contract';
import { createWorkers } from '../../workers/create';
import { sendControl } from '../../cli/commands/control';
import { startRun } from '../../lib/client';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { currentDetails, waitForListed, waitForProgress, waitForRecordedStatus } from './run-watch';

jest.setTimeout(20 * 60_000);

// Each test creates its own database.
const env = useTestEnvironment('retry', { engine: {}, database: false });

/** Where the score stage fails on purpose: the iteration it fails in, while armed. */
const fault = { iteration: -1 };

/**
 * Every worker role in this process, the score activity wrapped so that it fails (non-retryably, so the
 * iteration's execution fails at once) in the armed iteration.
 */
function withFaultyWorkers<T>(fn: () => Promise<T>): Promise<T> {
  return withWorkers(fn, async (connection) => [
    ...(await createWorkers(connection, ['workflows', 'io', 'train'])),
    await Worker.create({
      connection,
      taskQueue: SCORE_QUEUE,
      maxConcurrentActivityTaskExecutions: 1,
      activities: {
        evaluateEncoder: activities.evaluateEncoder,
        scoreCandidates: async (ref: StageRef) => {
          if (ref.iteration === fault.iteration)
            throw ApplicationFailure.nonRetryable(`injected score failure in iteration ${ref.iteration}`, 'TestFault');
          return activities.scoreCandidates(ref);
        },
      },
    }),
  ]);
}

/**
 * What a run leaves in the database, by natural keys. Values that come out of CPU training (losses,
 * rewards, accuracies, GP fits, which images make the replay buffer) are left out: PyTorch on CPU is
 * not bit-deterministic across runs, so they may differ in the last digits between two identical runs.
 */
async function snapshot(runId: string) {
  const where = { where: { runId } };
  const iterations = await db().iteration.findMany({ ...where, orderBy: { index: 'asc' } });
  const queries = await db().query.findMany({ ...where, orderBy: [{ iteration: 'asc' }, { conceptId: 'asc' }] });
  const fetches = await db().fetch.findMany({ ...where, orderBy: { url: 'asc' } });
  const candidates = await db().candidate.findMany({
    ...where,
    orderBy: [{ iteration: 'asc' }, { conceptId: 'asc' }, { sha256: 'asc' }],
  });
  const exclusions = await db().exclusion.findMany({ ...where, orderBy: [{ iteration: 'asc' }, { url: 'asc' }] });
  const imageRewards = await db().imageReward.findMany({
    ...where,
    orderBy: [{ iteration: 'asc' }, { sha256: 'asc' }],
  });
  const conceptRewards = await db().conceptReward.findMany({
    ...where,
    orderBy: [{ iteration: 'asc' }, { conceptId: 'asc' }],
  });
  const distributions = await db().distribution.findMany({ ...where, orderBy: { iteration: 'asc' } });
  const checkpoints = await db().checkpoint.findMany({ ...where, orderBy: [{ iteration: 'asc' }, { step: 'asc' }] });
  const evaluations = await db().evaluation.findMany({ ...where, orderBy: [{ iteration: 'asc' }, { metric: 'asc' }] });
  const stages = await db().stageTiming.findMany({ ...where, orderBy: [{ iteration: 'asc' }, { stage: 'asc' }] });
  const targets = await db().targetImage.findMany({ ...where, orderBy: { idx: 'asc' } });
  const run = await db().run.findUniqueOrThrow({ where: { id: runId } });
  return {
    run: { status: run.status, config: run.config, targetCount: run.targetCount, labelNames: run.labelNames },
    targets: targets.map((t) => [t.idx, t.sha256, t.label]),
    iterations: iterations.map((i) => ({
      index: i.index,
      status: i.status,
      stage: i.stage,
      queries: i.queries,
      results: i.results,
      downloaded: i.downloaded,
      failed: i.failed,
      kept: i.kept,
      trainSteps: i.trainSteps,
      onnxPath: i.onnxPath,
      checkpoint: i.checkpoint,
    })),
    queries: queries.map((q) => [q.iteration, q.conceptId, q.text, q.searchKey, q.provider, q.results, q.error]),
    fetches: fetches.map((f) => [f.url, f.status, f.reason, f.httpStatus, f.sha256, f.bytes, f.iteration, f.attempts]),
    candidates: candidates.map((c) => [c.iteration, c.conceptId, c.sha256, c.rank]),
    exclusions: exclusions.map((e) => [e.iteration, e.url, e.sha256, e.reason]),
    imageRewards: imageRewards.map((r) => [r.iteration, r.sha256]),
    conceptRewards: conceptRewards.map((r) => [r.iteration, r.conceptId, r.images]),
    distributions: distributions.map((d) => [d.iteration, d.observed, d.probs.length, d.predicted.length]),
    checkpoints: checkpoints.map((c) => [c.iteration, c.step, c.path]),
    evaluations: evaluations.map((e) => [e.iteration, e.metric]),
    stages: stages.map((s) => [s.iteration, s.stage]),
    replayMembers: await db().replayMember.count(where),
  };
}

test('a failed iteration makes the run wait; retrying it gives the database of an uninterrupted run', async () => {
  const { client, connection } = await temporalClient();
  // The same run id twice (the concept draws are seeded by it), each in a database and run folder of its own.
  const runId = uniqueId('it-retry');
  const config = parseRunConfig(env.runConfig());
  const runDir = path.join(stateDir(), 'runs', runId);

  // 1. Uninterrupted.
  await createTestDatabase('retry_plain');
  const plain = await withFaultyWorkers(async () => {
    await startRun(client, runId, config);
    return (await client.workflow.getHandle(runId).result()) as Progress;
  });
  expect(plain.status).toBe('completed');
  const expected = await snapshot(runId);

  // 2. The same config, with the score stage of iteration 1 failing until it is retried.
  fs.rmSync(runDir, { recursive: true, force: true });
  await createTestDatabase('retry_failed');
  fault.iteration = 1;
  const { retried, waitingDetails } = await withFaultyWorkers(async () => {
    await startRun(client, runId, config);
    const handle = client.workflow.getHandle(runId);
    const waiting = await waitForProgress(handle, (p) => p.status === 'waiting-retry');
    expect(waiting.failed).toEqual({
      iteration: 1,
      failures: 1,
      error: 'injected score failure in iteration 1',
    });
    expect(waiting.history.map((h) => h.iteration)).toEqual([0]);
    const details = await currentDetails(handle);
    await waitForListed(client, `IeStatus = 'waiting-retry' AND IeIteration = 1`, runId);
    await waitForRecordedStatus(runId, 'waiting-retry');
    expect(await db().iterationFailure.findMany({ where: { runId } })).toEqual([
      expect.objectContaining({
        iteration: 1,
        failure: 1,
        error: 'injected score failure in iteration 1',
        retriedAt: null,
      }),
    ]);

    // Only the failed iteration can be retried; the run keeps waiting until it is.
    expect(await sendControl(client, runId, 'retryIteration', { iteration: 0 })).toEqual({
      accepted: false,
      reason: expect.stringMatching(/the failed iteration is 1/),
    });
    fault.iteration = -1;
    expect(await sendControl(client, runId, 'retryIteration', { iteration: 1 })).toMatchObject({ accepted: true });
    return { retried: (await handle.result()) as Progress, waitingDetails: details };
  });

  expect(waitingDetails).toContain('**Iteration 1 failed**');
  expect(waitingDetails).toContain(`ie retry-iteration ${runId} 1`);
  expect(waitingDetails).toContain('injected score failure in iteration 1');
  expect(retried.status).toBe('completed');
  expect(retried.history.map((h) => h.iteration)).toEqual([0, 1]);
  const failure = await db().iterationFailure.findFirstOrThrow({ where: { runId } });
  expect(failure.retriedAt).not.toBeNull();
  const described = await client.workflow.getHandle(runId).describe();
  expect(described.typedSearchAttributes.get(SA.status)).toBe('completed');

  // The re-run iteration reused what was stored: no URL fetched twice, training resumed.
  const actual = await snapshot(runId);
  expect(actual).toEqual(expected);
  await connection.close();
});
