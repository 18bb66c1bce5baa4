import { QuotaExhaustedError } from './http';
import type { SearchHit, SearchProvider } from './provider';

export type CombineMode = 'round-robin' | 'split';

/**
 * Several providers behind one.
 *
 * - `round-robin`: the i-th query this instance is asked goes to provider i mod n. A provider whose quota is
 *   exhausted passes the query on to the next one; only when every quota is spent does the query fail.
 * - `split`: each query's limit is divided across the providers (the first ones get the remainder), their
 *   results interleaved (1st of each, then 2nd of each, ...), deduplicated by URL and re-ranked. A provider
 *   whose quota is exhausted contributes nothing; any other failure fails the query (no partial answers).
 *
 * The name lists the mode and providers, so cached responses never mix with a single provider's.
 */
export class CombinedProvider implements SearchProvider {
  readonly name: string;
  private next = 0;

  constructor(
    private readonly providers: SearchProvider[],
    private readonly mode: CombineMode,
  ) {
    if (providers.length === 0) throw new Error('combined search needs at least one provider');
    this.name = `${mode}:${providers.map((p) => p.name).join('+')}`;
  }

  async search(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    if (limit <= 0) return [];
    return this.mode === 'split' ? this.split(query, limit, signal) : this.roundRobin(query, limit, signal);
  }

  private async roundRobin(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    const first = this.next++ % this.providers.length;
    let exhausted: QuotaExhaustedError | undefined;
    for (let k = 0; k < this.providers.length; k++) {
      const provider = this.providers[(first + k) % this.providers.length];
      try {
        return tagged(await provider.search(query, limit, signal), provider);
      } catch (err) {
        if (!(err instanceof QuotaExhaustedError)) throw err;
        exhausted ??= err;
      }
    }
    throw exhausted!;
  }

  private async split(query: string, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    const n = this.providers.length;
    const shares = this.providers.map((_, k) => Math.floor(limit / n) + (k < limit % n ? 1 : 0));
    const settled = await Promise.allSettled(
      this.providers.map((p, k) =>
        shares[k] > 0 ? p.search(query, shares[k], signal).then((hits) => tagged(hits, p)) : Promise.resolve([]),
      ),
    );
    const lists: SearchHit[][] = [];
    let exhausted: QuotaExhaustedError | undefined;
    for (const s of settled) {
      if (s.status === 'fulfilled') lists.push(s.value);
      else if (s.reason instanceof QuotaExhaustedError) exhausted ??= s.reason;
      else throw s.reason;
    }
    if (lists.length === 0 && exhausted) throw exhausted;
    return interleave(lists, limit);
  }
}

/** Hits marked with the provider that returned them (a nested combination keeps the innermost). */
function tagged(hits: SearchHit[], provider: SearchProvider): SearchHit[] {
  return hits.map((hit) => ({ ...hit, source: hit.source ?? provider.name }));
}

/** 1st of each list, then 2nd of each, ...; first occurrence of a URL wins; ranks 0-based in the new order. */
export function interleave(lists: SearchHit[][], limit: number): SearchHit[] {
  const out: SearchHit[] = [];
  const seen = new Set<string>();
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest && out.length < limit; i++) {
    for (const list of lists) {
      const hit = list[i];
      if (!hit || seen.has(hit.url)) continue;
      seen.add(hit.url);
      out.push({ ...hit, rank: out.length });
      if (out.length >= limit) break;
    }
  }
  return out;
}
