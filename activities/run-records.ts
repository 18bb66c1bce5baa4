import type { IterationFailure, Prisma } from '@prisma/client';
import { db, dbRunStatus } from '../lib/db';
import { logger } from '../lib/logger';
import type { ControlKind } from '../lib/contract';

export interface ControlRecord {
  runId: string;
  kind: ControlKind;
  payload: object;
  iteration: number;
  /** Unique per update: a retried call finds the row it wrote instead of adding another. */
  requestId: string;
}

/** Records a control the run accepted. */
export async function recordControl(c: ControlRecord): Promise<void> {
  const row = {
    runId: c.runId,
    kind: c.kind,
    payload: c.payload as Prisma.InputJsonValue,
    iteration: c.iteration,
    accepted: true,
  };
  await db().runControl.upsert({
    where: { requestId: c.requestId },
    create: { ...row, requestId: c.requestId },
    update: {},
  });
  logger.info({ runId: c.runId, iteration: c.iteration, kind: c.kind, payload: c.payload }, 'control recorded');
}

/** Records a control the run refused (its validator ran before anything entered the run's history). */
export async function recordRejectedControl(
  c: Omit<ControlRecord, 'iteration' | 'requestId'> & { reason: string },
): Promise<void> {
  // A run that failed before it was prepared has no row to own the record: say so in the log instead.
  const known = await db().run.count({ where: { id: c.runId } });
  if (known === 0) {
    logger.warn(
      { runId: c.runId, kind: c.kind, reason: c.reason },
      'control rejected; not recorded: the run is not in the database (it failed before it was prepared)',
    );
    return;
  }
  await db().runControl.create({
    data: {
      runId: c.runId,
      kind: c.kind,
      payload: c.payload as Prisma.InputJsonValue,
      accepted: false,
      reason: c.reason,
    },
  });
  logger.info({ runId: c.runId, kind: c.kind, reason: c.reason }, 'control rejected');
}

/**
 * The temperature set by hand that applies to `iteration`'s update stage: the latest accepted one whose
 * `fromIteration` is at most `iteration` (null when none), so a re-run iteration sees what the first run saw.
 */
export async function temperatureOverride(runId: string, iteration: number): Promise<number | null> {
  const rows = await db().runControl.findMany({
    where: { runId, kind: 'temperature', accepted: true },
    orderBy: { id: 'desc' },
  });
  for (const row of rows) {
    const p = row.payload as { temperature?: unknown; fromIteration?: unknown };
    if (typeof p.temperature === 'number' && typeof p.fromIteration === 'number' && p.fromIteration <= iteration)
      return p.temperature;
  }
  return null;
}

/** Records a failed iteration execution; the run waits for a retry. */
export async function recordIterationFailure(
  f: Pick<IterationFailure, 'runId' | 'iteration' | 'failure' | 'error'>,
): Promise<void> {
  await db().iterationFailure.upsert({
    where: { runId_iteration_failure: { runId: f.runId, iteration: f.iteration, failure: f.failure } },
    create: f,
    update: { error: f.error },
  });
  await db().run.updateMany({ where: { id: f.runId }, data: { status: dbRunStatus('waiting-retry') } });
  logger.warn(
    { runId: f.runId, iteration: f.iteration, failure: f.failure, error: f.error },
    'iteration failed; run waits for a retry',
  );
}

export async function markIterationRetried(f: { runId: string; iteration: number; failure: number }): Promise<void> {
  await db().iterationFailure.updateMany({
    where: { runId: f.runId, iteration: f.iteration, failure: f.failure, retriedAt: null },
    data: { retriedAt: new Date() },
  });
  await db().run.updateMany({ where: { id: f.runId }, data: { status: 'running' } });
  logger.info({ runId: f.runId, iteration: f.iteration }, 'failed iteration re-runs');
}

/** Run status between iterations ('paused' while waiting, 'running' again once resumed). */
export async function setRunStatus({ runId, status }: { runId: string; status: 'running' | 'paused' }): Promise<void> {
  await db().run.updateMany({ where: { id: runId }, data: { status } });
  logger.info({ runId, status }, 'run status');
}
