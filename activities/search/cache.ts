import { db } from '../../lib/db';
import { isPaged, type PagedSearchProvider, type SearchHit, type SearchProvider } from './provider';

/** A cached page of a provider's ranking, or (pageSize null) a whole ranked list stored at once. */
export interface CachedPage {
  page: number;
  pageSize: number | null;
  /** Hits on the page (of a list: in the list). */
  total: number;
  last: boolean;
  /** Of a list: how many results it was built for. */
  depth?: number | null;
  hits: SearchHit[];
}

/** Where cached search pages live, keyed by (provider, normalised query, page). */
export interface SearchStore {
  /** Every cached page of a query, in page order. */
  load(provider: string, query: string): Promise<CachedPage[]>;
  /** Adds pages; with `replace`, the query's other pages are dropped first. A page already there is kept. */
  save(provider: string, query: string, pages: CachedPage[], replace?: boolean): Promise<void>;
}

/** The search cache in PostgreSQL (SearchResponse: one row per page; SearchResult: its hits). */
export const dbSearchStore: SearchStore = {
  async load(provider, query) {
    const rows = await db().searchResponse.findMany({
      where: { provider, query },
      include: { results: { orderBy: { rank: 'asc' } } },
      orderBy: { page: 'asc' },
    });
    return rows.map((r) => ({
      page: r.page,
      pageSize: r.pageSize,
      total: r.total,
      last: r.last,
      depth: r.depth,
      hits: r.results.map((h) => ({
        url: h.url,
        rank: h.rank,
        ...(h.pageUrl === null ? {} : { pageUrl: h.pageUrl }),
        ...(h.title === null ? {} : { title: h.title }),
        ...(h.source === null ? {} : { source: h.source }),
      })),
    }));
  },

  async save(provider, query, pages, replace = false) {
    await db().$transaction([
      ...(replace ? [db().searchResponse.deleteMany({ where: { provider, query } })] : []),
      db().searchResponse.createMany({
        data: pages.map((p) => ({
          provider,
          query,
          page: p.page,
          pageSize: p.pageSize,
          total: p.total,
          last: p.last,
          depth: p.depth ?? null,
        })),
        skipDuplicates: true,
      }),
      db().searchResult.createMany({
        data: pages.flatMap((p) =>
          p.hits.map((h) => ({
            provider,
            query,
            page: p.page,
            rank: h.rank,
            url: h.url,
            pageUrl: h.pageUrl,
            title: h.title,
            source: h.source,
          })),
        ),
        skipDuplicates: true,
      }),
    ]);
  },
};

export interface CachedSearchResult {
  /** Hits ranked below the limit, best first; a URL only once. */
  hits: SearchHit[];
  /** Pages fetched from the provider (a rebuilt combined list counts 1); 0 when the cache had everything. */
  requests: number;
}

/** What is asked of the cache: up to `limit` results of `query`. */
interface Ask {
  query: string;
  limit: number;
  store: SearchStore;
  signal?: AbortSignal;
}

/**
 * Up to `limit` results of `query` (by rank), from the cache where it has them. A whole list cached deep
 * enough answers at once; otherwise a paged provider goes through its pages (`fetchPages`) and one without
 * pages of its own (several combined) rebuilds its list (`fetchList`).
 */
export async function cachedSearch(
  provider: SearchProvider,
  query: string,
  limit: number,
  store: SearchStore,
  signal?: AbortSignal,
): Promise<CachedSearchResult> {
  if (limit <= 0) return { hits: [], requests: 0 };
  const cached = await store.load(provider.name, query);
  const list = cached.find((p) => p.pageSize === null);
  if (list && covers(list, limit)) return { hits: below(list.hits, limit), requests: 0 };
  const ask = { query, limit, store, signal };
  return isPaged(provider) ? fetchPages(provider, ask, cached) : fetchList(provider, ask);
}

/**
 * A paged provider's results from its `cached` pages where there are some: a deeper query fetches only the
 * pages past the cached ones, and nothing after a last page is asked for. Each fetched page is cached as
 * soon as it arrives. Pages cached at another page size (the provider's settings changed), or a whole list
 * cached before pages were, are replaced by the pages fetched.
 */
async function fetchPages(
  provider: PagedSearchProvider,
  { query, limit, store, signal }: Ask,
  cached: CachedPage[],
): Promise<CachedSearchResult> {
  // A whole list has no page size, so it is replaced too.
  let replace = cached.some((p) => p.pageSize !== provider.pageSize);
  const byPage = new Map(replace ? [] : cached.map((p) => [p.page, p]));
  const size = provider.pageSize;
  const hits: SearchHit[] = [];
  let requests = 0;
  for (let page = 0; page * size < limit; page++) {
    let entry = byPage.get(page);
    if (!entry) {
      const fetched = await provider.searchPage(query, page, signal);
      requests++;
      entry = { page, pageSize: size, total: fetched.hits.length, last: fetched.last, hits: fetched.hits };
      await store.save(provider.name, query, [entry], replace);
      replace = false;
    }
    hits.push(...entry.hits);
    if (entry.last) break;
  }
  return { hits: below(hits, limit), requests };
}

/**
 * A provider without pages of its own (several providers combined): its ranked list is fetched and cached
 * whole under its name, replacing the cached one. What it fetches from the providers it combines goes
 * through their own page caches.
 */
async function fetchList(provider: SearchProvider, { query, limit, store, signal }: Ask): Promise<CachedSearchResult> {
  const hits = await provider.search(query, limit, signal);
  // Fewer hits than asked does not mean the providers have no more (duplicates across them are dropped): a list
  // serves requests up to the depth it was built for; a deeper one rebuilds it, from the providers' cached pages.
  await store.save(
    provider.name,
    query,
    [{ page: 0, pageSize: null, total: hits.length, last: false, depth: limit, hits }],
    true,
  );
  return { hits: below(hits, limit), requests: 1 };
}

/**
 * A paged provider seen through the page cache, for providers that combine several: its `search` answers
 * from cached pages and fetches only the missing ones. Counts the requests it makes.
 */
export class CachedProvider implements SearchProvider {
  readonly name: string;
  requests = 0;

  constructor(
    private readonly inner: PagedSearchProvider,
    private readonly store: SearchStore,
  ) {
    this.name = inner.name;
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    const result = await cachedSearch(this.inner, query, limit, this.store, signal);
    this.requests += result.requests;
    return result.hits;
  }
}

/** Whether a list answers a request for `limit` results (one cached before lists had a depth: by its size). */
function covers(list: CachedPage, limit: number): boolean {
  return list.last || (list.depth ?? list.total) >= limit;
}

/** Hits ranked below `limit`, each URL once (the first). */
function below(hits: SearchHit[], limit: number): SearchHit[] {
  const seen = new Set<string>();
  return hits.filter((h) => {
    if (h.rank >= limit || seen.has(h.url)) return false;
    seen.add(h.url);
    return true;
  });
}
