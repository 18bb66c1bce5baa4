// A stage that waits for a worker nobody started says so: `ie status` (plain and --json), the follow loop and
// the run's details in the Web UI name the queue and the `ie worker` role to start. In a namespace of its
// own, so no poller of another suite (Temporal lists pollers seen in the last minutes) hides a missing one.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { followRun, startRun, type MissingWorker, type RunView } from '../../lib/client';
import { progressQuery, type Progress } from '../../lib/contract';
import { PROJECT_ROOT } from '../../lib/paths';
import { uniqueId, useTestEnvironment } from './harness';
import { TEST_TEMPORAL_ADDRESS } from './services';
import { currentDetails } from './run-watch';
import { useOwnNamespace } from './namespace';
import { startWorker, stopWorker, until, type WorkerProcess } from './worker-process';

jest.setTimeout(8 * 60_000);

const env = useTestEnvironment('missing_workers', { engine: {} });
const ns = useOwnNamespace('ie-missing-workers');

/** `ie ARGS` as a user runs it, on this suite's namespace. */
function ie(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(PROJECT_ROOT, 'bin', 'ie'),
      args,
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: TEST_TEMPORAL_ADDRESS,
          TEMPORAL_NAMESPACE: ns.name,
          DATABASE_URL: env.databaseUrl,
          IE_LOG_LEVEL: 'warn',
        },
      },
      (error, stdout) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

test('a run with no worker, then with no train worker, says which worker to start; once started, the run completes', async () => {
  const runId = uniqueId('it-missing-workers');
  const client = ns.client;
  await until('the run to start', async () => {
    try {
      return await startRun(client, runId, env.runConfig({ iterations: 1 }));
    } catch {
      return undefined; // search attributes reach a new namespace's visibility store within seconds
    }
  });

  // No worker at all: the run's workflow tasks wait.
  const none = await ie(['status', runId]);
  expect(none.code).toBe(0);
  expect(none.stdout).toContain(
    "warning: no worker polls internet-explorer, so the run's workflow waits: start one with `ie worker workflows`",
  );

  // Every role but train: the run goes as far as training, then waits for a train worker.
  const workers: WorkerProcess[] = [startWorker('no-train', env.databaseUrl, undefined, 'workflows,io,score')];
  try {
    const handle = client.workflow.getHandle(runId);
    await until('the train stage', async () =>
      (await handle.query(progressQuery)).stage === 'train' ? true : undefined,
    );
    const plain = await ie(['status', runId]);
    expect(plain.stdout).toContain(
      'warning: no worker polls ie-train, so the train stage waits: start one with `ie worker train` on a host that can train',
    );
    expect(plain.stdout).not.toContain('no worker polls internet-explorer');
    const json = JSON.parse((await ie(['status', runId, '--json'])).stdout) as { missingWorkers: MissingWorker[] };
    expect(json.missingWorkers).toEqual([{ queue: 'ie-train', role: 'train', stage: 'train' }]);

    // The run says it too (its progress, and its details in the Web UI) once the stage has waited a minute.
    const waiting = await until('the run to say it waits for a worker', async () => {
      const p = await handle.query(progressQuery);
      return p.waitingFor ? p : undefined;
    });
    expect(waiting.waitingFor).toEqual({
      stage: 'train',
      queue: 'ie-train',
      role: 'train',
      sinceMs: expect.any(Number),
    });
    const details = await currentDetails(handle);
    expect(details).toContain('**Waiting for a worker** since');
    expect(details).toContain('no worker polls ie-train, so the train stage waits: start one with `ie worker train`');

    // Following the run warns once, and carries on to the end once a train worker is started.
    const warnings: string[] = [];
    const view: RunView = {
      update() {},
      warn(line) {
        warnings.push(line);
        if (workers.length === 1) workers.push(startWorker('train', env.databaseUrl, undefined, 'train'));
      },
      stop() {},
    };
    const result = await followRun(client, runId, view, { intervalMs: 200, workerCheckMs: 500 });
    expect((result.progress as Progress).status).toBe('completed');
    expect((result.progress as Progress).waitingFor ?? null).toBeNull();
    expect(await currentDetails(handle)).not.toContain('Waiting for a worker');
    expect(warnings).toEqual([expect.stringContaining('no worker polls ie-train') as unknown]);
    expect((await ie(['status', runId])).stdout).not.toContain('warning');
  } finally {
    await Promise.all(workers.map(stopWorker));
  }
});
