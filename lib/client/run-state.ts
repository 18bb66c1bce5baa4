import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { progressQuery, type Progress } from '../contract';
import { ServiceUnavailableError, UsageError, isUnreachable } from '../errors';
import { temporalAddress } from './connect';

export interface RunState {
  /** Temporal's status of the latest execution of the run's chain (RUNNING, COMPLETED, FAILED, …). */
  execution: string;
  /** null when no worker answered the query (a closed run's query needs a worker to replay it). */
  progress: Progress | null;
  /** Why the execution failed, for a FAILED (or TERMINATED, TIMED_OUT) one: read without any worker. */
  failure?: string;
}

const QUERY_TIMEOUT_MS = 10_000;

/** Executions that are over (a chain's latest execution is never CONTINUED_AS_NEW for long). */
export const CLOSED_EXECUTIONS = new Set(['COMPLETED', 'FAILED', 'TERMINATED', 'CANCELLED', 'CANCELED', 'TIMED_OUT']);

/** The run's Temporal status and progress; bad ids and unreachable servers become clear errors. */
export async function readRunState(client: Client, runId: string): Promise<RunState> {
  const handle = client.workflow.getHandle(runId);
  let execution: string;
  try {
    execution = (await handle.describe()).status.name;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new UsageError(`no run '${runId}' on Temporal (${temporalAddress()}); ie list shows the runs`);
    if (isUnreachable(error))
      throw new ServiceUnavailableError(
        `Temporal is not reachable at ${temporalAddress()}: ${(error as Error).message}`,
      );
    throw error;
  }
  // A completed run's result is its final progress: no worker needed.
  if (execution === 'COMPLETED') return { execution, progress: (await handle.result()) as Progress };
  const failure = CLOSED_EXECUTIONS.has(execution) ? await failureOf(() => handle.result()) : undefined;
  try {
    const progress = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
      handle.query(progressQuery),
    );
    return { execution, progress, failure };
  } catch {
    return { execution, progress: null, failure };
  }
}

/** The innermost message of a closed execution's failure. */
async function failureOf(result: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await result();
    return undefined;
  } catch (error) {
    let e: unknown = error;
    let message = (error as Error).message;
    while (e && typeof e === 'object' && 'cause' in e && e.cause) {
      e = e.cause;
      if (e instanceof Error && e.message) message = e.message;
    }
    return message;
  }
}
