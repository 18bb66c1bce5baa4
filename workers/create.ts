import fs from 'node:fs';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type WorkerOptions,
  type WorkflowBundle,
} from '@temporalio/worker';
import * as activities from '../activities';
import { databaseWait } from '../activities/database-wait';
import { storeWait } from '../activities/store-wait';
import { heartbeatPump } from '../activities/heartbeat';
import { warmUpActivities } from '../activities/warm-up';
import { stageWorkerCheck } from '../activities/worker-watch';
import { closeDb } from '../lib/db';
import { temporalAddress, temporalNamespace, temporalTarget } from '../lib/client/connect';
import { logger } from '../lib/logger';
import { UsageError } from '../lib/errors';
import { workflowBundle } from './workflow-bundle';
import { DOWNLOAD_QUEUE, IO_QUEUE, SCORE_QUEUE, TRAIN_QUEUE, WORKFLOW_QUEUE } from '../lib/contract';

export type WorkerRole = 'workflows' | 'io' | 'score' | 'train';
export const ALL_ROLES: WorkerRole[] = ['workflows', 'io', 'score', 'train'];

const { scoreCandidates, evaluateEncoder, trainEncoder, downloadShard } = activities;

type RoleWorkerOptions = Omit<WorkerOptions, 'connection' | 'namespace'>;

/** The workers a role runs: one per task queue it polls. */
function optionsFor(role: WorkerRole, bundle?: WorkflowBundle): RoleWorkerOptions[] {
  switch (role) {
    case 'workflows':
      return [
        {
          taskQueue: WORKFLOW_QUEUE,
          // workers/workflow-bundle.ts; absent only where nothing is created (readyLine reads the queues).
          workflowBundle: bundle,
          // The iteration's check for a stage waiting on a queue nobody polls runs here, as a local activity.
          activities: { stageWorkerCheck },
          enableNonLocalActivities: false,
        },
      ];
    case 'io':
      return [
        {
          taskQueue: IO_QUEUE,
          activities: {
            prepareRun: activities.prepareRun,
            finishRun: activities.finishRun,
            finishIteration: activities.finishIteration,
            sampleQueries: activities.sampleQueries,
            searchQueries: activities.searchQueries,
            downloadCandidates: activities.downloadCandidates,
            updateDistribution: activities.updateDistribution,
            recordControl: activities.recordControl,
            recordIterationFailure: activities.recordIterationFailure,
            markIterationRetried: activities.markIterationRetried,
            setRunStatus: activities.setRunStatus,
            addRunConcepts: activities.addRunConcepts,
          },
          maxConcurrentActivityTaskExecutions: 8,
        },
        // One download shard at a time per worker (`download.concurrency` fetches): each io host adds its slots.
        { taskQueue: DOWNLOAD_QUEUE, activities: { downloadShard }, maxConcurrentActivityTaskExecutions: 1 },
      ];
    case 'score':
      // ORT uses every core for one batch: one scoring job at a time per worker.
      return [
        {
          taskQueue: SCORE_QUEUE,
          activities: { scoreCandidates, evaluateEncoder },
          maxConcurrentActivityTaskExecutions: 1,
        },
      ];
    case 'train':
      // One training process per worker (one GPU, or this machine's cores).
      return [{ taskQueue: TRAIN_QUEUE, activities: { trainEncoder }, maxConcurrentActivityTaskExecutions: 1 }];
  }
}

/**
 * Runs workers for the given roles in this process until SIGINT/SIGTERM. Scale out by starting more
 * processes with a subset of roles (e.g. `train` on a GPU machine, `io` elsewhere).
 */
export async function runWorkers(
  roles: WorkerRole[],
  announce: (line: string) => void = () => undefined,
): Promise<void> {
  installRuntimeLogging();
  // Activities of the io role read WordNet and the word vectors: parse them before polling, not mid-activity.
  if (roles.includes('io')) await warmUpActivities();
  const connection = await NativeConnection.connect(temporalTarget().connectionOptions);
  try {
    const workers = await createWorkers(connection, roles);
    logger.info(
      {
        roles,
        address: temporalAddress(),
        namespace: temporalNamespace(),
        metrics: metricsAddress() ?? null,
        version: deploymentOptions()?.version ?? null,
      },
      'workers ready',
    );
    announce(readyLine(roles));
    // Lets a supervising process (the demo) know the workers poll, whatever the log level.
    if (process.env.IE_WORKER_READY_FILE) fs.writeFileSync(process.env.IE_WORKER_READY_FILE, `${process.pid}\n`);
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    await closeDb();
  }
}

/** What a started worker process polls, in one plain line. */
export function readyLine(roles: WorkerRole[]): string {
  const queues = roles
    .map(
      (role) =>
        `${role} → ${optionsFor(role)
          .map((o) => o.taskQueue)
          .join(' + ')}`,
    )
    .join(', ');
  const metrics = metricsAddress();
  return (
    `workers ready on ${temporalAddress()} (namespace ${temporalNamespace()}), polling ${queues}; ` +
    (metrics ? `metrics at http://${metrics}/metrics; ` : '') +
    'Ctrl-C stops them (an activity in flight is retried elsewhere)'
  );
}

/** SDK warnings that are expected of a worker with one role (a workflows-only worker has no activities). */
const EXPECTED_FOR_ONE_ROLE = /^No (activities|workflows) registered/;

let runtimeInstalled = false;

/** Routes the SDK's own logs through our structured logger, at IE_LOG_LEVEL (once per process). */
export function installRuntimeLogging(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.IE_LOG_LEVEL ?? 'info').toUpperCase();
  const sdkLevel: LogLevel = (['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level) ? level : 'INFO') as LogLevel;
  const sdkLog = logger.child({ component: 'temporal-sdk' });
  const metrics = metricsAddress();
  Runtime.install({
    // The SDK's metrics (task latencies, pollers, slots, failures) for Prometheus, at http://ADDRESS/metrics.
    ...(metrics && { telemetryOptions: { metrics: { prometheus: { bindAddress: metrics } } } }),
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level =
        entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error');
      const method = EXPECTED_FOR_ONE_ROLE.test(entry.message) ? 'debug' : level;
      // pino serialises errors under `err`; the SDK passes them as `error`.
      const { error, ...meta } = (entry.meta ?? {}) as { error?: unknown } & Record<string, unknown>;
      sdkLog[method](error === undefined ? meta : { ...meta, err: error }, entry.message);
    }),
  });
}

/**
 * Where this process serves its SDK metrics for Prometheus (IE_METRICS_ADDRESS, `host:port`, e.g.
 * `0.0.0.0:9464`); none when unset. Each worker process on a host needs a port of its own.
 */
export function metricsAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.IE_METRICS_ADDRESS?.trim();
  if (!value) return undefined;
  const match = /^(.+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535)
    throw new UsageError(
      `IE_METRICS_ADDRESS '${value}' is not host:port: set it to e.g. 0.0.0.0:9464 (or unset it for no metrics)`,
    );
  return value;
}

/** The deployment name workers use when IE_BUILD_ID is set and IE_DEPLOYMENT_NAME is not. */
export const DEFAULT_DEPLOYMENT_NAME = 'internet-explorer';

/**
 * Worker Versioning (Temporal worker deployments): with IE_BUILD_ID every worker of this process joins the
 * deployment IE_DEPLOYMENT_NAME (default `internet-explorer`) as version `<deployment>.<build id>`, and the
 * server sends each workflow's tasks, and the activities it schedules, to the workers of the version it runs
 * on: new code rolls out under running runs once `temporal worker deployment set-current-version` makes it
 * current. IE_VERSIONING_BEHAVIOR: `auto-upgrade` (default; a running run moves to the new current version at
 * its next task, so workflow changes stay replay-safe with patches, as docs/operations.md says) or `pinned`
 * (a run stays on the version it started on, until it continues as new).
 */
export function deploymentOptions(env: NodeJS.ProcessEnv = process.env): WorkerOptions['workerDeploymentOptions'] {
  const buildId = env.IE_BUILD_ID?.trim();
  if (!buildId) {
    if (env.IE_DEPLOYMENT_NAME || env.IE_VERSIONING_BEHAVIOR)
      throw new UsageError(
        'IE_DEPLOYMENT_NAME and IE_VERSIONING_BEHAVIOR take effect only with IE_BUILD_ID: set IE_BUILD_ID to ' +
          "this code's build id (e.g. its git commit), or unset them for unversioned workers",
      );
    return undefined;
  }
  const behavior = env.IE_VERSIONING_BEHAVIOR?.trim() || 'auto-upgrade';
  if (behavior !== 'auto-upgrade' && behavior !== 'pinned')
    throw new UsageError(`IE_VERSIONING_BEHAVIOR '${behavior}': write auto-upgrade or pinned`);
  if (/\s/.test(buildId) || buildId.length > 255)
    throw new UsageError(`IE_BUILD_ID '${buildId}': a build id has no spaces and at most 255 characters`);
  return {
    version: { deploymentName: env.IE_DEPLOYMENT_NAME?.trim() || DEFAULT_DEPLOYMENT_NAME, buildId },
    useWorkerVersioning: true,
    defaultVersioningBehavior: behavior === 'pinned' ? 'PINNED' : 'AUTO_UPGRADE',
  };
}

/** Creates (does not run) the workers of each role on `connection`: one per task queue the role polls. */
export async function createWorkers(connection: NativeConnection, roles: WorkerRole[] = ALL_ROLES): Promise<Worker[]> {
  const versioning = deploymentOptions();
  const bundle = roles.includes('workflows') ? await workflowBundle() : undefined;
  return Promise.all(
    roles
      .flatMap((role) => optionsFor(role, bundle))
      .map((options) =>
        Worker.create({
          connection,
          namespace: temporalNamespace(),
          ...(versioning && { workerDeploymentOptions: versioning }),
          // Every activity heartbeats through one pump (activities/heartbeat.ts), and waits out a database or
          // an object store that is away instead of failing (activities/database-wait.ts, store-wait.ts).
          interceptors: { activity: [heartbeatPump, databaseWait, storeWait] },
          ...options,
        }),
      ),
  );
}

export function parseRoles(arg: string | undefined): WorkerRole[] {
  if (!arg || arg === 'all') return ALL_ROLES;
  const roles = arg.split(',').map((r) => r.trim()) as WorkerRole[];
  const bad = roles.filter((r) => !ALL_ROLES.includes(r));
  if (bad.length) throw new Error(`unknown worker role(s) ${bad.join(', ')}: use ${ALL_ROLES.join(', ')} or all`);
  return roles;
}
