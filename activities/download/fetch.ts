import http, { type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import https from 'node:https';
import { finished, type Readable } from 'node:stream';
import axios from 'axios';
import { type AddressGuard, destinationOf } from './guard';
import { HostLimiter, sleep } from './hosts';
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

/**
 * Image requests: one hop each (redirects are followed by hand, through the guard), never through a proxy
 * named in the environment (it would connect somewhere other than the checked address), the body as a
 * stream (capped and sniffed as it arrives), decompressed by axios, and every status handed back to us.
 */
const imageHttp = axios.create({
  responseType: 'stream',
  maxRedirects: 0,
  proxy: false,
  decompress: true,
  validateStatus: () => true,
  maxContentLength: -1,
});

/** One HTTP GET to the pinned address; reads at most `maxBytes` of body, aborting the stream past it. */
function requestHop(
  url: URL,
  pinned: { address: string; family: 4 | 6 },
  opts: FetchOptions & { timeoutMs: number },
): Promise<HopResult> {
  return new Promise<HopResult>((resolve) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const controller = new AbortController();
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
      controller.abort();
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
      if (code === 'ERR_STREAM_PREMATURE_CLOSE')
        return fail('network_error:ECONNRESET', 'connection closed mid-body', status);
      fail(`network_error:${code}`, (error as Error).message, status);
    };

    imageHttp
      .get<Readable>(url.toString(), {
        headers: {
          'User-Agent': opts.userAgent,
          Accept: 'image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8',
          'Accept-Encoding': 'gzip, deflate, br',
        },
        signal: controller.signal,
        // Connect to the checked address whatever a second DNS answer would say (no rebinding).
        lookup: (_host, _options, callback) => callback(null, pinned.address, pinned.family),
        transport: connectTimed(opts.connectTimeoutMs, kill, timers),
      })
      .then(
        (response) => {
          const status = response.status;
          const body = response.data;
          const drop = () => body.destroy();
          const location = headerOf(response.headers, 'location');
          if (REDIRECTS.has(status) && location) {
            body.resume();
            return finish({ kind: 'redirect', status, location });
          }
          if (status < 200 || status >= 300) {
            body.resume();
            const retryAfter =
              status === 429 || status === 503 ? parseRetryAfter(headerOf(response.headers, 'retry-after')) : undefined;
            return fail(`http_${status}`, undefined, status, retryAfter);
          }
          if (opts.respectRobotsTag) {
            const directive = robotsOptOut(
              response.headers['x-robots-tag'] as string | string[] | undefined,
              botToken(opts.userAgent),
            );
            if (directive) {
              drop();
              return fail('opted_out', `X-Robots-Tag: ${directive}`, status);
            }
          }
          // axios removes the header of an encoding it decoded; one left is one nobody here can decode.
          const encoding = headerOf(response.headers, 'content-encoding')?.toLowerCase();
          if (encoding && encoding !== 'identity') {
            drop();
            return fail('bad_response', `Content-Encoding ${encoding}`, status);
          }
          const declared = Number(headerOf(response.headers, 'content-length'));
          if (Number.isFinite(declared) && declared > opts.maxBytes) {
            drop();
            return fail('too_large', `Content-Length ${declared}`, status);
          }
          readBody(body, opts.maxBytes).then(
            (bytes) => {
              const format = sniffImage(bytes);
              if (!format) return fail('not_an_image', undefined, status);
              finish({ kind: 'body', body: { bytes, format, httpStatus: status } });
            },
            (err: unknown) => {
              drop();
              failWith(err, status);
            },
          );
        },
        (err: unknown) => failWith(err),
      );
  });
}

/**
 * http(s).request for axios, with a timer from the start of a new connection until it is established (a
 * reused keep-alive connection has none): a host that never answers fails in connectTimeoutMs, not timeoutMs.
 */
function connectTimed(connectTimeoutMs: number, onTimeout: (error: HopError) => void, timers: NodeJS.Timeout[]) {
  return {
    request(options: RequestOptions, callback?: (res: IncomingMessage) => void): ClientRequest {
      const secure = options.protocol === 'https:';
      const req = secure ? https.request(options, callback) : http.request(options, callback);
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => onTimeout(new HopError('timeout', 'connect timeout')), connectTimeoutMs);
        timers.push(timer);
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      });
      return req;
    },
  };
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
