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

export const WIKIMEDIA_COMMONS_URL = 'https://commons.wikimedia.org';
/** Search results per request for clients without the bot right. */
const MAX_BATCH = 50;
/** CirrusSearch serves no results beyond this offset. */
const MAX_OFFSET = 10_000;

export interface WikimediaOptions extends TransportOptions {
  /** Wiki root; default https://commons.wikimedia.org (the API is at /w/api.php). */
  baseUrl?: string;
  /**
   * A contactable User-Agent, mandatory under Wikimedia's policy, e.g.
   * 'InternetExplorerBot/0.1 (https://example.org/ie; ops@example.org)'. From IE_WIKIMEDIA_USER_AGENT.
   */
  userAgent: string;
  /** Results per request; default and maximum 50. */
  batchSize?: number;
}

const metaValue = z.object({ value: z.unknown() }).partial();

const pageSchema = z.object({
  pageid: z.number().optional(),
  title: z.string(),
  index: z.number().optional(),
  imageinfo: z
    .array(
      z.object({
        url: z.string().optional(),
        descriptionurl: z.string().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
        mime: z.string().optional(),
        extmetadata: z.record(z.string(), metaValue).optional(),
      }),
    )
    .optional(),
});

const responseSchema = z.object({
  continue: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  query: z
    .object({
      // formatversion=1 gives an object keyed by page id, formatversion=2 an array.
      pages: z.union([z.record(z.string(), pageSchema), z.array(pageSchema)]).optional(),
    })
    .optional(),
});

/** Wikimedia Commons through the MediaWiki Action API (generator=search over the File namespace). */
export class WikimediaCommonsProvider implements PagedSearchProvider {
  readonly name = 'wikimedia';
  readonly pageSize: number;
  private readonly http: ProviderHttp;
  private readonly baseUrl: string;

  constructor(options: WikimediaOptions) {
    if (!options.userAgent?.trim()) {
      throw new Error(
        'wikimedia: a contactable User-Agent is mandatory (Wikimedia User-Agent policy); set IE_WIKIMEDIA_USER_AGENT, ' +
          "e.g. 'InternetExplorerBot/0.1 (https://your.site; you@example.org)'",
      );
    }
    this.baseUrl = (options.baseUrl ?? WIKIMEDIA_COMMONS_URL).replace(/\/+$/, '');
    this.pageSize = Math.max(1, Math.min(MAX_BATCH, options.batchSize ?? MAX_BATCH));
    this.http = new ProviderHttp({
      provider: this.name,
      baseUrl: this.baseUrl,
      headers: { 'User-Agent': options.userAgent, 'Api-User-Agent': options.userAgent },
      ...transportOptions(options),
      inspect: inspectMediaWiki,
    });
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    if (limit <= 0) return [];
    const hits: SearchHit[] = [];
    const seen = new Set<string>();
    let cont: Record<string, string | number> | undefined = {};
    let offset = 0;
    while (cont && hits.length < limit && offset < MAX_OFFSET) {
      const size = Math.min(this.pageSize, limit - hits.length, MAX_OFFSET - offset);
      const body = await this.fetchBatch(query, { ...cont, gsroffset: cont.gsroffset ?? offset }, size, signal);
      const pages = body.query?.pages ? Object.values(body.query.pages) : [];
      pages.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      for (const page of pages) {
        const hit = toHit(page, hits.length);
        if (!hit || seen.has(hit.url)) continue;
        seen.add(hit.url);
        hits.push(hit);
      }
      cont = body.continue;
      const next = Number(cont?.gsroffset);
      offset = Number.isFinite(next) ? next : offset + size;
    }
    return hits.slice(0, limit);
  }

  /** Batch `page` (offset page × pageSize); ranks are positions in the search, so skipped files leave gaps. */
  async searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage> {
    const size = this.pageSize;
    const offset = page * size;
    if (offset >= MAX_OFFSET) return { hits: [], last: true };
    const count = Math.min(size, MAX_OFFSET - offset);
    const cont: Record<string, string | number> =
      page === 0 ? { gsroffset: 0 } : { continue: 'gsroffset||', gsroffset: offset };
    const body = await this.fetchBatch(query, cont, count, signal);
    const pages = body.query?.pages ? Object.values(body.query.pages) : [];
    pages.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    const hits = pages.flatMap((p, i) => toHit(p, offset + i) ?? []);
    return { hits, last: !body.continue || offset + count >= MAX_OFFSET };
  }

  private async fetchBatch(
    query: string,
    cont: Record<string, string | number>,
    size: number,
    signal?: AbortSignal,
  ): Promise<z.infer<typeof responseSchema>> {
    const res = await this.http.request({
      path: '/w/api.php',
      params: {
        action: 'query',
        format: 'json',
        generator: 'search',
        gsrsearch: `${query} filetype:bitmap`,
        gsrnamespace: 6,
        gsrlimit: size,
        prop: 'imageinfo',
        iiprop: 'url|size|extmetadata|mime',
        ...cont,
      },
      signal,
    });
    return this.parse(res, query);
  }

  private parse(res: HttpResponse, query: string) {
    return this.http.parseBody(
      responseSchema,
      res,
      `wikimedia GET ${this.baseUrl}/w/api.php (gsrsearch=${JSON.stringify(query)})`,
    );
  }
}

/** A file page as a hit, or undefined when it has no URL or is not a bitmap. */
function toHit(page: z.infer<typeof pageSchema>, rank: number): SearchHit | undefined {
  const info = page.imageinfo?.[0];
  if (!info?.url) return undefined;
  if (info.mime && !/^image\/(?!svg)/.test(info.mime)) return undefined;
  const meta = info.extmetadata ?? {};
  return {
    url: info.url,
    pageUrl: info.descriptionurl,
    title: text(meta.ObjectName?.value) ?? page.title.replace(/^File:/, ''),
    rank,
    width: info.width,
    height: info.height,
    license: text(meta.LicenseShortName?.value),
    creator: text(meta.Artist?.value),
  };
}

/** MediaWiki reports most errors with HTTP 200 and {"error": {"code", "info"}}. */
function inspectMediaWiki(res: HttpResponse): Verdict | undefined {
  const data = res.data as { error?: { code?: unknown; info?: unknown } } | undefined;
  const err = data && typeof data === 'object' ? data.error : undefined;
  if (!err || typeof err !== 'object') return undefined;
  const reason = `${String(err.code ?? 'error')}: ${String(err.info ?? bodyDetail(data))}`;
  if (err.code === 'ratelimited' || err.code === 'maxlag' || err.code === 'readonly') return { retry: reason };
  if (err.code === 'internal_api_error_DBQueryError') return { retry: reason };
  return { fail: reason };
}

/** A plain-text value from extmetadata, whose values are HTML fragments. */
function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const plain = value
    .replace(/<[^>]*>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
  return plain || undefined;
}
