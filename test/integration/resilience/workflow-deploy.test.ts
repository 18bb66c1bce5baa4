// New workflow code deployed under a running run, as docs/operations.md says to deploy it: the workflow worker
// is replaced by one running a later release (test/fixtures/workflows-next: today's code plus `patched()`
// changes) once while an iteration runs and once while the run waits between iterations. The run completes
// with no human action beyond the deployments; executions started before a deployment finish on the new code
// without its change, those started after take it; every history replays on the newest code, the ones started
// before any deployment also on today's; and the database equals an uninterrupted run's by natural key.
// The activity workers (a separate process) stay up throughout: a deployment of workflow code needs only the
// workflow workers restarted. Takes about 5 minutes on 2 cores.
import fs from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { iterationDir } from '../../../activities/iteration-files';
import { closeDb, db } from '../../../lib/db';
import { startRun } from '../../../lib/client';
import {
  WORKFLOW_QUEUE,
  iterationWorkflowId,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  type Progress,
} from '../../../lib/contract';
import { installRuntimeLogging } from '../../../workers/create';
import { RELEASE_MEMO } from '../../fixtures/workflows-next/deploy';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment } from '../harness';
import { expectOneRowPerNaturalKey, naturalKeys } from '../run-rows';
import { TEST_TEMPORAL_ADDRESS } from '../services';
import { startWorker, until, withSurvivingWorker } from '../worker-process';
import { recordRecovery, referenceRun, rowsLost } from './recovery';
import { stageWorkerCheck } from '../../../activities/worker-watch';

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('workflow-deploy', { engine: {}, database: false });

const releases = {
  today: require.resolve('../../../workflows'),
  v2: require.resolve('../../fixtures/workflows-next/v2'),
  v3: require.resolve('../../fixtures/workflows-next/v3'),
};
type Release = keyof typeof releases;

/** A workflow worker of one release in this process: what a deployment starts and stops. */
interface WorkflowWorker {
  worker: Worker;
  running: Promise<void>;
  connection: NativeConnection;
}

const bundles = new Map<Release, WorkflowBundle>();

async function startWorkflowWorker(release: Release): Promise<WorkflowWorker> {
  const connection = await NativeConnection.connect({ address: TEST_TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    taskQueue: WORKFLOW_QUEUE,
    workflowBundle: bundles.get(release),
    activities: { stageWorkerCheck },
    enableNonLocalActivities: false,
  });
  return { worker, running: worker.run(), connection };
}

async function stopWorkflowWorker(w: WorkflowWorker): Promise<void> {
  if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
  await w.running;
  await w.connection.close();
}

/** Every execution of `workflowId`, oldest first. */
async function executions(client: Client, workflowId: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const e of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push(e);
  return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

beforeAll(async () => {
  installRuntimeLogging();
  // Bundled before the run starts, so a deployment takes the moment it takes to start a worker.
  for (const release of Object.keys(releases) as Release[])
    bundles.set(
      release,
      await bundleWorkflowCode({ workflowsPath: releases[release], logger: new DefaultLogger('WARN') }),
    );
});

test('workflow code deployed while an iteration runs and while the run waits between iterations: the run continues on the new code and every history replays', async () => {
  const config = env.runConfig();
  const runId = uniqueId('it-deploy');
  const { client, connection } = await temporalClient();
  await createTestDatabase('workflow_deploy');
  const activityWorkers = startWorker('deploy-activities', process.env.DATABASE_URL!, undefined, 'io,score,train');
  let workflows = await startWorkflowWorker('today');
  let faultedMs = 0;
  try {
    await withSurvivingWorker(activityWorkers, async () => {
      const runStarted = performance.now();
      const handle = await startRun(client, runId, config);
      await until('iteration 0 past its search', async () =>
        (await db().stageTiming.count({ where: { runId, iteration: 0, stage: 'search' } })) > 0 ? true : undefined,
      );
      // Asked while iteration 0 runs, the pause holds the run between iterations 0 and 1.
      await handle.executeUpdate(pauseUpdate);

      // Deployed while iteration 0 runs (its child execution and the run's first are mid-way).
      await stopWorkflowWorker(workflows);
      workflows = await startWorkflowWorker('v2');
      await until('the run paused after iteration 0', async () =>
        (await handle.query(progressQuery)).status === 'paused' ? true : undefined,
      );

      // Deployed while the run waits between iterations.
      await stopWorkflowWorker(workflows);
      workflows = await startWorkflowWorker('v3');
      await handle.executeUpdate(resumeUpdate);
      const result = (await handle.result()) as Progress;
      faultedMs = performance.now() - runStarted;
      expect(result.status).toBe('completed');
      expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);
    });

    // Which code each execution ran: one started before a deployment keeps the code path it started on.
    const runs = await until('both executions of the run listed', async () => {
      const found = await executions(client, runId);
      return found.length === 2 && found.every((e) => e.status.name !== 'RUNNING') ? found : undefined;
    });
    const iterations = await Promise.all(
      [0, 1].map(async (i) => (await executions(client, iterationWorkflowId(runId, i)))[0]!),
    );
    expect([...runs, ...iterations].map((e) => e.memo?.[RELEASE_MEMO] ?? 'today')).toEqual([
      'today',
      'v2',
      'today',
      'v3',
    ]);
    expect(await db().iterationFailure.count({ where: { runId } })).toBe(0);

    // Every history replays on the newest code; those of executions started before any deployment also on
    // today's, the code they started on.
    const history = async (e: WorkflowExecutionInfo) => ({
      workflowId: e.workflowId,
      history: await client.workflow.getHandle(e.workflowId, e.runId).fetchHistory(),
    });
    const all = await Promise.all([...runs, ...iterations].map(history));
    const replay = async (release: Release, histories: typeof all) => {
      const failures: string[] = [];
      for await (const r of Worker.runReplayHistories({ workflowBundle: bundles.get(release) }, histories))
        if (r.error) failures.push(`${r.workflowId} on ${release}: ${String(r.error)}`);
      return failures;
    };
    expect(await replay('v3', all)).toEqual([]);
    expect(await replay('today', [all[0]!, all[2]!])).toEqual([]);
  } finally {
    await stopWorkflowWorker(workflows);
  }

  // The same run, uninterrupted, on today's code (the id seeds the run's draws): the same rows.
  await expectOneRowPerNaturalKey(runId);
  const actual = await naturalKeys(runId);
  fs.rmSync(path.dirname(iterationDir(runId, 0)), { recursive: true, force: true });
  const referenceUrl = await createTestDatabase('workflow_deploy_reference');
  let referenceMs: number;
  try {
    referenceMs = await referenceRun(client, runId, config, referenceUrl);
  } finally {
    await connection.close();
  }
  const expected = await naturalKeys(runId);
  // The run waited paused between its iterations while the second release was deployed: its wall time
  // includes that wait, which the table's "time lost" keeps.
  recordRecovery({
    fault: 'new workflow code deployed mid-iteration and between iterations',
    survived: true,
    rowsLost: rowsLost(expected, actual),
    referenceMs,
    faultedMs,
  });
  for (const table of Object.keys(expected)) expect([table, actual[table]]).toEqual([table, expected[table]]);
  await closeDb();
});
