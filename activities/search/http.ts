import axios, { type AxiosInstance, isAxiosError } from 'axios';
import type { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Shared HTTP behaviour of the web search providers: a per-provider request rate (token bucket), a local
 * daily quota, bounded retries (429 honouring Retry-After, 5xx and network errors with backoff), quota
 * exhaustion as its own error, and error messages that name the provider, the request and the status but
 * never a secret.
 *
 * Rate and quota state is per worker process and shared by every provider instance with the same provider
 * name and base URL, so a search stage that creates a fresh provider still respects what earlier ones spent.
 */

/** The provider's quota is spent: retrying now would only burn more of it. */
export class QuotaExhaustedError extends Error {
  override readonly name = 'QuotaExhaustedError';
  constructor(
    readonly provider: string,
    /** When the quota is expected to be available again, where known. */
    readonly resetsAt: Date | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A search API request that failed for good (after any retries). */
export class SearchHttpError extends Error {
  override readonly name = 'SearchHttpError';
  constructor(
    readonly provider: string,
    /** The HTTP status, when the API answered. */
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface RateOptions {
  /** Requests per second (token bucket; bursts up to max(1, rate)). Unlimited when absent. */
  requestsPerSecond?: number;
  /** Requests per UTC day this worker may make; QuotaExhaustedError beyond. Unlimited when absent. */
  dailyQuota?: number;
}

/** The rate, quota, timeout and retry settings every provider hands its ProviderHttp unchanged. */
export type TransportOptions = Pick<
  ProviderHttpOptions,
  'requestsPerSecond' | 'dailyQuota' | 'timeoutMs' | 'maxRetries' | 'retryBaseMs' | 'maxRetryWaitMs'
>;

export function transportOptions(o: TransportOptions): TransportOptions {
  const { requestsPerSecond, dailyQuota, timeoutMs, maxRetries, retryBaseMs, maxRetryWaitMs } = o;
  return { requestsPerSecond, dailyQuota, timeoutMs, maxRetries, retryBaseMs, maxRetryWaitMs };
}

export interface ProviderHttpOptions extends RateOptions {
  /** Provider name used in messages and to share rate/quota state, e.g. 'openverse'. */
  provider: string;
  baseUrl: string;
  /** Headers sent with every request (e.g. User-Agent, an API token). */
  headers?: Record<string, string>;
  /** Values that must never appear in an error message (keys, tokens, client secrets). */
  secrets?: (string | undefined)[];
  /** Query parameters whose values are replaced by *** when a request is described (e.g. 'api_key'). */
  secretParams?: string[];
  /** Per-request timeout; default 15 s. */
  timeoutMs?: number;
  /** Retries of a 429, a 5xx or a network error; default 3. */
  maxRetries?: number;
  /** First backoff delay, doubled per retry when the API gives no Retry-After; default 500 ms. */
  retryBaseMs?: number;
  /** A Retry-After longer than this means the quota is spent, not a short throttle; default 60 s. */
  maxRetryWaitMs?: number;
  /** What an operator can do when the quota is spent, appended to QuotaExhaustedError messages. */
  quotaHint?: string;
  /**
   * Provider-specific reading of a response (error bodies with HTTP 200, rate-limit headers). Returning
   * undefined falls back to the status code: 2xx ok, 429 and 5xx retried, anything else fails.
   */
  inspect?: (res: HttpResponse) => Verdict | undefined;
}

export interface HttpRequest {
  method?: 'GET' | 'POST';
  path: string;
  params?: Record<string, string | number | undefined>;
  /** Sent as application/x-www-form-urlencoded (POST). */
  form?: Record<string, string>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses returned to the caller as they are (e.g. 401 to renew a token), not judged. */
  pass?: number[];
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  data: unknown;
}

export type Verdict =
  | {
      ok: true;
      /** Wait this long before the next request (the API's short window is spent). */
      pauseMs?: number;
      /** This response is good but the quota is now spent: later requests fail at once until it resets. */
      exhausted?: { reason: string; resetsAt: Date };
    }
  | { retry: string; afterMs?: number }
  | { quota: string; resetsAt?: Date }
  | { fail: string };

interface SharedState {
  rate?: number;
  tokens: number;
  refilledAt: number;
  /** No request before this time (ms). */
  pausedUntil: number;
  dailyQuota?: number;
  day: string;
  usedToday: number;
  /** The API said the quota is spent until then. */
  blocked?: { until: number; reason: string };
}

const states = new Map<string, SharedState>();

/** Forgets every provider's rate and quota state (tests). */
export function resetSearchHttpState(): void {
  states.clear();
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function nextUtcMidnight(ms: number): Date {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}

/** Milliseconds to wait from a Retry-After header: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** An HTTP client bound to one provider's base URL, rate, quota and secrets. */
export class ProviderHttp {
  private readonly http: AxiosInstance;
  private readonly state: SharedState;
  private readonly secrets: string[];
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryWaitMs: number;

  constructor(private readonly options: ProviderHttpOptions) {
    this.http = axios.create({
      baseURL: options.baseUrl,
      timeout: options.timeoutMs ?? 15_000,
      validateStatus: () => true,
      headers: options.headers,
    });
    this.secrets = (options.secrets ?? []).filter((s): s is string => typeof s === 'string' && s.length >= 4);
    this.maxRetries = options.maxRetries ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 60_000;
    const key = `${options.provider} ${options.baseUrl}`;
    let state = states.get(key);
    if (!state) {
      state = { tokens: 0, refilledAt: Date.now(), pausedUntil: 0, day: utcDay(Date.now()), usedToday: 0 };
      states.set(key, state);
    }
    // The newest config's limits apply to the shared state; what was spent stays spent.
    if (state.rate !== options.requestsPerSecond) {
      state.rate = options.requestsPerSecond;
      state.tokens = Math.max(1, options.requestsPerSecond ?? 1);
      state.refilledAt = Date.now();
    }
    state.dailyQuota = options.dailyQuota;
    this.state = state;
  }

  get provider(): string {
    return this.options.provider;
  }

  /** Sends the request with rate limiting and retries; returns the first response judged ok. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const what = this.describe(req);
    for (let attempt = 0; ; attempt++) {
      this.checkQuota();
      await this.acquire(req.signal);
      this.state.usedToday++;
      let res: HttpResponse;
      try {
        res = await this.send(req);
      } catch (err) {
        const reason = this.networkReason(err);
        if (req.signal?.aborted) throw this.fail(undefined, `${what} aborted`);
        if (attempt < this.maxRetries) {
          await this.sleepOrAbort(this.backoff(attempt), req.signal, what);
          continue;
        }
        throw this.fail(undefined, `${what} failed: ${reason} (after ${attempt + 1} attempts)`);
      }
      if (req.pass?.includes(res.status)) return res;
      const verdict = this.options.inspect?.(res) ?? this.defaultVerdict(res);
      if ('ok' in verdict) {
        if (verdict.pauseMs) this.state.pausedUntil = Math.max(this.state.pausedUntil, Date.now() + verdict.pauseMs);
        if (verdict.exhausted) {
          this.state.blocked = { until: verdict.exhausted.resetsAt.getTime(), reason: verdict.exhausted.reason };
        }
        return res;
      }
      if ('quota' in verdict) throw this.quotaError(verdict.quota, verdict.resetsAt, res.status, what);
      if ('fail' in verdict) throw this.fail(res.status, `${what} failed: HTTP ${res.status}: ${verdict.fail}`);
      const retryAfter = parseRetryAfter(res.headers['retry-after']) ?? verdict.afterMs;
      if (retryAfter !== undefined && retryAfter > this.maxRetryWaitMs) {
        throw this.quotaError(
          `${verdict.retry}; the API asks to wait ${Math.round(retryAfter / 1000)} s`,
          new Date(Date.now() + retryAfter),
          res.status,
          what,
        );
      }
      if (attempt >= this.maxRetries) {
        throw this.fail(
          res.status,
          `${what} failed: HTTP ${res.status}: ${verdict.retry} (after ${attempt + 1} attempts)`,
        );
      }
      const wait = retryAfter ?? this.backoff(attempt);
      // Everyone sharing this provider waits, not only this request.
      this.state.pausedUntil = Math.max(this.state.pausedUntil, Date.now() + wait);
      await this.sleepOrAbort(wait, req.signal, what);
    }
  }

  /** Adds a value to redact from messages (e.g. a token obtained at run time). */
  addSecret(secret: string): void {
    if (secret.length >= 4 && !this.secrets.includes(secret)) this.secrets.push(secret);
  }

  /**
   * The response body read with `schema`; otherwise a SearchHttpError naming the request (`what`, e.g.
   * 'brave GET /res/v1/images/search (q="cat")') and the first mismatch, secrets removed.
   */
  parseBody<T>(schema: z.ZodType<T>, res: HttpResponse, what: string): T {
    const parsed = schema.safeParse(res.data);
    if (parsed.success) return parsed.data;
    throw this.fail(res.status, `${what} returned an unexpected body: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }

  /** Removes every secret (raw or URL-encoded) from a text. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('***');
    }
    return out;
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.http.request({
      method: req.method ?? 'GET',
      url: req.path,
      params: req.params,
      data: req.form ? new URLSearchParams(req.form).toString() : undefined,
      headers: {
        ...(req.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
        ...req.headers,
      },
      signal: req.signal,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined && v !== null) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: res.status, headers, data: res.data };
  }

  private defaultVerdict(res: HttpResponse): Verdict {
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const detail = bodyDetail(res.data);
    if (res.status === 429) return { retry: detail || 'too many requests' };
    if (res.status >= 500) return { retry: detail || 'server error' };
    return { fail: detail || 'request refused' };
  }

  private checkQuota(): void {
    const now = Date.now();
    const s = this.state;
    if (s.blocked) {
      if (now < s.blocked.until) {
        throw this.quotaError(s.blocked.reason, new Date(s.blocked.until), undefined, undefined);
      }
      s.blocked = undefined;
    }
    const today = utcDay(now);
    if (s.day !== today) {
      s.day = today;
      s.usedToday = 0;
    }
    if (s.dailyQuota !== undefined && s.usedToday >= s.dailyQuota) {
      throw this.quotaError(
        `the daily quota of ${s.dailyQuota} requests configured for this worker is used up`,
        nextUtcMidnight(now),
        undefined,
        undefined,
        false,
      );
    }
  }

  /** Token bucket with reservations: concurrent callers queue up in order instead of all waking at once. */
  private async acquire(signal?: AbortSignal): Promise<void> {
    const s = this.state;
    const now = Date.now();
    let wait = Math.max(0, s.pausedUntil - now);
    if (s.rate && s.rate > 0) {
      const capacity = Math.max(1, s.rate);
      s.tokens = Math.min(capacity, s.tokens + ((now - s.refilledAt) / 1000) * s.rate);
      s.refilledAt = now;
      s.tokens -= 1;
      if (s.tokens < 0) wait = Math.max(wait, (-s.tokens / s.rate) * 1000);
    }
    if (wait > 0) await sleep(wait, undefined, { signal });
  }

  private backoff(attempt: number): number {
    return this.retryBaseMs * 2 ** attempt;
  }

  private async sleepOrAbort(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      throw this.fail(undefined, `${what} aborted`);
    }
  }

  private networkReason(err: unknown): string {
    if (isAxiosError(err)) return err.code ?? err.message;
    return err instanceof Error ? err.message : String(err);
  }

  private describe(req: HttpRequest): string {
    const url = new URL(req.path, this.options.baseUrl.replace(/\/*$/, '/'));
    const hidden = new Set(this.options.secretParams ?? []);
    for (const [k, v] of Object.entries(req.params ?? {})) {
      if (v !== undefined) url.searchParams.set(k, hidden.has(k) ? '***' : String(v));
    }
    return `${this.options.provider} ${req.method ?? 'GET'} ${this.redact(decodeURI(url.toString()))}`;
  }

  private fail(status: number | undefined, message: string): SearchHttpError {
    return new SearchHttpError(this.options.provider, status, this.redact(message));
  }

  private quotaError(
    reason: string,
    resetsAt: Date | undefined,
    status: number | undefined,
    what?: string,
    /** Remember it: later requests fail at once (the API said so; the local quota is counted instead). */
    block = true,
  ) {
    if (resetsAt && block) this.state.blocked = { until: resetsAt.getTime(), reason };
    const when = resetsAt ? `it resets at ${resetsAt.toISOString()}` : 'when it resets is unknown';
    const hint = this.options.quotaHint ? ` ${this.options.quotaHint}` : '';
    const req = what ? ` (${what}${status ? `: HTTP ${status}` : ''})` : '';
    return new QuotaExhaustedError(
      this.options.provider,
      resetsAt,
      this.redact(
        `${this.options.provider} search quota exhausted${req}: ${reason}; ${when}. Wait until then, or raise the quota` +
          ` (search.${this.options.provider}.dailyQuota / a higher API plan), or use another search provider.${hint}`,
      ),
    );
  }
}

/** A short human-readable reason from an error body: common JSON shapes, else the first line of text. */
export function bodyDetail(data: unknown): string {
  if (typeof data === 'string') return data.trim().split('\n')[0].slice(0, 200);
  if (!data || typeof data !== 'object') return '';
  const o = data as Record<string, unknown>;
  for (const key of ['detail', 'message', 'error_description', 'error', 'info']) {
    const v = o[key];
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const inner = bodyDetail(v);
      return inner || JSON.stringify(v).slice(0, 200);
    }
  }
  return '';
}
