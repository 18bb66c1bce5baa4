import { z } from 'zod';
import { ProviderHttp, type HttpResponse, type TransportOptions, type Verdict, transportOptions } from './http';
import type { PagedSearchProvider, SearchHit, SearchPage } from './provider';

export const FLICKR_URL = 'https://api.flickr.com';
const MAX_PER_PAGE = 500;
/** flickr.photos.search returns at most 4,000 results for any query, however it is paged. */
const MAX_RESULTS = 4000;

export interface FlickrOptions extends TransportOptions {
  /** API root; default https://api.flickr.com (the REST endpoint is /services/rest/). */
  baseUrl?: string;
  /** From IE_FLICKR_API_KEY. */
  apiKey: string;
  /** Results per page; default and maximum 500. */
  perPage?: number;
}

const num = z.union([z.number(), z.string()]).transform((v) => Number(v));

const photoSchema = z.object({
  id: z.string(),
  owner: z.string().optional(),
  title: z.string().optional(),
  ownername: z.string().optional(),
  license: z.union([z.string(), z.number()]).optional(),
  url_o: z.string().optional(),
  width_o: num.optional(),
  height_o: num.optional(),
  url_l: z.string().optional(),
  width_l: num.optional(),
  height_l: num.optional(),
  url_c: z.string().optional(),
  width_c: num.optional(),
  height_c: num.optional(),
});

const okSchema = z.object({
  stat: z.literal('ok'),
  photos: z.object({ page: num, pages: num, perpage: num, total: num, photo: z.array(photoSchema) }),
});

/** Flickr's license ids (flickr.photos.licenses.getInfo). */
const LICENSES: Record<string, string> = {
  '0': 'All Rights Reserved',
  '1': 'CC BY-NC-SA 2.0',
  '2': 'CC BY-NC 2.0',
  '3': 'CC BY-NC-ND 2.0',
  '4': 'CC BY 2.0',
  '5': 'CC BY-SA 2.0',
  '6': 'CC BY-ND 2.0',
  '7': 'No known copyright restrictions',
  '8': 'United States Government Work',
  '9': 'CC0 1.0',
  '10': 'Public Domain Mark 1.0',
};

/** Flickr photo search (flickr.photos.search), ranked by relevance. */
export class FlickrProvider implements PagedSearchProvider {
  readonly name = 'flickr';
  readonly pageSize: number;
  private readonly http: ProviderHttp;

  constructor(private readonly options: FlickrOptions) {
    if (!options.apiKey) throw new Error('flickr: an API key is required; set IE_FLICKR_API_KEY');
    this.pageSize = Math.max(1, Math.min(MAX_PER_PAGE, options.perPage ?? MAX_PER_PAGE));
    this.http = new ProviderHttp({
      provider: this.name,
      baseUrl: (options.baseUrl ?? FLICKR_URL).replace(/\/+$/, ''),
      ...transportOptions(options),
      secrets: [options.apiKey],
      secretParams: ['api_key'],
      quotaHint: 'Flickr allows 3,600 calls an hour per key.',
      inspect: inspectFlickr,
    });
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    const wanted = Math.min(limit, MAX_RESULTS);
    if (wanted <= 0) return [];
    const size = Math.min(this.pageSize, wanted);
    const hits: SearchHit[] = [];
    for (let page = 1; hits.length < wanted && (page - 1) * size < MAX_RESULTS; page++) {
      const body = await this.fetchPage(query, page, size, signal);
      body.photos.photo.forEach((p, i) => {
        const hit = toHit(p, (page - 1) * size + i);
        if (hit) hits.push(hit);
      });
      if (body.photos.photo.length < size || page >= body.photos.pages) break;
    }
    return hits.slice(0, wanted);
  }

  async searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage> {
    const size = this.pageSize;
    const body = await this.fetchPage(query, page + 1, size, signal);
    const hits: SearchHit[] = [];
    body.photos.photo.forEach((p, i) => {
      const hit = toHit(p, page * size + i);
      if (hit) hits.push(hit);
    });
    const last = body.photos.photo.length < size || page + 1 >= body.photos.pages || (page + 1) * size >= MAX_RESULTS;
    return { hits, last };
  }

  private async fetchPage(query: string, page: number, size: number, signal?: AbortSignal) {
    const res = await this.http.request({
      path: '/services/rest/',
      params: {
        method: 'flickr.photos.search',
        api_key: this.options.apiKey,
        text: query,
        sort: 'relevance',
        media: 'photos',
        per_page: size,
        page,
        extras: 'url_o,url_l,url_c,owner_name,license',
        format: 'json',
        nojsoncallback: 1,
      },
      signal,
    });
    return this.parse(res, query, page);
  }

  private parse(res: HttpResponse, query: string, page: number) {
    return this.http.parseBody(
      okSchema,
      res,
      `flickr flickr.photos.search (text=${JSON.stringify(query)}, page ${page})`,
    );
  }
}

function toHit(p: z.infer<typeof photoSchema>, rank: number): SearchHit | undefined {
  const best = bestSize(p);
  if (!best) return undefined;
  return {
    url: best.url,
    pageUrl: p.owner ? `https://www.flickr.com/photos/${p.owner}/${p.id}` : undefined,
    title: p.title || undefined,
    rank,
    width: best.width,
    height: best.height,
    license: p.license === undefined ? undefined : (LICENSES[String(p.license)] ?? `Flickr license ${p.license}`),
    creator: p.ownername || undefined,
  };
}

function bestSize(p: z.infer<typeof photoSchema>): { url: string; width?: number; height?: number } | undefined {
  if (p.url_o) return { url: p.url_o, width: p.width_o, height: p.height_o };
  if (p.url_l) return { url: p.url_l, width: p.width_l, height: p.height_l };
  if (p.url_c) return { url: p.url_c, width: p.width_c, height: p.height_c };
  return undefined;
}

/** Flickr answers errors with HTTP 200 and {"stat": "fail", "code": N, "message": "..."}. */
function inspectFlickr(res: HttpResponse): Verdict | undefined {
  const data = res.data as { stat?: unknown; code?: unknown; message?: unknown } | undefined;
  if (!data || typeof data !== 'object' || data.stat !== 'fail') return undefined;
  const reason = `Flickr error ${String(data.code)}: ${String(data.message ?? '')}`;
  // 10: search API not currently available; 105: service currently unavailable.
  if (data.code === 10 || data.code === 105) return { retry: reason };
  return { fail: reason };
}
