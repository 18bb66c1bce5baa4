import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { STAGE_QUEUES, STAGES, WORKFLOW_QUEUE, noWorkerMessage } from '../contract';
import type { RunState } from './run-state';

/** A task queue a running run waits on that no worker polls. */
export interface MissingWorker {
  queue: string;
  /** The `ie worker` role that polls it. */
  role: string;
  /** The stage that waits, or undefined for the run's workflow tasks. */
  stage?: string;
}

const { TaskQueueType } = temporal.api.enums.v1;

/**
 * The queues a running run needs now and that no worker polls (Temporal lists the pollers it saw in the last
 * few minutes): its workflow queue always, and the queue of the stage in progress. Two DescribeTaskQueue
 * calls, whatever the run's size. A run that is not running needs none.
 */
export async function missingWorkers(client: Client, state: RunState): Promise<MissingWorker[]> {
  if (state.execution !== 'RUNNING') return [];
  const needed: (MissingWorker & { type: number })[] = [
    { queue: WORKFLOW_QUEUE, role: 'workflows', type: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW },
  ];
  const stage = state.progress?.status === 'running' ? state.progress.stage : undefined;
  const stageQueue =
    stage && (STAGES as readonly string[]).includes(stage) ? STAGE_QUEUES[stage as (typeof STAGES)[number]] : undefined;
  if (stageQueue) needed.push({ ...stageQueue, stage, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY });
  const missing: MissingWorker[] = [];
  for (const { type, ...want } of needed) if (!(await queuePolled(client, want.queue, type))) missing.push(want);
  return missing;
}

/** Whether any worker polled `queue` for tasks of `type` in the last few minutes (one DescribeTaskQueue call). */
export async function queuePolled(
  client: Client,
  queue: string,
  type: number = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
): Promise<boolean> {
  const described = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: queue },
    taskQueueType: type,
  });
  return (described.pollers ?? []).length > 0;
}

/** What to tell the user about queues nobody polls. */
export function missingWorkerText(missing: MissingWorker[]): string[] {
  return missing.map((m) => `warning: ${noWorkerMessage(m)}`);
}
