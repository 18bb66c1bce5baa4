/** Common English function words: they match nearly every caption and carry no meaning for image search. */
const STOP_WORDS = new Set(
  (
    'a an and are as at be by for from has have in is it its of on or that the their this to was were ' +
    'with which who whom whose what when where how not no nor but into onto than then there these those'
  ).split(' '),
);

/** Lowercase, trim and collapse whitespace: two queries that normalise alike are the same query. */
export function normaliseText(text: string): string {
  return text.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** Splits on anything that is not a letter or digit (so 'go-kart' → 'go', 'kart'). */
export function tokenize(text: string): string[] {
  return text.split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 0);
}

/** Lowercases a token and drops stop words (minisearch treats a null term as dropped). */
export function processTerm(term: string): string | null {
  const t = term.toLowerCase();
  return STOP_WORDS.has(t) ? null : t;
}

/**
 * Cheap, stable 32-bit hash used to order results whose scores tie: FNV-1a, then the murmur3 finaliser
 * so that keys differing only in their last digits still land far apart.
 */
export function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
