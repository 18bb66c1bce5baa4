import { createHash } from 'node:crypto';

/**
 * A deterministic sample of `n` items: ordered by a hash of the seed and each item's key, so the same run
 * gives the same grid every time, while different iterations (seeds) draw unrelated samples.
 */
export function sampleByHash<T>(items: T[], n: number, key: (item: T) => string, seed: string): T[] {
  return items
    .map((item) => ({
      item,
      rank: createHash('sha256')
        .update(`${seed}\u0000${key(item)}`)
        .digest('hex'),
    }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .slice(0, n)
    .map((x) => x.item);
}

/** The iterations whose downloads are shown: the first, the middle one and the last (deduplicated). */
export function gridIterations(indices: number[]): number[] {
  if (!indices.length) return [];
  const sorted = [...indices].sort((a, b) => a - b);
  return [...new Set([sorted[0], sorted[Math.floor((sorted.length - 1) / 2)], sorted[sorted.length - 1]])];
}
