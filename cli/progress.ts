import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Progress } from '../workflows/types';
import { temporalAddress } from '../workers/create';
import { ServiceUnavailableError, UsageError, isUnreachable } from './exit';

export interface RunState {
  /** Temporal's status of the latest execution of the run's chain (RUNNING, COMPLETED, FAILED, …). */
  execution: string;
  /** null when no worker answered the query (a closed run's query needs a worker to replay it). */
  progress: Progress | null;
}

const QUERY_TIMEOUT_MS = 10_000;

/** The run's Temporal status and progress; bad ids and unreachable servers become clear errors. */
export async function readRunState(client: Client, runId: string): Promise<RunState> {
  const handle = client.workflow.getHandle(runId);
  let execution: string;
  try {
    execution = (await handle.describe()).status.name;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new UsageError(`no workflow '${runId}' on Temporal (${temporalAddress()}); ie list shows the runs`);
    if (isUnreachable(error))
      throw new ServiceUnavailableError(
        `Temporal is not reachable at ${temporalAddress()}: ${(error as Error).message}`,
      );
    throw error;
  }
  // A completed run's result is its final progress: no worker needed.
  if (execution === 'COMPLETED') return { execution, progress: (await handle.result()) as Progress };
  try {
    const progress = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
      handle.query<Progress>('progress'),
    );
    return { execution, progress };
  } catch {
    return { execution, progress: null };
  }
}
