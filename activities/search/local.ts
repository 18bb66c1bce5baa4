import axios, { type AxiosInstance, isAxiosError } from 'axios';
import { z } from 'zod';
import type { PagedSearchProvider, SearchHit, SearchPage } from './provider';

export interface LocalEngineOptions {
  /** Engine root, e.g. http://127.0.0.1:8600 */
  baseUrl: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** Results per request, at most the engine's 100; default 100 so a typical query costs one request. */
  perPage?: number;
}

const ENGINE_MAX_PER_PAGE = 100;

const responseSchema = z.object({
  total: z.number(),
  results: z.array(
    z.object({
      url: z.string(),
      page_url: z.string().optional(),
      title: z.string().optional(),
      width: z.number().optional(),
      height: z.number().optional(),
    }),
  ),
});

type EnginePage = z.infer<typeof responseSchema>;

/** Search provider backed by the local image search engine (engine/server.ts). */
export class LocalEngineProvider implements PagedSearchProvider {
  readonly name = 'local';
  readonly pageSize: number;
  private readonly http: AxiosInstance;

  constructor(private readonly options: LocalEngineOptions) {
    this.pageSize = Math.max(1, Math.min(ENGINE_MAX_PER_PAGE, options.perPage ?? ENGINE_MAX_PER_PAGE));
    this.http = axios.create({ baseURL: options.baseUrl, timeout: options.timeoutMs ?? 10_000 });
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    // One page size for the whole call keeps page boundaries aligned; the last page is trimmed to `limit`.
    if (limit <= 0) return [];
    const size = Math.min(this.pageSize, limit);
    const hits: SearchHit[] = [];
    for (let page = 1; hits.length < limit; page++) {
      const body = await this.fetchPage(query, page, size, signal);
      body.results.forEach((r, i) => hits.push(toHit(r, (page - 1) * size + i)));
      if (body.results.length < size || page * size >= body.total) break;
    }
    return hits.slice(0, limit);
  }

  async searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage> {
    const size = this.pageSize;
    const body = await this.fetchPage(query, page + 1, size, signal);
    return {
      hits: body.results.map((r, i) => toHit(r, page * size + i)),
      last: body.results.length < size || (page + 1) * size >= body.total,
    };
  }

  private async fetchPage(query: string, page: number, perPage: number, signal?: AbortSignal): Promise<EnginePage> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/search`;
    try {
      const res = await this.http.get('/search', { params: { q: query, page, per_page: perPage }, signal });
      return responseSchema.parse(res.data);
    } catch (err) {
      if (isAxiosError(err)) {
        const status = err.response ? `HTTP ${err.response.status}` : (err.code ?? 'no response');
        const detail = errorDetail(err.response?.data);
        throw new Error(
          `search request to ${url} (q=${JSON.stringify(query)}, page ${page}) failed: ${status}${detail}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }
}

function toHit(r: EnginePage['results'][number], rank: number): SearchHit {
  return { url: r.url, pageUrl: r.page_url, title: r.title, rank, width: r.width, height: r.height };
}

function errorDetail(data: unknown): string {
  if (data && typeof data === 'object' && 'error' in data && typeof data.error === 'string') return `: ${data.error}`;
  return '';
}
