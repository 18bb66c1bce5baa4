import { Context } from '@temporalio/activity';
import { db, withDbClock } from '../lib/db';
import { logger, type Logger } from '../lib/logger';
import { DiskFullError, diskFullPath, isDiskFull } from '../lib/errors';
import { reportProgress } from './heartbeat';
import type { StageRef } from '../lib/contract';

export interface StageContext {
  log: Logger;
  /** Records progress (the worker's heartbeat pump sends it; activities/heartbeat.ts). */
  heartbeat(details?: unknown): void;
  /** Details of the last heartbeat of a previous attempt (to resume from). */
  previousDetails<T>(): T | undefined;
  attempt: number;
  signal: AbortSignal;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (CLI, tests)
  }
}

export interface StageOptions {
  /** Record the stage's timing (default). A part of a stage that others share (a download shard) does not. */
  record?: boolean;
  /** More fields for every log line (e.g. the shard). */
  bind?: Record<string, unknown>;
  /** When the stage began, if before this activity (a closing pass after its shards): its timing counts from then. */
  startedAt?: Date;
}

/**
 * Runs one stage of an iteration: logs with run/iteration/stage bound, measures wall time and the part
 * spent in the database, and records both (an upsert, so a retried stage overwrites its own timing).
 */
export async function runStage<T>(
  stage: string,
  ref: StageRef,
  fn: (ctx: StageContext) => Promise<T>,
  options: StageOptions = {},
): Promise<T> {
  const activity = activityContext();
  const attempt = activity?.info.attempt ?? 1;
  const log = logger.child({ runId: ref.runId, iteration: ref.iteration, stage, attempt, ...options.bind });
  const startedAt = options.startedAt ?? new Date();
  const started = performance.now() - (Date.now() - startedAt.getTime());
  log.info(options.record === false ? 'stage part started' : 'stage started');
  const ctx: StageContext = {
    log,
    attempt,
    signal: activity?.cancellationSignal ?? new AbortController().signal,
    heartbeat: reportProgress,
    previousDetails: <D>() => activity?.info.heartbeatDetails as D | undefined,
  };
  try {
    const { value, dbMs } = await withDbClock(() => fn(ctx));
    const ms = Math.round(performance.now() - started);
    if (options.record === false) {
      log.info({ ms, dbMs: Math.round(dbMs) }, 'stage part finished');
      return value;
    }
    const row = { startedAt, finishedAt: new Date(), ms, dbMs: Math.round(dbMs), attempt };
    await db().stageTiming.upsert({
      where: { runId_iteration_stage: { runId: ref.runId, iteration: ref.iteration, stage } },
      create: { runId: ref.runId, iteration: ref.iteration, stage, ...row },
      update: row,
    });
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { stage },
    });
    log.info({ ms, dbMs: row.dbMs }, 'stage finished');
    return value;
  } catch (error) {
    log.error({ err: error }, 'stage failed');
    if (isDiskFull(error)) throw diskFull(stage, ref, error);
    throw error;
  }
}

/**
 * The error a stage that ran out of disk space fails with: what filled, and the way out (the OS's message is in
 * it, not a cause: the run reports a failure's innermost cause).
 */
function diskFull(stage: string, ref: StageRef, error: unknown): DiskFullError {
  const file = diskFullPath(error);
  return new DiskFullError(
    `disk full: the ${stage} stage of iteration ${ref.iteration} could not write ${file ?? 'its files'} ` +
      `(${(error as Error).message}). Free space on that disk (or point IE_STATE_DIR, IE_STORE_DIR at a larger ` +
      `one), then run: ie retry-iteration ${ref.runId} ${ref.iteration}`,
  );
}
