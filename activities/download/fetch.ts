import http, { type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import https from 'node:https';
import { finished, pipeline, Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { type AddressGuard, destinationOf } from './guard';
import { sleep } from '../../lib/yield';
import { HostLimiter } from './hosts';
import { isRetryable, parseRetryAfter } from './outcomes';
import { botToken, robotsOptOut } from './robots';
import { SNIFF_BYTES, sniffImage, type ImageFormat } from './sniff';

export interface FetchOptions {
  /** Total time of one attempt (every redirect hop, headers and body). */
  timeoutMs: number;
  connectTimeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  retries: number;
  backoffMs: number;
  maxRetryAfterMs: number;
  respectRobotsTag: boolean;
  userAgent: string;
  guard: AddressGuard;
  hosts?: HostLimiter;
  signal?: AbortSignal;
}

export type FetchOutcome =
  | { ok: true; bytes: Buffer; format: ImageFormat; httpStatus: number; finalUrl: string; attempts: number }
  | { ok: false; reason: string; retryable: boolean; httpStatus?: number; detail?: string; attempts: number };

type Attempt =
  | { ok: true; bytes: Buffer; format: ImageFormat; httpStatus: number; finalUrl: string }
  | { ok: false; reason: string; httpStatus?: number; detail?: string; retryAfterMs?: number };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Fetches one image URL off the open web; never throws for what the remote side does, it returns the
 * reason instead. Each hop's destination passes the address guard before a connection is made and the
 * connection goes to the address that was checked; redirects are followed by hand (each Location is
 * checked again). Retryable failures are retried with exponential backoff, honouring Retry-After.
 */
export async function fetchBytes(url: string, opts: FetchOptions): Promise<FetchOutcome> {
  let attempts = 0;
  for (;;) {
    attempts++;
    const result = await attemptOnce(url, opts);
    if (result.ok) return { ...result, attempts };
    const retryable = isRetryable(result.reason);
    const failure = {
      ok: false as const,
      reason: result.reason,
      retryable,
      httpStatus: result.httpStatus,
      detail: result.detail,
      attempts,
    };
    if (!retryable || attempts > opts.retries || opts.signal?.aborted) return failure;
    const backoff = opts.backoffMs * 2 ** (attempts - 1) * (0.75 + Math.random() / 2);
    const wait = result.retryAfterMs ?? backoff;
    if (wait > opts.maxRetryAfterMs) return failure; // the server asked for longer than we wait in-stage
    await sleep(wait, opts.signal);
    if (opts.signal?.aborted) return { ...failure, reason: 'cancelled', retryable: true };
  }
}

async function attemptOnce(url: string, opts: FetchOptions): Promise<Attempt> {
  const deadline = Date.now() + opts.timeoutMs;
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    return { ok: false, reason: 'unsupported_scheme', detail: 'unparseable URL' };
  }
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      return { ok: false, reason: 'unsupported_scheme', detail: current.protocol };
    }
    const dest = destinationOf(current);
    const checked = await opts.guard.check(dest);
    if (!checked.ok) return { ok: false, reason: checked.reason, detail: checked.detail };
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { ok: false, reason: 'timeout', detail: 'total timeout' };
    const target = current;
    const run = () => requestHop(target, checked, { ...opts, timeoutMs: remaining });
    const hostKey = `${dest.hostname}:${dest.port}`;
    const result = opts.hosts ? await opts.hosts.run(hostKey, run, opts.signal) : await run();
    if (result.kind === 'redirect') {
      if (hop >= opts.maxRedirects) return { ok: false, reason: 'too_many_redirects', httpStatus: result.status };
      try {
        current = new URL(result.location, current);
      } catch {
        return { ok: false, reason: 'bad_response', detail: `bad Location ${result.location}` };
      }
      continue;
    }
    if (result.kind === 'body') return { ok: true, ...result.body, finalUrl: current.toString() };
    return result.failure;
  }
}

type HopResult =
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'body'; body: { bytes: Buffer; format: ImageFormat; httpStatus: number } }
  | { kind: 'failed'; failure: Attempt & { ok: false } };

class HopError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

// Image requests go straight through node:http(s), not axios (which the search and LLM clients use): at
// 25,600 images an iteration its per-request work cost ≈ 0.45 ms of CPU an image (docs/benchmarks.md).
// Keep-alive agents reuse connections to a host; a reused socket is one made to an address the guard passed.
const agents = {
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
};

type PinnedCallback = (error: null, address: string | { address: string; family: number }[], family?: number) => void;

/** Decoders of the encodings we ask for; any other encoding is a response nobody here can decode. */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => deflateDecoder(),
  br: () => zlib.createBrotliDecompress(),
};

/**
 * Servers send `deflate` zlib-wrapped (as the RFC says) or raw: the first byte tells which (a zlib header's
 * low nibble is 8, deflate's method), and the matching inflater decodes the rest.
 */
function deflateDecoder(): Transform {
  let inner: Transform | undefined;
  const decoder = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!inner) {
        inner = (chunk[0] & 0x0f) === 8 ? zlib.createInflate() : zlib.createInflateRaw();
        inner.on('data', (data: Buffer) => decoder.push(data));
        inner.on('error', (error) => decoder.destroy(error));
      }
      if (inner.write(chunk)) callback();
      else inner.once('drain', () => callback());
    },
    flush(callback) {
      if (!inner) return callback();
      inner.once('end', () => callback());
      inner.end();
    },
    // Stopped past the byte cap (or by an error): the inflater stops too, however much a bomb still holds.
    destroy(error, callback) {
      inner?.destroy();
      callback(error);
    },
  });
  return decoder;
}

/**
 * One HTTP GET to the pinned address, never through a proxy (it would connect somewhere other than the
 * checked address); redirects are handed back (followed by hand, through the guard); the body is read as a
 * stream, decoded, capped and sniffed as it arrives, aborting past `maxBytes`.
 */
function requestHop(
  url: URL,
  pinned: { address: string; family: 4 | 6 },
  opts: FetchOptions & { timeoutMs: number },
): Promise<HopResult> {
  return new Promise<HopResult>((resolve) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: HopResult) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const fail = (reason: string, detail?: string, httpStatus?: number, retryAfterMs?: number) =>
      finish({ kind: 'failed', failure: { ok: false, reason, detail, httpStatus, retryAfterMs } });
    // Why the request was stopped from our side (timeout, cancellation), which outranks the error it caused.
    let killedBy: HopError | undefined;
    const kill = (error: HopError) => {
      killedBy ??= error;
      req.destroy(error);
    };
    const onAbort = () => kill(new HopError('cancelled', 'cancelled'));
    if (opts.signal?.aborted) return fail('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => kill(new HopError('timeout', 'total timeout')), opts.timeoutMs));
    const failWith = (err: unknown, status?: number) => {
      const error = killedBy ?? err;
      if (error instanceof HopError) return fail(error.reason, error.message, error.httpStatus ?? status);
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      if (/^(CERT_|ERR_TLS|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|ERR_SSL)/.test(code)) return fail('tls_error', code);
      // HTTP parser (HPE_) and decompression (Z_, brotli's ERR__) errors: the server's bytes are malformed.
      if (/^(HPE_|Z_|ERR__)/.test(code)) return fail('bad_response', code, status);
      if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET')
        return fail('network_error:ECONNRESET', 'connection closed mid-body', status);
      fail(`network_error:${code}`, (error as Error).message, status);
    };

    const secure = url.protocol === 'https:';
    const options: RequestOptions = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      agent: secure ? agents.https : agents.http,
      headers: {
        'User-Agent': opts.userAgent,
        Accept: 'image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8',
        'Accept-Encoding': 'gzip, deflate, br',
      },
      // Connect to the checked address whatever a second DNS answer would say (no rebinding).
      // (Node's connect asks for every address when it may try several families: `all`.)
      lookup: ((_host: string, lookupOptions: { all?: boolean }, callback: PinnedCallback) =>
        lookupOptions.all
          ? callback(null, [{ address: pinned.address, family: pinned.family }])
          : callback(null, pinned.address, pinned.family)) as RequestOptions['lookup'],
    };
    const onResponse = (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const location = headerOf(response.headers, 'location');
      if (REDIRECTS.has(status) && location) {
        response.resume();
        return finish({ kind: 'redirect', status, location });
      }
      if (status < 200 || status >= 300) {
        response.resume();
        const retryAfter =
          status === 429 || status === 503 ? parseRetryAfter(headerOf(response.headers, 'retry-after')) : undefined;
        return fail(`http_${status}`, undefined, status, retryAfter);
      }
      if (opts.respectRobotsTag) {
        const directive = robotsOptOut(response.headers['x-robots-tag'], botToken(opts.userAgent));
        if (directive) {
          response.destroy();
          return fail('opted_out', `X-Robots-Tag: ${directive}`, status);
        }
      }
      const encoding = headerOf(response.headers, 'content-encoding')?.trim().toLowerCase();
      const decoder = encoding && encoding !== 'identity' ? DECODERS[encoding] : undefined;
      if (encoding && encoding !== 'identity' && !decoder) {
        response.destroy();
        return fail('bad_response', `Content-Encoding ${encoding}`, status);
      }
      const declared = Number(headerOf(response.headers, 'content-length'));
      if (!decoder && Number.isFinite(declared) && declared > opts.maxBytes) {
        response.destroy();
        return fail('too_large', `Content-Length ${declared}`, status);
      }
      // A body cut short: the response says so (aborted), which ends the decoder with the same error.
      const body: Readable = decoder ? pipeline(response, decoder(), () => undefined) : response;
      readBody(body, opts.maxBytes).then(
        (bytes) => {
          const format = sniffImage(bytes);
          if (!format) return fail('not_an_image', undefined, status);
          finish({ kind: 'body', body: { bytes, format, httpStatus: status } });
        },
        (err: unknown) => {
          response.destroy();
          failWith(err, status);
        },
      );
    };
    const req: ClientRequest = secure ? https.request(options, onResponse) : http.request(options, onResponse);
    req.on('error', (err) => failWith(err));
    // A timer from the start of a new connection until it is established (a reused keep-alive connection has
    // none): a host that never answers fails in connectTimeoutMs, not timeoutMs.
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => kill(new HopError('timeout', 'connect timeout')), opts.connectTimeoutMs);
      timers.push(timer);
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    });
    req.end();
  });
}

function headerOf(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) return value[0] === undefined ? undefined : String(value[0]);
  return value === undefined || value === null ? undefined : String(value);
}

/**
 * Reads the (decoded) body, failing with too_large as soon as it passes `maxBytes` (the stream is
 * destroyed, nothing more is read) and with not_an_image as soon as its first bytes are not an image. A
 * connection closed before the body's end rejects (ERR_STREAM_PREMATURE_CLOSE or the socket's error).
 */
function readBody(body: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let sniffed = false;
    const stop = (error: Error) => {
      body.destroy();
      reject(error);
    };
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return stop(new HopError('too_large', `body over ${maxBytes} bytes`));
      chunks.push(chunk);
      if (!sniffed && size >= SNIFF_BYTES) {
        sniffed = true;
        if (!sniffImage(Buffer.concat(chunks))) stop(new HopError('not_an_image', 'not an image'));
      }
    });
    finished(body, (error) => (error ? reject(error) : resolve(Buffer.concat(chunks, size))));
  });
}
