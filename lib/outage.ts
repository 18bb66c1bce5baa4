// Riding out a service that is away (PostgreSQL, the object store): a call that could not reach it is made
// again, with backoff, until the service answers, a deadline passes or the activity is cancelled. The
// activity interceptors (activities/database-wait.ts, activities/store-wait.ts) set the deadline; heartbeats
// go on meanwhile (activities/heartbeat.ts), so a stage carries on where it was once the service is back.
import { sleep } from './yield';

/** How calls made under it wait out an outage. */
export interface OutageWait {
  /** Epoch ms after which the call fails with the error that made it wait. */
  deadline: number;
  signal?: AbortSignal;
  /** Called once per call that starts waiting, with the error that made it wait. */
  onWait?(error: unknown): void;
  /** Called when a call that waited has reached the service, with how long it waited. */
  onBack?(waitedMs: number): void;
  /** Called when a call that waited gives up (deadline, abort): it fails with `error`. */
  onGiveUp?(error: unknown): void;
}

const FIRST_DELAY_MS = 250;
const MAX_BACKOFF_MS = 5000;

/**
 * Runs `call` (a fresh execution each time) until it succeeds or fails in a way `unreachable` does not
 * recognise, as `wait` allows. Only errors that say the service was not reached (or did nothing) may be
 * recognised: the call is repeated as it was.
 */
export async function untilReached<T>(
  wait: OutageWait,
  call: () => Promise<T>,
  unreachable: (error: unknown) => boolean,
): Promise<T> {
  let waitingSince: number | undefined;
  for (let delay = FIRST_DELAY_MS; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      const value = await call();
      if (waitingSince !== undefined) wait.onBack?.(Date.now() - waitingSince);
      return value;
    } catch (error) {
      if (!unreachable(error) || wait.signal?.aborted || Date.now() + delay > wait.deadline) {
        if (waitingSince !== undefined) wait.onGiveUp?.(error);
        throw error;
      }
      if (waitingSince === undefined) {
        waitingSince = Date.now();
        wait.onWait?.(error);
      }
      await sleep(delay, wait.signal);
    }
  }
}
