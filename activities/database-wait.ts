// Activities ride out PostgreSQL being away: an interceptor every worker installs runs each activity with its
// database calls waiting for the server to answer again (lib/db.ts `withDatabaseWait`), while the heartbeat
// pump keeps beating, instead of failing the attempt at once. A stage that loses its database for two minutes
// carries on where it was (the trainer keeps training; its checkpoints are recorded when the server is back).
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { db, withDatabaseWait } from '../lib/db';
import type { OutageWait } from '../lib/outage';
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

/** The activity's logger, naming it and its workflow. */
function activityLog(ctx: Context) {
  return logger.child({ activity: ctx.info.activityType, workflowId: ctx.info.workflowExecution?.workflowId });
}

/**
 * An activity's wait for `service` until `deadline`, logged: concurrent calls (a stage's fetches) wait together,
 * one line when the first starts waiting and one when the last has its answer or gives up. `gaveUp` says
 * whether a call waited until it gave up.
 */
export function loggedWait(
  ctx: Context,
  service: string,
  deadline: number,
): { wait: OutageWait; gaveUp: () => boolean } {
  const log = activityLog(ctx);
  let waiting = 0;
  let since = 0;
  let gaveUp = false;
  const done = () => --waiting === 0;
  const wait: OutageWait = {
    deadline,
    signal: ctx.cancellationSignal,
    onWait: (error) => {
      if (waiting++ > 0) return;
      since = Date.now();
      log.warn(
        { reason: unreachableReason(error), waitS: Math.round((deadline - Date.now()) / 1000) },
        `${service} is not answering; the activity waits for it`,
      );
    },
    onBack: () => {
      if (done()) log.warn({ waitedS: Math.round((Date.now() - since) / 1000) }, `${service} answers again`);
    },
    onGiveUp: (error) => {
      gaveUp = true;
      if (done()) log.warn({ reason: unreachableReason(error) }, `gave up waiting for ${service}`);
    },
  };
  return { wait, gaveUp: () => gaveUp };
}

/** The activity interceptor (workers/create.ts). */
export function databaseWait(ctx: Context): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        const deadline = waitDeadline(ctx.info);
        const { wait, gaveUp } = loggedWait(ctx, 'PostgreSQL', deadline);
        try {
          return await withDatabaseWait(wait, () => next(input));
        } catch (error) {
          // Cut off mid-statement, or a transaction that could not begin: the attempt fails, but only once the
          // server answers again, so its retry finds it rather than failing the same way at once. (A call that
          // waited until the deadline has waited enough.)
          if (isDatabaseUnavailable(error) && !gaveUp() && !ctx.cancellationSignal.aborted) {
            activityLog(ctx).warn(
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
