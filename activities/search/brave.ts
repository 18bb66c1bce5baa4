import { z } from 'zod';
import {
  ProviderHttp,
  bodyDetail,
  type HttpResponse,
  type TransportOptions,
  type Verdict,
  transportOptions,
} from './http';
import type { PagedSearchProvider, SearchHit, SearchPage } from './provider';

export const BRAVE_URL = 'https://api.search.brave.com';
/** The image endpoint returns at most 200 results and has no offset: one request per query. */
const MAX_COUNT = 200;

export interface BraveOptions extends TransportOptions {
  /** API root; default https://api.search.brave.com. */
  baseUrl?: string;
  /** Subscription token, from IE_BRAVE_TOKEN. */
  token: string;
}

const dims = { width: z.number().optional(), height: z.number().optional() };

const responseSchema = z.object({
  type: z.literal('images').optional(),
  results: z.array(
    z.object({
      title: z.string().optional(),
      url: z.string().optional(),
      source: z.string().optional(),
      properties: z.object({ url: z.string().optional(), ...dims }).optional(),
      thumbnail: z.object({ src: z.string().optional(), ...dims }).optional(),
    }),
  ),
});

/** Brave Search image search (paid; plan-based rate limits reported in X-RateLimit-* headers). */
export class BraveImagesProvider implements PagedSearchProvider {
  readonly name = 'brave';
  /** Brave answers one page of up to 200 images and has no further pages. */
  readonly pageSize = MAX_COUNT;
  private readonly http: ProviderHttp;

  constructor(options: BraveOptions) {
    if (!options.token) throw new Error('brave: a subscription token is required; set IE_BRAVE_TOKEN');
    this.http = new ProviderHttp({
      provider: this.name,
      baseUrl: (options.baseUrl ?? BRAVE_URL).replace(/\/+$/, ''),
      headers: { 'X-Subscription-Token': options.token, Accept: 'application/json' },
      ...transportOptions(options),
      secrets: [options.token],
      quotaHint: 'Brave quotas depend on the subscription plan (https://api-dashboard.search.brave.com).',
      inspect: inspectBrave,
    });
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    if (limit <= 0) return [];
    const count = Math.min(MAX_COUNT, limit);
    const res = await this.http.request({ path: '/res/v1/images/search', params: { q: query, count }, signal });
    const body = this.http.parseBody(
      responseSchema,
      res,
      `brave GET /res/v1/images/search (q=${JSON.stringify(query)})`,
    );
    const hits: SearchHit[] = [];
    body.results.forEach((r, i) => {
      const url = r.properties?.url;
      if (!url) return;
      hits.push({
        url,
        pageUrl: r.url,
        title: r.title || undefined,
        rank: i,
        width: r.properties?.width,
        height: r.properties?.height,
      });
    });
    return hits.slice(0, limit);
  }

  async searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage> {
    if (page > 0) return { hits: [], last: true };
    return { hits: await this.search(query, MAX_COUNT, signal), last: true };
  }
}

interface RateWindow {
  /** Window length in seconds (from X-RateLimit-Policy), e.g. 1 or 2592000 (a month). */
  window?: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset?: number;
}

/**
 * Brave's headers list one value per window, comma-separated, e.g.
 * `X-RateLimit-Policy: 1;w=1, 15000;w=2592000`, `X-RateLimit-Remaining: 0, 14876`, `X-RateLimit-Reset: 1, 1419704`.
 */
export function parseBraveRateLimits(headers: Record<string, string>): RateWindow[] {
  const list = (name: string) => (headers[name] ?? '').split(',').map((s) => s.trim());
  const remaining = list('x-ratelimit-remaining');
  const reset = list('x-ratelimit-reset');
  const policy = list('x-ratelimit-policy');
  const windows: RateWindow[] = [];
  remaining.forEach((r, i) => {
    if (r === '' || Number.isNaN(Number(r))) return;
    const w = /w=(\d+)/.exec(policy[i] ?? '')?.[1];
    const s = reset[i];
    windows.push({
      remaining: Number(r),
      window: w === undefined ? undefined : Number(w),
      reset: s === undefined || s === '' || Number.isNaN(Number(s)) ? undefined : Number(s),
    });
  });
  return windows;
}

function inspectBrave(res: HttpResponse): Verdict | undefined {
  const windows = parseBraveRateLimits(res.headers);
  // A spent window longer than a minute is a quota (per month on the standard plans), not a throttle.
  const spent = windows.find((w) => w.remaining <= 0 && (w.window ?? 0) > 60);
  const reason = bodyDetail(res.data);
  if (spent && (res.status === 429 || res.status === 200)) {
    const resetsAt = spent.reset === undefined ? undefined : new Date(Date.now() + spent.reset * 1000);
    if (res.status === 429) return { quota: `plan quota used up (${reason || 'HTTP 429'})`, resetsAt };
    // This request still succeeded; the next one would not.
    return { ok: true, exhausted: resetsAt ? { reason: 'plan quota used up', resetsAt } : undefined };
  }
  const err = (res.data as { error?: { code?: unknown; meta?: Record<string, unknown> } } | undefined)?.error;
  const quotaLimit = Number(err?.meta?.quota_limit);
  const quotaCurrent = Number(err?.meta?.quota_current);
  if (res.status === 429 && (/QUOTA/i.test(String(err?.code ?? '')) || quotaCurrent >= quotaLimit)) {
    return { quota: `plan quota used up (${reason || String(err?.code)})` };
  }
  if (res.status === 429) {
    const short = windows.find((w) => w.remaining <= 0 && w.reset !== undefined);
    return { retry: reason || 'rate limited', afterMs: short?.reset !== undefined ? short.reset * 1000 : undefined };
  }
  if (res.status >= 200 && res.status < 300) {
    const short = windows.find((w) => w.remaining <= 0 && w.reset !== undefined);
    return { ok: true, pauseMs: short?.reset !== undefined ? short.reset * 1000 : undefined };
  }
  return undefined;
}
