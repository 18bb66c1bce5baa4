// Helpers for tests that watch a run the way the Web UI does: queries, current details, search attributes.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { sleep } from '../../lib/services/process';
import { progressQuery, type Progress, type RunStatus } from '../../lib/contract';
import { db, runStatusOf } from '../../lib/db';

/** Polls the `progress` query until `done` holds (queries fail briefly between Continue-As-New runs). */
export async function waitForProgress(
  handle: WorkflowHandle,
  done: (p: Progress) => boolean,
  timeoutMs = 10 * 60_000,
): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let last: Progress | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(progressQuery);
      if (done(last)) return last;
    } catch {
      // between runs of the chain
    }
    await sleep(500);
  }
  throw new Error(`run ${handle.workflowId} did not reach the expected state; last progress: ${JSON.stringify(last)}`);
}

/** The run's current details (what the Web UI shows), read through the SDK's metadata query. */
export async function currentDetails(handle: WorkflowHandle): Promise<string> {
  const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return meta.currentDetails ?? '';
}

/** Workflow ids a visibility query lists, polled until `expected` is among them (visibility lags a little). */
export async function waitForListed(client: Client, query: string, expected: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let ids: string[] = [];
  while (Date.now() < deadline) {
    ids = [];
    for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
    if (ids.includes(expected)) return ids;
    await sleep(500);
  }
  throw new Error(`${expected} not listed by ${query} within ${timeoutMs} ms (listed: ${ids.join(', ') || 'none'})`);
}

/**
 * Polls the run's row until its status is `status`: the workflow publishes its state (queries, search attributes)
 * before the activity that records the same status in the database has run.
 */
export async function waitForRecordedStatus(runId: string, status: RunStatus, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    last = runStatusOf((await db().run.findUniqueOrThrow({ where: { id: runId } })).status);
    if (last === status) return;
    await sleep(250);
  }
  throw new Error(`run ${runId} is recorded as ${last}, not ${status}, after ${timeoutMs} ms`);
}
