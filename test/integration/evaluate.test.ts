import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonExecutable } from '../../lib/paths';
import { db } from '../../lib/db';
import { localFileOf } from '../../lib/storage';
import { progressQuery } from '../../lib/contract';
import { evaluateEncoder } from '../../activities/stages/evaluate';
import { trainEncoder } from '../../activities/stages/train';
import { baseEncoderFile, iterationFiles } from '../../activities/iteration-files';
import { temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { startRun } from '../../lib/client';

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('evaluate', { engine: {} });
let finishedRunId: string;

const inUnitRange = (value: number | null | undefined) => {
  expect(typeof value).toBe('number');
  expect(value).toBeGreaterThanOrEqual(0);
  expect(value).toBeLessThanOrEqual(1);
};

test('iteration 0 evaluates the starting and the trained encoder, stores both and shows them in progress', async () => {
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-eval');
  const config = env.runConfig({ iterations: 1 });

  const { result, progress } = await withWorkers(async () => {
    const handle = await startRun(client, runId, config);
    const finished = await handle.result();
    return { result: finished, progress: await handle.query(progressQuery) };
  });
  await connection.close();
  expect(result.status).toBe('completed');

  // The workflow's summary and the progress query carry the whole evaluation.
  const evaluation = result.history[0].evaluation;
  for (const figures of [evaluation, evaluation?.base]) {
    inUnitRange(figures?.knnAccuracy);
    inUnitRange(figures?.linearProbeAccuracy);
  }
  expect(progress.evaluation).toEqual(evaluation);
  expect(progress.history[0].evaluation).toEqual(evaluation);

  // Stored per iteration: Evaluation rows for both encoders, the current figures on the Iteration too.
  const rows = await db().evaluation.findMany({ where: { runId }, orderBy: { metric: 'asc' } });
  expect(rows.map((r) => [r.iteration, r.metric])).toEqual(
    [
      'base_knn_accuracy',
      'base_knn_loo_accuracy',
      'base_linear_probe_accuracy',
      'knn_accuracy',
      'knn_loo_accuracy',
      'linear_probe_accuracy',
    ].map((m) => [0, m]),
  );
  for (const row of rows) inUnitRange(row.value);
  const value = (metric: string) => rows.find((r) => r.metric === metric)?.value;
  expect(value('knn_accuracy')).toBe(evaluation?.knnAccuracy);
  expect(value('linear_probe_accuracy')).toBe(evaluation?.linearProbeAccuracy);
  expect(value('base_knn_accuracy')).toBe(evaluation?.base?.knnAccuracy);
  expect(value('base_linear_probe_accuracy')).toBe(evaluation?.base?.linearProbeAccuracy);
  const iteration = await db().iteration.findUniqueOrThrow({ where: { runId_index: { runId, index: 0 } } });
  expect([iteration.knnAccuracy, iteration.linearProbeAccuracy]).toEqual([
    evaluation?.knnAccuracy,
    evaluation?.linearProbeAccuracy,
  ]);
  // The starting encoder is its own export, not the trained one.
  expect(fs.existsSync(baseEncoderFile(runId))).toBe(true);
  expect(
    fs.readFileSync(baseEncoderFile(runId)).equals(fs.readFileSync(localFileOf(iteration.onnxPath as string))),
  ).toBe(false);

  // A retry of the stage gives the same figures and leaves one row per metric.
  expect(await evaluateEncoder({ runId, iteration: 0 })).toEqual(evaluation);
  expect(await db().evaluation.count({ where: { runId } })).toBe(6);
  finishedRunId = runId;
});

test('train.initCheckpoint that is missing or does not fit the preset stops the train stage without retries', async () => {
  const runId = finishedRunId;
  expect(runId).toBeDefined();
  // Start iteration 0 afresh (no checkpoint to resume from) with a different starting point.
  fs.rmSync(iterationFiles({ runId, iteration: 0 }).trainDir, { recursive: true, force: true });
  const useInit = async (initCheckpoint: string) => {
    const run = await db().run.findUniqueOrThrow({ where: { id: runId } });
    const config = run.config as { train?: Record<string, unknown> };
    await db().run.update({
      where: { id: runId },
      data: { config: { ...config, train: { ...config.train, initCheckpoint } } },
    });
  };

  const missing = path.join(os.tmpdir(), `${runId}-missing.pth`);
  await useInit(missing);
  await expect(trainEncoder({ runId, iteration: 0 })).rejects.toMatchObject({
    name: 'ConfigError',
    message: expect.stringContaining(`train.initCheckpoint: ${missing} is not a readable file`),
  });

  // A real torchvision ResNet-18 state dict: not the cpu-small backbone.
  const resnet18 = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ie-init-')), 'resnet18.pth');
  execFileSync(pythonExecutable(), [
    '-c',
    'import sys, torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])',
    resnet18,
  ]);
  await useInit(resnet18);
  await expect(trainEncoder({ runId, iteration: 0 })).rejects.toMatchObject({
    name: 'TrainerError',
    message: expect.stringMatching(new RegExp(`${resnet18}.*does not fit the small_resnet backbone`)),
  });
});
