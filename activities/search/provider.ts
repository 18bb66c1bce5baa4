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
}

/** A text-to-image search engine: the local engine today, web APIs (Openverse, Flickr, ...) later. */
export interface SearchProvider {
  readonly name: string;
  /** Up to `limit` hits, best first; fewer when the engine has no more. */
  search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]>;
}

/** Canonical form of a query (trimmed, lowercase, single spaces), used as the query-cache key. */
export function normaliseQuery(query: string): string {
  return query.trim().toLowerCase().replace(/\s+/g, ' ');
}
