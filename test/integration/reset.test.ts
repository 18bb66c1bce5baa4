import { execFileSync } from 'node:child_process';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../../activities';
import { parseRunConfig } from '../../lib/config';
import { IO_QUEUE, iterationWorkflowId } from '../../lib/contract';
import { sleep } from '../../lib/services/process';
import { ensureRunSearchAttributes, missingRunSearchAttributes, temporalCli } from '../../lib/services/temporal';
import { createWorkers, installRuntimeLogging } from '../../workers/create';
import { startRun } from '../../lib/client';
import { UsageError } from '../../lib/errors';
import { smallPetsTarget, smallRunConfig, temporalClient, uniqueId, useTestEnvironment } from './harness';
import { TEST_TEMPORAL_ADDRESS } from './services';
import { waitForProgress } from './run-watch';

jest.setTimeout(10 * 60_000);

useTestEnvironment('reset');

test('`temporal workflow reset --type FirstWorkflowTask` of a waiting run starts its failed iteration again', async () => {
  installRuntimeLogging();
  const native = await NativeConnection.connect({ address: TEST_TEMPORAL_ADDRESS });
  const workers = await createWorkers(native, ['workflows']);
  // The real I/O activities, except that sampling always fails: the iteration fails at its first stage.
  workers.push(
    await Worker.create({
      connection: native,
      taskQueue: IO_QUEUE,
      activities: {
        ...activities,
        sampleQueries: async () => {
          throw ApplicationFailure.nonRetryable('injected sample failure', 'TestFault');
        },
      },
    }),
  );
  const running = workers.map((w) => w.run());
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-reset');
  try {
    // No search is ever made: the engine address is never used.
    await startRun(client, runId, parseRunConfig(smallRunConfig(smallPetsTarget(), 'http://127.0.0.1:9')));
    const handle = client.workflow.getHandle(runId);
    const waiting = await waitForProgress(handle, (p) => p.status === 'waiting-retry');
    expect(waiting.failed).toEqual({ iteration: 0, error: 'injected sample failure', failures: 1 });
    const before = (await handle.describe()).runId;

    const out = execFileSync(temporalCli(), [
      'workflow',
      'reset',
      '--address',
      TEST_TEMPORAL_ADDRESS,
      '--workflow-id',
      runId,
      '--type',
      'FirstWorkflowTask',
      '--reason',
      'retry iteration 0',
    ]).toString();
    expect(out).toContain(`Resetting workflow ${runId}`);

    // A new execution of the run, which started the iteration again (and, still failing, waits again).
    const after = await waitForProgress(handle, (p) => p.status === 'waiting-retry');
    expect(after.failed?.iteration).toBe(0);
    expect((await handle.describe()).runId).not.toBe(before);
    let executions: string[] = [];
    // Visibility lags the executions a moment.
    for (let attempt = 0; attempt < 40 && executions.join() !== 'FAILED,FAILED'; attempt++) {
      if (attempt) await sleep(250);
      executions = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${iterationWorkflowId(runId, 0)}'` }))
        executions.push(wf.status.name);
    }
    expect(executions).toEqual(['FAILED', 'FAILED']);
    await handle.terminate('test done');
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await native.close();
    await connection.close();
  }
});

test('a run is refused before it starts in a namespace lacking the search attributes, which can then be registered', async () => {
  const { connection } = await temporalClient();
  const namespace = uniqueId('ie-bare');
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    const bare = new Client({ connection, namespace });
    const config = parseRunConfig(smallRunConfig(smallPetsTarget(), 'http://127.0.0.1:9'));
    let error: unknown;
    // A new namespace takes a moment to be served.
    for (let attempt = 0; attempt < 60; attempt++) {
      error = await startRun(bare, uniqueId('it-bare'), config).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (error instanceof UsageError) break;
      await sleep(500);
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(
      /lacks the search attributes IeTarget, IeMode, IeStatus, IeIteration, IeImages, IeBestKnn: register them/,
    );
    expect(await ensureRunSearchAttributes(TEST_TEMPORAL_ADDRESS, namespace)).toHaveLength(6);
    let missing: string[] = [];
    for (let attempt = 0; attempt < 60; attempt++) {
      missing = await missingRunSearchAttributes(connection, namespace);
      if (missing.length === 0) break;
      await sleep(500);
    }
    expect(missing).toEqual([]);
  } finally {
    await connection.close();
  }
});
