import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants as zlibConstants, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { fetchBytes, type FetchOptions } from '../../activities/download/fetch';
import { AddressGuard, HostAllowlist, type Resolver } from '../../activities/download/guard';
import { HostLimiter } from '../../activities/download/hosts';
import { fetchPolicy } from '../../activities/download/policy';
import { parseRunConfig } from '../../lib/config';

// A real HTTP server on 127.0.0.1; it is allowlisted explicitly (loopback is otherwise refused).
let server: Server;
let base: string;
let port: number;
let png: Buffer;
const hits = new Map<string, number>();
let active = 0;
let maxActive = 0;
let bigBytesWritten = 0;
let bigClosed = false;
let lastUserAgent = '';
/** Decompression bombs: a PNG's first bytes, then 64 MiB of zeros, compressed to a few KB. */
const bombs: Record<string, Buffer> = {};
const BOMB_INFLATED = 64 * 1024 * 1024;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', base);
  const key = url.pathname + url.search;
  hits.set(key, (hits.get(key) ?? 0) + 1);
  const n = hits.get(key) as number;
  lastUserAgent = req.headers['user-agent'] ?? '';
  const image = (): void => {
    res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
  };
  switch (url.pathname) {
    case '/img.png':
      return image();
    case '/html-as-jpeg':
      res.writeHead(200, { 'Content-Type': 'image/jpeg' });
      return void res.end('<!DOCTYPE html><html><head><title>Not found</title></head><body>gone</body></html>');
    case '/busy': // 503 with Retry-After: 1 the first time, then the image
      if (n === 1) return void res.writeHead(503, { 'Retry-After': '1' }).end();
      return image();
    case '/throttled': // 429 with an HTTP-date Retry-After, then the image
      if (n === 1) {
        const at = new Date(Date.now() + 1500).toUTCString();
        return void res.writeHead(429, { 'Retry-After': at }).end();
      }
      return image();
    case '/long-retry-after':
      return void res.writeHead(429, { 'Retry-After': '3600' }).end();
    case '/error':
      return void res.writeHead(500).end('boom');
    case '/missing':
      return void res.writeHead(404).end('nope');
    case '/redirect':
      return void res.writeHead(302, { Location: url.searchParams.get('to') ?? '/' }).end();
    case '/loop':
      return void res.writeHead(301, { Location: '/loop' }).end();
    case '/endless': {
      // An endless body: the client must stop reading (and close) once past maxBytes.
      bigBytesWritten = 0;
      bigClosed = false;
      res.writeHead(200, { 'Content-Type': 'image/png' });
      const chunk = Buffer.concat([png, Buffer.alloc(64 * 1024)]);
      const pump = () => {
        while (!bigClosed && bigBytesWritten < 200 * 1024 * 1024) {
          bigBytesWritten += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => (bigClosed = true));
      return pump();
    }
    case '/declared-huge':
      return void res.writeHead(200, { 'Content-Length': String(50 * 1024 * 1024) }).write(png);
    case '/stall': // headers and the start of an image, then nothing
      res.writeHead(200, { 'Content-Type': 'image/png' });
      return void res.write(png.subarray(0, 40));
    case '/robots':
      return void res.writeHead(200, { 'X-Robots-Tag': 'noai, noimageai' }).end(png);
    case '/compress-zstd': // an encoding nobody here decodes
      return void res.writeHead(200, { 'Content-Encoding': 'zstd' }).end(png);
    case '/truncated': // promises more than it sends, then hangs up
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(png.length * 2) });
      res.write(png);
      return void setTimeout(() => res.destroy(), 20);
    case '/gzip':
      return void res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(png));
    case '/deflate':
      return void res.writeHead(200, { 'Content-Encoding': 'deflate' }).end(deflateSync(png));
    case '/deflate-raw':
      return void res.writeHead(200, { 'Content-Encoding': 'deflate' }).end(deflateRawSync(png));
    case '/bomb': {
      const encoding = url.searchParams.get('encoding') as string;
      const body = bombs[encoding];
      return void res
        .writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': encoding, 'Content-Length': body.length })
        .end(body);
    }
    case '/slow': {
      active++;
      maxActive = Math.max(maxActive, active);
      setTimeout(() => {
        active--;
        image();
      }, 150);
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  png = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#4477aa' } })
    .png()
    .toBuffer();
  const inflated = Buffer.concat([png.subarray(0, 64), Buffer.alloc(BOMB_INFLATED - 64)]);
  bombs.gzip = gzipSync(inflated, { level: 9 });
  bombs.deflate = deflateSync(inflated, { level: 9 });
  bombs.br = brotliCompressSync(inflated, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5 } });
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => hits.clear());

function options(overrides: Partial<FetchOptions> = {}, allow = [`127.0.0.1:${port}`], resolver?: Resolver) {
  return {
    timeoutMs: 3000,
    connectTimeoutMs: 1000,
    maxBytes: 1024 * 1024,
    maxRedirects: 3,
    retries: 2,
    backoffMs: 50,
    maxRetryAfterMs: 5000,
    respectRobotsTag: true,
    userAgent: 'InternetExplorerBot/0.1 (+https://example.org/contact)',
    guard: new AddressGuard(new HostAllowlist(allow), resolver),
    ...overrides,
  } satisfies FetchOptions;
}

test('an image is fetched, identified by its bytes, with our User-Agent', async () => {
  const r = await fetchBytes(`${base}/img.png`, options());
  expect(r).toMatchObject({ ok: true, format: 'png', httpStatus: 200, attempts: 1 });
  expect(r.ok && r.bytes.equals(png)).toBe(true);
  expect(lastUserAgent).toBe('InternetExplorerBot/0.1 (+https://example.org/contact)');
});

test('the allowlist is needed: the same loopback server is refused without it', async () => {
  expect(await fetchBytes(`${base}/img.png`, options({}, []))).toMatchObject({
    ok: false,
    reason: 'blocked_address',
    retryable: false,
  });
  expect(hits.size).toBe(0);
});

test('HTML served as image/jpeg is not_an_image', async () => {
  expect(await fetchBytes(`${base}/html-as-jpeg`, options())).toMatchObject({ ok: false, reason: 'not_an_image' });
});

test('503 with Retry-After in seconds is retried after waiting', async () => {
  const started = Date.now();
  const r = await fetchBytes(`${base}/busy`, options());
  expect(r).toMatchObject({ ok: true, attempts: 2 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(950);
});

test('429 with Retry-After as an HTTP date is retried after waiting', async () => {
  const started = Date.now();
  const r = await fetchBytes(`${base}/throttled`, options());
  expect(r).toMatchObject({ ok: true, attempts: 2 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(400); // HTTP dates have one-second resolution
});

test('a Retry-After beyond maxRetryAfterMs is not waited for; the failure stays retryable', async () => {
  const started = Date.now();
  const r = await fetchBytes(`${base}/long-retry-after`, options());
  expect(r).toMatchObject({ ok: false, reason: 'http_429', retryable: true, attempts: 1 });
  expect(Date.now() - started).toBeLessThan(30_000); // waiting would take the hour it asks for
});

test('5xx is retried with backoff up to `retries`; 404 is permanent and not retried', async () => {
  expect(await fetchBytes(`${base}/error`, options())).toMatchObject({
    ok: false,
    reason: 'http_500',
    retryable: true,
    attempts: 3,
  });
  expect(hits.get('/error')).toBe(3);
  expect(await fetchBytes(`${base}/missing`, options())).toMatchObject({
    reason: 'http_404',
    retryable: false,
    attempts: 1,
  });
  expect(hits.get('/missing')).toBe(1);
});

test('redirects are followed, up to maxRedirects', async () => {
  const to = encodeURIComponent(`/redirect?to=${encodeURIComponent('/img.png')}`);
  expect(await fetchBytes(`${base}/redirect?to=${to}`, options())).toMatchObject({ ok: true });
  expect(await fetchBytes(`${base}/loop`, options())).toMatchObject({ ok: false, reason: 'too_many_redirects' });
  expect(hits.get('/loop')).toBe(4); // the first request and 3 redirects
});

test.each([
  'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
  'http://10.0.0.1/internal.png',
  'http://[fd00:ec2::254]/latest/meta-data/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'http://100.100.100.200/latest/meta-data/',
  'http://127.0.0.1:1/img.png', // loopback, but not the allowlisted port
  'http://[::ffff:127.0.0.1]/img.png', // IPv4-mapped loopback
  'http://[::127.0.0.1]/img.png', // IPv4-compatible loopback (::/96), `[::7f00:1]` once parsed
  'http://0x7f.1/img.png', // loopback spelt in hex
])('a redirect from an allowed host to %s is refused before connecting', async (target) => {
  const resolved: string[] = [];
  const resolver: Resolver = async (host) => {
    resolved.push(host);
    return [{ address: '93.184.216.34', family: 4 }]; // whatever a name resolves to, names are checked too
  };
  const r = await fetchBytes(`${base}/redirect?to=${encodeURIComponent(target)}`, options({}, undefined, resolver));
  expect(r).toMatchObject({ ok: false, reason: 'blocked_address', retryable: false });
  expect(resolved).toEqual([]); // metadata names are refused by name, addresses without DNS
});

test('the connection goes to the address that was checked (a name the system cannot resolve works)', async () => {
  const resolver: Resolver = async (host) => {
    expect(host).toBe('images.pinned.invalid');
    return [{ address: '127.0.0.1', family: 4 }];
  };
  const opts = options({}, [`images.pinned.invalid:${port}`], resolver);
  expect(await fetchBytes(`http://images.pinned.invalid:${port}/img.png`, opts)).toMatchObject({ ok: true });
});

test('an endless body is aborted past maxBytes while streaming, not buffered', async () => {
  const r = await fetchBytes(`${base}/endless`, options({ maxBytes: 256 * 1024 }));
  expect(r).toMatchObject({ ok: false, reason: 'too_large', retryable: false });
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(bigClosed).toBe(true);
  expect(bigBytesWritten).toBeLessThan(20 * 1024 * 1024); // socket buffers, not the 200 MB on offer
});

test('a declared Content-Length over maxBytes is refused from the headers', async () => {
  expect(await fetchBytes(`${base}/declared-huge`, options())).toMatchObject({ ok: false, reason: 'too_large' });
});

test('a stalled body is a (retryable) timeout', async () => {
  const started = Date.now();
  const r = await fetchBytes(`${base}/stall`, options({ timeoutMs: 300, retries: 1 }));
  expect(r).toMatchObject({ ok: false, reason: 'timeout', retryable: true, attempts: 2 });
  expect(Date.now() - started).toBeLessThan(20_000); // the stalled body never ends by itself
});

test('X-Robots-Tag noai opts out unless respectRobotsTag is off', async () => {
  expect(await fetchBytes(`${base}/robots`, options())).toMatchObject({ ok: false, reason: 'opted_out' });
  expect(await fetchBytes(`${base}/robots`, options({ respectRobotsTag: false }))).toMatchObject({ ok: true });
});

test.each(['gzip', 'deflate', 'deflate-raw'])('a %s-encoded body is decoded', async (path) => {
  const r = await fetchBytes(`${base}/${path}`, options());
  expect(r.ok && r.bytes.equals(png)).toBe(true);
});

test('a body in an encoding that cannot be decoded is a bad_response, not an image', async () => {
  expect(await fetchBytes(`${base}/compress-zstd`, options())).toMatchObject({
    ok: false,
    reason: 'bad_response',
    detail: 'Content-Encoding zstd',
  });
});

test('a body cut short of its Content-Length is a retryable network error', async () => {
  const r = await fetchBytes(`${base}/truncated`, options({ retries: 0 }));
  expect(r).toMatchObject({ ok: false, reason: 'network_error:ECONNRESET', retryable: true });
});

test('a proxy named in the environment is not used: the request goes to the checked address', async () => {
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
  // Nothing listens on port 9 (discard): a request sent through this proxy would fail.
  process.env.HTTP_PROXY = 'http://127.0.0.1:9';
  process.env.http_proxy = 'http://127.0.0.1:9';
  try {
    expect(await fetchBytes(`${base}/img.png`, options())).toMatchObject({ ok: true });
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test('per-host concurrency and rate limits hold', async () => {
  maxActive = 0;
  const hosts = new HostLimiter({ concurrency: 2, rps: 0 });
  await Promise.all(Array.from({ length: 6 }, (_, i) => fetchBytes(`${base}/slow?i=${i}`, options({ hosts }))));
  expect(maxActive).toBe(2);

  const paced = new HostLimiter({ concurrency: 10, rps: 10 });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 5 }, (_, i) => fetchBytes(`${base}/img.png?i=${i}`, options({ hosts: paced }))),
  );
  expect(Date.now() - started).toBeGreaterThanOrEqual(390); // starts at 0, 100, 200, 300, 400 ms
});

test('cancellation stops a request without waiting for it', async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 100);
  const r = await fetchBytes(`${base}/stall`, options({ signal: controller.signal, timeoutMs: 5000 }));
  expect(r).toMatchObject({ ok: false, reason: 'cancelled' });
  expect(Date.now() - started).toBeLessThan(1000);
});

test.each(['gzip', 'br', 'deflate'])('a %s bomb is cut at the byte cap of the decompressed body', async (encoding) => {
  expect(bombs[encoding].length).toBeLessThan(256 * 1024); // small on the wire, 64 MiB inflated
  const maxBytes = 1024 * 1024;
  const before = process.memoryUsage().arrayBuffers;
  const r = await fetchBytes(`${base}/bomb?encoding=${encoding}`, options({ maxBytes }));
  expect(r).toMatchObject({ ok: false, reason: 'too_large', retryable: false, detail: `body over ${maxBytes} bytes` });
  // Read no further than the cap (and the decoder's chunks): nothing near the 64 MiB it inflates to.
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
});

test("the local engine is reached only by the local provider's URLs, never through another provider's redirect", async () => {
  // This test server plays the run's local engine; a second one plays another provider's (allowlisted) host.
  const web = createServer((req, res) => {
    const to = new URL(req.url ?? '/', 'http://web').searchParams.get('to') ?? '/';
    res.writeHead(302, { Location: to }).end();
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const webHost = `127.0.0.1:${(web.address() as AddressInfo).port}`;
  try {
    const config = parseRunConfig({
      target: '/unused',
      search: { providers: ['local', 'openverse'], local: { baseUrl: base } },
      download: { allowHosts: [webHost], retries: 0 },
    });
    const policy = fetchPolicy(config);
    const engineImage = `${base}/img.png`;
    expect(await fetchBytes(engineImage, policy.local)).toMatchObject({ ok: true });
    // Another provider's result naming the engine, or redirecting to it, is refused before connecting.
    hits.clear();
    expect(await fetchBytes(engineImage, policy.web)).toMatchObject({ ok: false, reason: 'blocked_address' });
    const redirect = `http://${webHost}/?to=${encodeURIComponent(engineImage)}`;
    expect(await fetchBytes(redirect, policy.web)).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(hits.get('/img.png')).toBeUndefined();
  } finally {
    web.closeAllConnections();
    await new Promise((resolve) => web.close(resolve));
  }
});
