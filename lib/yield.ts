/**
 * Long loops in activities give the event loop a turn every so often, so timers (the heartbeat pump) and
 * I/O keep running while they work: `for (…) { …; await yieldEvery(i, 4096); }`.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Yields once every `every` iterations of a loop at index `i` (a no-op in between). */
export async function yieldEvery(i: number, every: number): Promise<void> {
  if (i > 0 && i % every === 0) await yieldToEventLoop();
}

/** Resolves after `ms`, or at once when `signal` aborts (or has aborted). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
