// The object store's calls ride out the store being away, as database calls do (lib/outage.ts): an activity
// runs with a wait (activities/store-wait.ts), under which a request that could not reach the store, or that
// the store answered with a server error after the SDK's own retries, is made again until it answers.
import { AsyncLocalStorage } from 'node:async_hooks';
import { untilReached, type OutageWait } from '../outage';

const storeWait = new AsyncLocalStorage<OutageWait>();

/** Runs `fn` with its object-store requests waiting out an outage (activities run in this; the CLI does not). */
export function withStoreWait<T>(wait: OutageWait, fn: () => Promise<T>): Promise<T> {
  return storeWait.run(wait, fn);
}

/** Makes `request` (a fresh request each time), waiting out an outage when the caller runs under a wait. */
export function waitingOutOutage<T>(request: () => Promise<T>): Promise<T> {
  const wait = storeWait.getStore();
  return wait ? untilReached(wait, request, storeUnreachable) : request();
}

/** Socket errors of a store that is down, restarting or cut off; none of them means a request was refused. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'ENOTFOUND',
]);
const UNREACHABLE_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
/** The same codes in a message: the SDK's retry middleware wraps an error it does not take for one (another
 * realm's, e.g. a VM context's) in a plain Error that keeps only the text. */
const UNREACHABLE_MESSAGE = new RegExp(`\\b(${[...UNREACHABLE_CODES].join('|')})\\b`);

/**
 * Whether an S3 request failed because the store was not there: a socket error, a timeout, or a 5xx answer
 * (S3's 500 InternalError and 503 SlowDown / ServiceUnavailable, a gateway's 502 and 504). Every request the
 * stores make is idempotent (whole-object PUT, GET, HEAD, list, delete), so repeating one is safe.
 */
export function storeUnreachable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, name, message, $metadata, cause } = e as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      $metadata?: { httpStatusCode?: number };
      cause?: unknown;
    };
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    if (typeof message === 'string' && UNREACHABLE_MESSAGE.test(message)) return true;
    if (typeof name === 'string' && UNREACHABLE_NAMES.has(name)) return true;
    const status = $metadata?.httpStatusCode;
    if (status !== undefined && status >= 500 && status <= 504) return true;
    e = cause;
  }
  return false;
}
