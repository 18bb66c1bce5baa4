// Activities ride out PostgreSQL being away: an interceptor every worker installs runs each activity with its
// database calls waiting for the server to answer again (lib/db.ts `withDatabaseWait`), while the heartbeat
// pump keeps beating, instead of failing the attempt at once. A stage that loses its database for two minutes
// carries on where it was (the trainer keeps training; its checkpoints are recorded when the server is back).
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { db, withDatabaseWait, type DatabaseWait } from '../lib/db';
import { isDatabaseUnavailable, unreachableReason } from '../lib/errors';
import { logger } from '../lib/logger';

/** How long one attempt waits for the database at most (IE_DB_WAIT_S, default 10 minutes). */
export function databaseWaitMs(): number {
  const seconds = Number(process.env.IE_DB_WAIT_S ?? 600);
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 600) * 1000;
}

/** Left of an attempt's start-to-close timeout when its waiting gives up, for the failure to be reported. */
const REPORT_MARGIN_MS = 5000;

/**
 * When an attempt stops waiting: after `waitMs` (the database's by default), and before its start-to-close
 * timeout, so an attempt that waited in vain fails (and is retried by its policy) rather than timing out unheard.
 */
export function waitDeadline(info: Context['info'], now = Date.now(), waitMs = databaseWaitMs()): number {
  const byTimeout = info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs - REPORT_MARGIN_MS;
  return Math.min(now + waitMs, byTimeout);
}

/** The activity interceptor (workers/create.ts). */
export function databaseWait(ctx: Context): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        const deadline = waitDeadline(ctx.info);
        const log = logger.child({
          activity: ctx.info.activityType,
          workflowId: ctx.info.workflowExecution?.workflowId,
        });
        // Concurrent calls (a download's fetches) wait together: one line when the first starts waiting, one
        // when the last has its connection.
        let waiting = 0;
        let since = 0;
        let gaveUp = false;
        const done = () => --waiting === 0;
        const wait: DatabaseWait = {
          deadline,
          signal: ctx.cancellationSignal,
          onWait: (error) => {
            if (waiting++ > 0) return;
            since = Date.now();
            log.warn(
              { reason: unreachableReason(error), waitS: Math.round((deadline - Date.now()) / 1000) },
              'PostgreSQL is not answering; the activity waits for it',
            );
          },
          onBack: () => {
            if (done()) log.warn({ waitedS: Math.round((Date.now() - since) / 1000) }, 'PostgreSQL answers again');
          },
          onGiveUp: (error) => {
            gaveUp = true;
            if (done()) log.warn({ reason: unreachableReason(error) }, 'gave up waiting for PostgreSQL');
          },
        };
        try {
          return await withDatabaseWait(wait, () => next(input));
        } catch (error) {
          // Cut off mid-statement, or a transaction that could not begin: the attempt fails, but only once the
          // server answers again, so its retry finds it rather than failing the same way at once. (A call that
          // waited until the deadline has waited enough.)
          if (isDatabaseUnavailable(error) && !gaveUp && !ctx.cancellationSignal.aborted) {
            log.warn(
              { reason: unreachableReason(error) },
              'the attempt lost PostgreSQL; it fails once PostgreSQL answers',
            );
            const probe = { deadline, signal: ctx.cancellationSignal };
            await withDatabaseWait(probe, () => db().$queryRaw`SELECT 1`).catch(() => undefined);
          }
          throw error;
        }
      },
    },
  };
}
