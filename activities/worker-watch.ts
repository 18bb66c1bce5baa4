// A local activity of the workflow worker: whether a stage's activity that has waited a while has started,
// and whether any worker polls its queue. It lets an iteration say, in the run's details in the Web UI,
// that a stage waits for a worker nobody started (e.g. no GPU worker). Two RPCs a check; an iteration checks
// a stage only until its activity starts, at growing intervals (workflows/iteration.ts).
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { connectClient } from '../lib/client/connect';
import { queuePolled } from '../lib/client/missing-workers';

const { PendingActivityState } = temporal.api.enums.v1;

let client: Promise<Client> | undefined;

export interface StageWorkerCheck {
  /** The activity has started (or is no longer pending): nothing more to watch. */
  started: boolean;
  /** Some worker polled the queue in the last few minutes. */
  polled: boolean;
}

export async function stageWorkerCheck(input: {
  workflowId: string;
  runId: string;
  activityType: string;
  queue: string;
}): Promise<StageWorkerCheck> {
  client ??= connectClient().catch((error: unknown) => {
    client = undefined;
    throw error;
  });
  const c = await client;
  const described = await c.workflow.getHandle(input.workflowId, input.runId).describe();
  const pending = (described.raw.pendingActivities ?? []).filter((a) => a.activityType?.name === input.activityType);
  const started =
    pending.length === 0 || pending.some((a) => a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED);
  if (started) return { started, polled: true };
  return { started, polled: await queuePolled(c, input.queue) };
}
