// Worker Versioning: workers started with IE_BUILD_ID join a Temporal worker deployment; a run started on
// build v1 is paused between iterations, build v2 is started and made current with the Temporal CLI, v1's
// worker is stopped, and the resumed run finishes on v2 (auto-upgrade): new code rolled out under a running run.
// In a namespace of its own: a deployment's current version takes over the routing of its task queues, which
// other suites' unversioned workers poll too.
import { execFileSync } from 'node:child_process';
import type { WorkflowHandle } from '@temporalio/client';
import { startRun } from '../../lib/client';
import { iterationWorkflowId } from '../../lib/contract';
import { temporalCli } from '../../lib/services/temporal';
import { sendControl } from '../../cli/commands/control';
import { deploymentOptions } from '../../workers/create';
import { uniqueId, useTestEnvironment } from './harness';
import { useOwnNamespace } from './namespace';
import { waitForProgress } from './run-watch';
import { TEST_TEMPORAL_ADDRESS } from './services';
import { stopWorker, until } from './worker-process';
import { startWatchedWorker, type WatchedWorker } from './resilience/kill';

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('worker-versioning', { engine: {} });
const ns = useOwnNamespace('ie-versioning');

/** `temporal worker deployment …` against the suites' server; throws with the CLI's output when it fails. */
function deploymentCli(args: string[]): string {
  const where = ['--address', TEST_TEMPORAL_ADDRESS, '--namespace', ns.name];
  return execFileSync(temporalCli(), ['worker', 'deployment', ...args, ...where], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Makes `buildId` the deployment's current version once its workers have polled (the server then knows it). */
async function makeCurrent(deployment: string, buildId: string): Promise<void> {
  await until(`version ${buildId} made current`, async () => {
    try {
      deploymentCli(['set-current-version', '--deployment-name', deployment, '--build-id', buildId, '--yes']);
      return true;
    } catch {
      return undefined; // not registered yet: its workers have not polled
    }
  });
}

async function buildIdOf(handle: WorkflowHandle): Promise<string | undefined> {
  const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
  return info?.deploymentVersion?.buildId ?? undefined;
}

test('IE_BUILD_ID settings are checked: a build id alone turns versioning on, the rest needs one', () => {
  expect(deploymentOptions({})).toBeUndefined();
  expect(deploymentOptions({ IE_BUILD_ID: 'abc123' })).toEqual({
    version: { deploymentName: 'internet-explorer', buildId: 'abc123' },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'AUTO_UPGRADE',
  });
  expect(
    deploymentOptions({ IE_BUILD_ID: 'v2', IE_DEPLOYMENT_NAME: 'ie-prod', IE_VERSIONING_BEHAVIOR: 'pinned' }),
  ).toMatchObject({ version: { deploymentName: 'ie-prod', buildId: 'v2' }, defaultVersioningBehavior: 'PINNED' });
  expect(() => deploymentOptions({ IE_DEPLOYMENT_NAME: 'ie-prod' })).toThrow(/only with IE_BUILD_ID/);
  expect(() => deploymentOptions({ IE_BUILD_ID: 'v1', IE_VERSIONING_BEHAVIOR: 'sometimes' })).toThrow(
    /write auto-upgrade or pinned/,
  );
  expect(() => deploymentOptions({ IE_BUILD_ID: 'v 1' })).toThrow(/no spaces/);
});

test('a run started on build v1 finishes on build v2, made current while the run was paused', async () => {
  const { client, connection } = ns;
  const deployment = uniqueId('ie-deploy');
  const runId = uniqueId('it-versioning');
  const url = env.databaseUrl;
  const start = (buildId: string) =>
    startWatchedWorker(`${deployment}-${buildId}`, url, {
      env: { IE_BUILD_ID: buildId, IE_DEPLOYMENT_NAME: deployment },
    });
  const workers: WatchedWorker[] = [];
  try {
    workers.push(start('v1'));
    await makeCurrent(deployment, 'v1');
    const handle = await until('the run to start', async () => {
      try {
        return await startRun(client, runId, env.runConfig({ iterations: 2 }));
      } catch {
        return undefined; // search attributes reach a new namespace's visibility store within seconds
      }
    });
    await waitForProgress(handle, (p) => p.status === 'running' && p.iteration === 0);
    expect(await sendControl(client, runId, 'pause')).toMatchObject({ accepted: true });
    await waitForProgress(handle, (p) => p.status === 'paused');
    expect(await buildIdOf(handle)).toBe('v1');
    expect(await buildIdOf(client.workflow.getHandle(iterationWorkflowId(runId, 0)))).toBe('v1');

    // The rollout: v2 polls, becomes current, v1 goes away.
    workers.push(start('v2'));
    await makeCurrent(deployment, 'v2');
    await stopWorker(workers[0]);
    const { workerDeploymentInfo } = await connection.workflowService.describeWorkerDeployment({
      namespace: ns.name,
      deploymentName: deployment,
    });
    expect(workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId).toBe('v2');

    expect(await sendControl(client, runId, 'resume')).toMatchObject({ accepted: true });
    const result = await handle.result();
    expect(result.status).toBe('completed');
    expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);
    expect(await buildIdOf(client.workflow.getHandle(iterationWorkflowId(runId, 1)))).toBe('v2');
    // v2's worker ran iteration 1's stages; v1's had stopped.
    const stagesOf = (w: WatchedWorker) =>
      w.lines().filter((l) => l.msg === 'stage finished' && l.runId === runId && l.iteration === 1).length;
    expect(stagesOf(workers[0])).toBe(0);
    expect(stagesOf(workers[1])).toBeGreaterThanOrEqual(5);
  } finally {
    await Promise.all(workers.map(stopWorker));
  }
});
