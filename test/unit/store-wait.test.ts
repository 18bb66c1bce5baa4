// Object-store requests under an activity wait out a store that is away; elsewhere they fail as before.
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '@temporalio/activity';
import { storeWait, storeWaitMs } from '../../activities/store-wait';
import { S3ObjectStore, storeUnreachable, withStoreWait } from '../../lib/storage';

jest.setTimeout(60_000);

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const storeAt = (port: number) =>
  new S3ObjectStore({
    bucket: 'b',
    prefix: '',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
  });

test('a store that is not there is recognised by socket errors, timeouts and 5xx answers; refusals are not', () => {
  expect(storeUnreachable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(
    true,
  );
  expect(
    storeUnreachable(new Error('outer', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })),
  ).toBe(true);
  expect(storeUnreachable(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(true);
  // What the SDK's retry middleware makes of an error from another realm: only the text is left.
  expect(storeUnreachable(new Error('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:1'))).toBe(true);
  const answered = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  expect(storeUnreachable(answered('SlowDown', 503))).toBe(true);
  expect(storeUnreachable(answered('InternalError', 500))).toBe(true);
  expect(storeUnreachable(answered('AccessDenied', 403))).toBe(false);
  expect(storeUnreachable(answered('NoSuchKey', 404))).toBe(false);
  expect(storeUnreachable(new Error('anything else'))).toBe(false);
});

test('under a wait a request goes on until the deadline, and fails with the socket error; without one at once', async () => {
  const store = storeAt(await closedPort());
  const events: string[] = [];
  let started = performance.now();
  await expect(store.exists('k')).rejects.toThrow(/ECONNREFUSED/);
  const alone = performance.now() - started;

  started = performance.now();
  const waited = withStoreWait(
    {
      deadline: Date.now() + 3000,
      onWait: () => events.push('wait'),
      onBack: () => events.push('back'),
      onGiveUp: () => events.push('give up'),
    },
    () => store.exists('k'),
  );
  await expect(waited).rejects.toThrow(/ECONNREFUSED/);
  // It went on for most of the 3 s it was given, longer than the request alone took. (Not "alone + 1.5 s": on a
  // busy machine the request alone can take most of a second, and the retries still stop at the deadline.)
  const waitedMs = performance.now() - started;
  expect(waitedMs).toBeGreaterThanOrEqual(1500);
  expect(waitedMs).toBeGreaterThan(alone);
  expect(events).toEqual(['wait', 'give up']);
  store.close();
});

test('a request that waited succeeds once the store answers', async () => {
  const port = await closedPort();
  const store = storeAt(port);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-store-wait-'));
  const events: string[] = [];
  // A stand-in answering every request with 200 and a body, started a second after the request began waiting.
  const server = net.createServer((socket) =>
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')),
  );
  try {
    const request = withStoreWait(
      {
        deadline: Date.now() + 30_000,
        onWait: () => {
          events.push('wait');
          setTimeout(() => server.listen(port, '127.0.0.1'), 1000);
        },
        onBack: () => events.push('back'),
      },
      () => store.download('k', path.join(root, 'copy')),
    );
    await expect(request).resolves.toBe(true);
    expect(fs.readFileSync(path.join(root, 'copy'), 'utf8')).toBe('hello');
    expect(events).toEqual(['wait', 'back']);
  } finally {
    server.close();
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the activity interceptor waits IE_STORE_WAIT_S at most, bounded by the attempt’s start-to-close timeout', async () => {
  delete process.env.IE_STORE_WAIT_S;
  expect(storeWaitMs()).toBe(600_000);
  process.env.IE_STORE_WAIT_S = 'soon';
  expect(() => storeWaitMs()).toThrow(/IE_STORE_WAIT_S=soon: give the seconds/);
  const store = storeAt(await closedPort());
  const ctx = (startToCloseTimeoutMs: number) =>
    ({
      info: { activityType: 'score', currentAttemptScheduledTimestampMs: Date.now(), startToCloseTimeoutMs },
      cancellationSignal: new AbortController().signal,
    }) as unknown as Context;
  const run = (c: Context) => storeWait(c).inbound!.execute!({ args: [], headers: {} }, () => store.exists('k'));
  process.env.IE_STORE_WAIT_S = '2';
  let started = performance.now();
  await expect(run(ctx(3600_000))).rejects.toThrow(/ECONNREFUSED/);
  expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
  // A minute to wait, but an attempt that must end within 5 s (less the margin to report) does not wait.
  process.env.IE_STORE_WAIT_S = '60';
  started = performance.now();
  await expect(run(ctx(5000))).rejects.toThrow(/ECONNREFUSED/);
  expect(performance.now() - started).toBeLessThan(20_000);
  store.close();
});
