// The one heartbeat mechanism of every activity: a pump, installed as an activity interceptor by every
// worker, heartbeats the running activity every sixth of its heartbeat timeout (so a beat delayed by a busy
// machine still lands within a third of it) with the latest progress it reported. Activities only report progress (`reportProgress`) and keep the
// event loop free (long CPU work runs in native code, a thread or a subprocess); waits of any length
// (Retry-After, a subprocess, the database) then heartbeat by themselves, with no timer per stage.
import { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';

/** The progress each running activity last reported (what the pump sends). */
const latest = new WeakMap<Context, unknown>();

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (CLI, tests)
  }
}

/** Records the running activity's progress and heartbeats it now; a no-op outside an activity. */
export function reportProgress(details?: unknown): void {
  const ctx = currentContext();
  if (!ctx) return;
  latest.set(ctx, details);
  ctx.heartbeat(details);
}

/** How often the pump beats for an activity with this heartbeat timeout. */
export function pumpIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(50, Math.floor(heartbeatTimeoutMs / 6));
}

/**
 * The activity interceptor every worker installs (workers/create.ts). Until the activity reports progress
 * of its own, the pump repeats the details of the previous attempt, so a retry still finds them.
 */
export function heartbeatPump(ctx: Context): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        const timeout = ctx.info.heartbeatTimeoutMs;
        if (!timeout) return next(input);
        if (ctx.info.heartbeatDetails !== undefined) latest.set(ctx, ctx.info.heartbeatDetails);
        const timer = setInterval(() => ctx.heartbeat(latest.get(ctx)), pumpIntervalMs(timeout));
        try {
          return await next(input);
        } finally {
          clearInterval(timer);
        }
      },
    },
  };
}
