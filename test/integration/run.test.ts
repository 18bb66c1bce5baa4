import fs from 'node:fs';
import { Worker } from '@temporalio/worker';
import { db } from '../../lib/db';
import { localFileOf } from '../../lib/storage';
import {
  ITERATION_WORKFLOW,
  iterationWorkflowId,
  progressQuery,
  RUN_SEARCH_ATTRIBUTES as SA,
} from '../../lib/contract';
import { temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { currentDetails } from './run-watch';
import { expectTemperatureFromPredictions } from './run-rows';
import { startRun } from '../../lib/client';

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('run', { engine: {} });

test('a 2-iteration run completes end to end on the real services, trainer and ORT', async () => {
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-run');
  const config = env.runConfig();

  const { result, progress, details } = await withWorkers(async () => {
    const handle = await startRun(client, runId, config);
    const finished = await handle.result();
    // Queries are answered by a worker replaying the (closed) latest run of the chain.
    return {
      result: finished,
      progress: await handle.query(progressQuery),
      details: await currentDetails(handle),
    };
  });

  // What the workflow reports
  expect(result.status).toBe('completed');
  expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);
  for (const h of result.history) {
    expect(h.queries).toBe(24);
    expect(h.trainSteps).toBe(8);
    expect(h.knnAccuracy).toBeGreaterThanOrEqual(0);
    expect(h.knnAccuracy).toBeLessThanOrEqual(1);
    expect(Object.keys(h.stageMs).sort()).toEqual([
      'download',
      'evaluate',
      'sample',
      'score',
      'search',
      'train',
      'update',
    ]);
  }
  expect(result.imagesDownloaded).toBeGreaterThan(0);

  // Each iteration is its own workflow execution named after the run, with a static summary
  for (const i of [0, 1]) {
    const child = await client.workflow.getHandle(iterationWorkflowId(runId, i)).describe();
    expect(child.type).toBe(ITERATION_WORKFLOW);
    expect(child.status.name).toBe('COMPLETED');
    expect(await child.staticSummary()).toBe(`Iteration ${i} (${i + 1} of 2) of ${runId}`);
  }

  // What the Web UI shows: search attributes and current details of the finished run
  const described = await client.workflow.getHandle(runId).describe();
  expect(described.typedSearchAttributes.get(SA.status)).toBe('completed');
  expect(described.typedSearchAttributes.get(SA.target)).toBe('pets-3x10');
  expect(described.typedSearchAttributes.get(SA.iteration)).toBe(1);
  expect(described.typedSearchAttributes.get(SA.images)).toBe(result.imagesDownloaded);
  expect(described.typedSearchAttributes.get(SA.bestKnn)).toBe(
    Math.max(...result.history.map((h) => h.knnAccuracy as number)),
  );
  expect(details).toContain('**Completed** 2 iterations');
  expect(details).toContain(`images so far: **${result.imagesDownloaded}** downloaded`);
  expect(details).toMatch(/^ +1 {2,}\d+ {2,}\d+ /m);

  // What the database holds
  const run = await db().run.findUniqueOrThrow({ where: { id: runId } });
  expect(run.status).toBe('completed');
  expect(run.hasLabels).toBe(true);
  expect(await db().targetImage.count({ where: { runId } })).toBe(30);
  const iterations = await db().iteration.findMany({ where: { runId }, orderBy: { index: 'asc' } });
  expect(iterations.map((i) => [i.index, i.status])).toEqual([
    [0, 'completed'],
    [1, 'completed'],
  ]);
  for (const it of iterations) {
    // Named by object-store key; without IE_OBJECT_STORE the key's file under the state folder is the object.
    expect(it.onnxPath).toBe(`runs/${runId}/iter-00${it.index}/encoder.onnx`);
    expect(fs.existsSync(localFileOf(it.onnxPath as string))).toBe(true);
    expect(fs.existsSync(localFileOf(it.checkpoint as string))).toBe(true);
  }
  expect(await db().query.count({ where: { runId } })).toBe(48);
  expect(await db().conceptReward.count({ where: { runId } })).toBe(48);
  expect(await db().distribution.count({ where: { runId } })).toBe(2);
  await expectTemperatureFromPredictions(runId, 1, result.history[1].temperature);
  expect(await db().evaluation.count({ where: { runId, metric: 'knn_accuracy' } })).toBe(2);
  const candidates = await db().candidate.findMany({ where: { runId }, distinct: ['iteration', 'sha256'] });
  expect(await db().imageReward.count({ where: { runId } })).toBe(candidates.length);
  expect(await db().replayMember.count({ where: { runId } })).toBeGreaterThan(0);
  // Retention: each iteration keeps its newest checkpoint (train.keepIterations covers both iterations).
  expect(await db().checkpoint.count({ where: { runId, iteration: 0 } })).toBe(1);

  // Every search result URL has exactly one recorded outcome, and the engine served each image at most once.
  const urls = await db().$queryRaw<{ url: string }[]>`
    SELECT DISTINCT r.url FROM "Query" q JOIN "SearchResult" r ON r.query = q."searchKey" AND r.provider = q.provider
    WHERE q."runId" = ${runId} AND r.rank < 10`;
  expect(await db().fetch.count({ where: { url: { in: urls.map((u) => u.url) } } })).toBe(urls.length);
  const served = env.engine.stats().imageRequests;
  expect(Math.max(...Object.values(served))).toBe(1);

  // The progress query answers on the finished run
  expect(progress.status).toBe('completed');
  expect(progress.history).toHaveLength(2);

  // Workflow code replays deterministically over the histories this run recorded
  const histories = [
    { workflowId: runId, history: await client.workflow.getHandle(runId).fetchHistory() },
    {
      workflowId: iterationWorkflowId(runId, 1),
      history: await client.workflow.getHandle(iterationWorkflowId(runId, 1)).fetchHistory(),
    },
  ];
  for (const { workflowId, history } of histories) {
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId);
  }
  await connection.close();
});
