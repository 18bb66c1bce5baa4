import { z } from 'zod';
import { ProviderHttp, SearchHttpError, bodyDetail, type TransportOptions, transportOptions } from './http';
import type { PagedSearchProvider, SearchHit, SearchPage } from './provider';

export const OPENVERSE_URL = 'https://api.openverse.org';
/** Anonymous requests may ask for at most 20 results per page; authenticated ones up to 500. */
const ANONYMOUS_MAX_PAGE_SIZE = 20;
const AUTHENTICATED_MAX_PAGE_SIZE = 500;
/** Openverse serves at most 20 pages of any search. */
const MAX_PAGE_DEPTH = 20;
/** A token is renewed this long before it expires. */
const TOKEN_MARGIN_MS = 60_000;

export interface OpenverseOptions extends TransportOptions {
  /** API root; default https://api.openverse.org. */
  baseUrl?: string;
  /** OAuth2 client credentials (IE_OPENVERSE_CLIENT_ID / IE_OPENVERSE_CLIENT_SECRET); anonymous without. */
  clientId?: string;
  clientSecret?: string;
  /** Results per page; default and maximum 20 anonymous, 500 authenticated. */
  pageSize?: number;
  /** Page depth limit; default 20 (the API's). */
  maxPages?: number;
}

const imageSchema = z.object({
  url: z.string().nullish(),
  foreign_landing_url: z.string().nullish(),
  title: z.string().nullish(),
  creator: z.string().nullish(),
  license: z.string().nullish(),
  license_version: z.string().nullish(),
  width: z.number().nullish(),
  height: z.number().nullish(),
});

const pageSchema = z.object({
  result_count: z.number(),
  page_count: z.number(),
  page_size: z.number().optional(),
  page: z.number().optional(),
  results: z.array(imageSchema),
});

const tokenSchema = z.object({ access_token: z.string().min(1), expires_in: z.number(), token_type: z.string() });

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens per (API root, client id), shared by provider instances in this worker. */
const tokens = new Map<string, Promise<CachedToken>>();

/** Forgets every cached Openverse token (tests). */
export function clearOpenverseTokens(): void {
  tokens.clear();
}

/** Openverse (openly licensed images): anonymous, or OAuth2 client credentials for bigger pages and quota. */
export class OpenverseProvider implements PagedSearchProvider {
  readonly name = 'openverse';
  readonly pageSize: number;
  private readonly http: ProviderHttp;
  private readonly baseUrl: string;
  private readonly maxPages: number;
  private readonly authenticated: boolean;

  constructor(private readonly options: OpenverseOptions = {}) {
    this.baseUrl = (options.baseUrl ?? OPENVERSE_URL).replace(/\/+$/, '');
    if (Boolean(options.clientId) !== Boolean(options.clientSecret)) {
      throw new Error('openverse: set both IE_OPENVERSE_CLIENT_ID and IE_OPENVERSE_CLIENT_SECRET, or neither');
    }
    this.authenticated = Boolean(options.clientId && options.clientSecret);
    const max = this.authenticated ? AUTHENTICATED_MAX_PAGE_SIZE : ANONYMOUS_MAX_PAGE_SIZE;
    this.pageSize = Math.max(1, Math.min(max, options.pageSize ?? max));
    this.maxPages = Math.max(1, Math.min(MAX_PAGE_DEPTH, options.maxPages ?? MAX_PAGE_DEPTH));
    this.http = new ProviderHttp({
      provider: this.name,
      baseUrl: this.baseUrl,
      ...transportOptions(options),
      secrets: [options.clientSecret],
      quotaHint: this.authenticated
        ? ''
        : 'Anonymous use is limited; register an application and set IE_OPENVERSE_CLIENT_ID and IE_OPENVERSE_CLIENT_SECRET.',
    });
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    if (limit <= 0) return [];
    const size = Math.min(this.pageSize, limit);
    const hits: SearchHit[] = [];
    for (let page = 1; hits.length < limit && page <= this.maxPages; page++) {
      const body = await this.fetchPage(query, page, size, signal);
      body.results.forEach((r, i) => {
        if (r.url) hits.push(toHit({ ...r, url: r.url }, (page - 1) * size + i));
      });
      if (body.results.length < size || page >= body.page_count) break;
    }
    return hits.slice(0, limit);
  }

  async searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage> {
    const size = this.pageSize;
    const body = await this.fetchPage(query, page + 1, size, signal);
    const hits: SearchHit[] = [];
    body.results.forEach((r, i) => {
      if (r.url) hits.push(toHit({ ...r, url: r.url }, page * size + i));
    });
    const last = body.results.length < size || page + 1 >= body.page_count || page + 1 >= this.maxPages;
    return { hits, last };
  }

  private async fetchPage(query: string, page: number, pageSize: number, signal?: AbortSignal) {
    const params = { q: query, page_size: pageSize, page };
    let token = await this.token(signal);
    const pass = token ? [401] : undefined;
    let res = await this.http.request({ path: '/v1/images/', params, headers: bearer(token), signal, pass });
    if (res.status === 401) {
      // The token expired or was revoked early: get a new one, once.
      token = await this.token(signal, token);
      res = await this.http.request({ path: '/v1/images/', params, headers: bearer(token), signal });
    }
    return this.http.parseBody(
      pageSchema,
      res,
      `openverse GET ${this.baseUrl}/v1/images/ (q=${JSON.stringify(query)}, page ${page})`,
    );
  }

  /** The cached bearer token (fetched once per client and reused until shortly before it expires). */
  private async token(signal?: AbortSignal, stale?: string): Promise<string | undefined> {
    if (!this.authenticated) return undefined;
    const key = `${this.baseUrl} ${this.options.clientId}`;
    const pending = tokens.get(key);
    if (pending) {
      const cached = await pending.catch(() => undefined);
      if (cached && cached.token !== stale && cached.expiresAt - TOKEN_MARGIN_MS > Date.now()) return cached.token;
      // Someone else may have started a renewal while we waited.
      const latest = tokens.get(key);
      if (latest && latest !== pending) return this.token(signal, stale);
    }
    const fresh = this.fetchToken(signal);
    tokens.set(key, fresh);
    fresh.catch(() => {
      if (tokens.get(key) === fresh) tokens.delete(key);
    });
    return (await fresh).token;
  }

  private async fetchToken(signal?: AbortSignal): Promise<CachedToken> {
    const res = await this.http.request({
      method: 'POST',
      path: '/v1/auth_tokens/token/',
      form: {
        grant_type: 'client_credentials',
        client_id: this.options.clientId!,
        client_secret: this.options.clientSecret!,
      },
      signal,
    });
    const parsed = tokenSchema.safeParse(res.data);
    if (!parsed.success) {
      throw new SearchHttpError(
        this.name,
        res.status,
        this.http.redact(
          `openverse POST ${this.baseUrl}/v1/auth_tokens/token/ returned no token: ${bodyDetail(res.data)}`,
        ),
      );
    }
    this.http.addSecret(parsed.data.access_token);
    return { token: parsed.data.access_token, expiresAt: Date.now() + parsed.data.expires_in * 1000 };
  }
}

function toHit(r: z.infer<typeof imageSchema> & { url: string }, rank: number): SearchHit {
  return {
    url: r.url,
    pageUrl: r.foreign_landing_url ?? undefined,
    title: r.title ?? undefined,
    rank,
    width: r.width ?? undefined,
    height: r.height ?? undefined,
    license: licenseName(r.license, r.license_version),
    creator: r.creator ?? undefined,
  };
}

function bearer(token: string | undefined): Record<string, string> | undefined {
  return token ? { Authorization: `Bearer ${token}` } : undefined;
}

/** Openverse's license code and version as the usual short name, e.g. 'by-sa' '4.0' → 'CC BY-SA 4.0'. */
export function licenseName(code: string | null | undefined, version: string | null | undefined): string | undefined {
  if (!code) return undefined;
  const v = version ? ` ${version}` : '';
  if (code === 'cc0') return `CC0${v}`;
  if (code === 'pdm') return `Public Domain Mark${v}`;
  return `CC ${code.toUpperCase()}${v}`;
}
