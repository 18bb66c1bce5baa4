// Activities ride out the object store being away as they ride out PostgreSQL (activities/database-wait.ts):
// an interceptor every worker installs runs each activity with its object-store requests waiting for the
// store to answer again (lib/storage/store-wait.ts), while the heartbeat pump keeps beating. An S3 service
// restarting for an upgrade, or a network partition between a worker and the store, then costs the stage
// time, not the iteration.
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { withStoreWait } from '../lib/storage';
import { UsageError } from '../lib/errors';
import { loggedWait, waitDeadline } from './database-wait';

/** How long one attempt waits for the object store at most (IE_STORE_WAIT_S, default 10 minutes). */
export function storeWaitMs(): number {
  const raw = process.env.IE_STORE_WAIT_S;
  if (raw === undefined || raw === '') return 600_000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new UsageError(
      `IE_STORE_WAIT_S=${raw}: give the seconds an activity may wait for the object store, e.g. 600`,
    );
  return seconds * 1000;
}

/** The activity interceptor (workers/create.ts). */
export function storeWait(ctx: Context): ActivityInterceptors {
  return {
    inbound: {
      execute(input, next) {
        const deadline = waitDeadline(ctx.info, Date.now(), storeWaitMs());
        const { wait } = loggedWait(ctx, 'the object store', deadline);
        return withStoreWait(wait, () => next(input));
      },
    },
  };
}
