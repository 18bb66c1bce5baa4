import MiniSearch, { type Options } from 'minisearch';
import type { ManifestRecord } from './corpus';
import { stableHash, normaliseText, processTerm, tokenize } from './text';

interface IndexedDoc {
  id: number;
  caption: string;
}

const MINISEARCH_OPTIONS: Options<IndexedDoc> = {
  fields: ['caption'],
  storeFields: [],
  tokenize,
  processTerm,
  searchOptions: { combineWith: 'OR', fuzzy: false, prefix: false },
};

export interface SearchPage {
  /** Number of images matching the query. */
  total: number;
  records: ManifestRecord[];
}

/**
 * BM25+ ranking of images by caption (minisearch), OR across query terms, exact terms only (no fuzzy or
 * prefix matching, so a niche query finds nothing, as on the web). Images with identical captions score
 * the same; those ties are ordered by a hash of (query, key), which spreads a query over a class's images
 * the way a real engine would, using nothing but the query and the key.
 */
export class SearchIndex {
  private readonly cache = new Map<string, Int32Array>();

  private constructor(
    private readonly records: readonly ManifestRecord[],
    private readonly mini: MiniSearch<IndexedDoc>,
    private readonly cacheSize: number,
  ) {}

  static build(records: readonly ManifestRecord[], cacheSize = 256): SearchIndex {
    const mini = new MiniSearch<IndexedDoc>(MINISEARCH_OPTIONS);
    // One document per image, so document frequencies and lengths are exactly per-image BM25.
    mini.addAll(records.map((r, id) => ({ id, caption: r.caption })));
    return new SearchIndex(records, mini, cacheSize);
  }

  /**
   * The index `toJSON` wrote for these same records (index-cache.ts checks that it is theirs). A copy for
   * another number of images is refused.
   */
  static fromJSON(records: readonly ManifestRecord[], json: string, cacheSize = 256): SearchIndex {
    // Synchronous: a third of loadJSONAsync's wall time, at engine start before it serves anything.
    const mini = MiniSearch.loadJSON<IndexedDoc>(json, MINISEARCH_OPTIONS);
    if (mini.documentCount !== records.length)
      throw new Error(`the saved index holds ${mini.documentCount} images, the manifest ${records.length}`);
    return new SearchIndex(records, mini, cacheSize);
  }

  /** The index as minisearch serialises it: loading it back costs a fraction of building it. */
  toJSON(): string {
    return JSON.stringify(this.mini);
  }

  get size(): number {
    return this.records.length;
  }

  /** Results `offset`..`offset+limit` of the ranking for `query`. */
  search(query: string, offset: number, limit: number): SearchPage {
    const ranking = this.rank(query);
    const end = Math.min(ranking.length, offset + limit);
    const records: ManifestRecord[] = [];
    for (let i = offset; i < end; i++) records.push(this.records[ranking[i]]);
    return { total: ranking.length, records };
  }

  /** Full ranking (record indices, best first), memoised per normalised query since agents page through it. */
  private rank(query: string): Int32Array {
    const q = normaliseText(query);
    const cached = this.cache.get(q);
    if (cached) {
      // Re-insert to keep the map in least-recently-used order.
      this.cache.delete(q);
      this.cache.set(q, cached);
      return cached;
    }
    const hits = this.mini.search(q);
    const n = hits.length;
    const ids = new Int32Array(n);
    const scores = new Float64Array(n);
    const ties = new Uint32Array(n);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const id = hits[i].id as number;
      ids[i] = id;
      scores[i] = hits[i].score;
      ties[i] = stableHash(`${q}\u0000${this.records[id].key}`);
      order[i] = i;
    }
    order.sort((a, b) => scores[b] - scores[a] || ties[a] - ties[b] || ids[a] - ids[b]);
    const ranking = order.map((i) => ids[i]);
    this.cache.set(q, ranking);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return ranking;
  }
}
