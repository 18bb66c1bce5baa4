/** One image result of a text-to-image search, independent of which engine produced it. */
export interface SearchHit {
  /** Absolute URL of the image bytes. */
  url: string;
  /** Absolute URL of the page the image appears on, where the engine gives one. */
  pageUrl?: string;
  title?: string;
  /** 0-based position in the engine's ranking, counted across pages. */
  rank: number;
  width?: number;
  height?: number;
  license?: string;
  creator?: string;
  /** Which provider returned the hit, when several answer one query (CombinedProvider). */
  source?: string;
}

/** A text-to-image search engine: the local engine today, web APIs (Openverse, Flickr, ...) later. */
export interface SearchProvider {
  readonly name: string;
  /** Up to `limit` hits, best first; fewer when the engine has no more. */
  search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]>;
}

/** One page of a provider's ranking. */
export interface SearchPage {
  /** Ranks are positions in the whole ranking: page × pageSize + position on the page. */
  hits: SearchHit[];
  /** The engine has nothing after this page. */
  last: boolean;
}

/** A provider whose results come in pages of a fixed size, each fetched on its own (what the cache keys). */
export interface PagedSearchProvider extends SearchProvider {
  readonly pageSize: number;
  /** Page `page` (0-based) of the results for `query`: ranks page × pageSize … (page + 1) × pageSize − 1. */
  searchPage(query: string, page: number, signal?: AbortSignal): Promise<SearchPage>;
}

export function isPaged(provider: SearchProvider): provider is PagedSearchProvider {
  return typeof (provider as Partial<PagedSearchProvider>).searchPage === 'function';
}

/** Canonical form of a query (trimmed, lowercase, single spaces), used as the query-cache key. */
export function normaliseQuery(query: string): string {
  return query.trim().toLowerCase().replace(/\s+/g, ' ');
}
