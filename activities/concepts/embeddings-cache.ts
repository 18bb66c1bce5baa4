import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { removeOtherVersions, touch, writeFileAtomic } from '../../lib/files';
import { logger } from '../../lib/logger';
import { stateDir } from '../../lib/paths';
import { yieldEvery } from '../../lib/yield';
import { GloveTextEncoder, type TextEncoder } from './encoder';
import { loadVocabulary, wordnetGloss } from './vocabulary';

export interface ConceptEmbeddingsInfo {
  /** Raw little-endian float32 file, row-major [count, dim]; row i is concept id i. */
  path: string;
  count: number;
  dim: number;
  encoder: string;
  /**
   * Widths of the parts a combined file holds side by side, when the GP is to fit each part's weight itself
   * (`concepts.taxonomyWeight` 'fit'); absent, the GP takes the rows as they are.
   */
  blocks?: number[];
}

export interface EnsureConceptEmbeddingsOptions {
  /** Defaults to GloVe with the WordNet gloss as fallback text. */
  encoder?: TextEncoder;
  /** Defaults to `stateDir()/concepts`. */
  dir?: string;
  /** Defaults to the WordNet noun vocabulary; index = concept id. */
  vocabulary?: string[];
  /** Concepts per `encoder.embed` call, bounding the encoder's working memory. */
  chunkSize?: number;
  /** Called after each chunk (e.g. an activity heartbeat): a slow encoder takes minutes over the vocabulary. */
  onProgress?: (done: number, total: number) => void;
}

const Sidecar = z.object({
  count: z.number().int().nonnegative(),
  dim: z.number().int().positive(),
  encoder: z.string(),
  vocabularySha256: z.string(),
});
type Sidecar = z.infer<typeof Sidecar>;

/** sha256 over the vocabulary in id order, so a reordered or edited vocabulary invalidates the cache. */
export function vocabularySha256(vocabulary: string[]): string {
  // One update over the joined names (each followed by a newline): the same digest as one update per name,
  // without 117,798 calls into the hash that held the event loop for a quarter of a second.
  return createHash('sha256')
    .update(vocabulary.length ? `${vocabulary.join('\n')}\n` : '')
    .digest('hex');
}

/**
 * Embeds the whole vocabulary once and caches it as `<dir>/<encoder>-<count>x<dim>.f32` plus a
 * `.json` sidecar. Reuses the file when the sidecar matches (encoder, shape, vocabulary hash) and
 * the file has the expected size; otherwise recomputes and replaces both atomically.
 */
export async function ensureConceptEmbeddings(
  options: EnsureConceptEmbeddingsOptions = {},
): Promise<ConceptEmbeddingsInfo> {
  const vocabulary = options.vocabulary ?? loadVocabulary();
  const encoder = options.encoder ?? new GloveTextEncoder({ fallbackText: (lemma) => wordnetGloss(lemma) });
  const dir = options.dir ?? path.join(stateDir(), 'concepts');
  const expected: Sidecar = {
    count: vocabulary.length,
    dim: encoder.dim,
    encoder: encoder.name,
    vocabularySha256: vocabularySha256(vocabulary),
  };
  const file = path.join(dir, `${encoder.name}-${expected.count}x${expected.dim}.f32`);
  const info: ConceptEmbeddingsInfo = { path: file, count: expected.count, dim: expected.dim, encoder: encoder.name };
  if (isCached(file, expected)) return info;

  const started = Date.now();
  const vectors = await embedAll(encoder, vocabulary, options.chunkSize ?? 8192, options.onProgress);
  assertLittleEndianHost();
  await writeFileAtomic(file, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  // The sidecar goes last: its presence vouches for a complete .f32 file.
  await writeFileAtomic(`${file}.json`, JSON.stringify(expected, null, 2) + '\n');
  logger.info({ ...info, ms: Date.now() - started }, 'concept embeddings computed');
  return info;
}

/** Reads a `.f32` file written by `ensureConceptEmbeddings` into a fresh Float32Array (off the event loop). */
export async function loadConceptEmbeddings(file: string): Promise<Float32Array> {
  assertLittleEndianHost();
  const bytes = await readFile(file);
  if (bytes.byteLength % 4 !== 0) throw new Error(`${file}: size ${bytes.byteLength} is not a multiple of 4`);
  // A file this size comes back in a buffer of its own: view it in place (no second copy of ~170 MB to
  // collect later); a small file may be a slice of Node's shared pool at an odd offset, and is copied.
  if (bytes.byteOffset % 4 === 0 && bytes.byteLength === bytes.buffer.byteLength)
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/**
 * Embeddings of a vocabulary that extends the cached one: the first `baseCount` names are the cached
 * vocabulary (the WordNet nouns), the rest are concepts runs added. Their rows are appended to a copy of
 * the cached matrix, cached as `<encoder>-<count>x<dim>-<hash of the added names>.f32`, so concept ids
 * stay the rows and adding a concept never re-embeds the whole vocabulary. Disk: the files used in the last
 * day, per encoder (`removeUnusedAdditions`), beside the WordNet matrix.
 */
export async function ensureExtendedEmbeddings(
  options: EnsureConceptEmbeddingsOptions & { vocabulary: string[]; baseCount: number },
): Promise<ConceptEmbeddingsInfo> {
  const { vocabulary, baseCount } = options;
  const base = await ensureConceptEmbeddings({ ...options, vocabulary: vocabulary.slice(0, baseCount) });
  if (vocabulary.length === baseCount) return base;
  const encoder = options.encoder ?? new GloveTextEncoder({ fallbackText: (lemma) => wordnetGloss(lemma) });
  const dir = options.dir ?? path.join(stateDir(), 'concepts');
  const added = vocabulary.slice(baseCount);
  const expected: Sidecar = {
    count: vocabulary.length,
    dim: encoder.dim,
    encoder: encoder.name,
    vocabularySha256: vocabularySha256(vocabulary),
  };
  const file = path.join(
    dir,
    `${encoder.name}-${expected.count}x${expected.dim}-${vocabularySha256(added).slice(0, 12)}.f32`,
  );
  const info: ConceptEmbeddingsInfo = { path: file, count: expected.count, dim: expected.dim, encoder: encoder.name };
  if (isCached(file, expected)) return usedNow(info);
  const out = new Float32Array(vocabulary.length * encoder.dim);
  out.set(await loadConceptEmbeddings(base.path));
  out.set(await embedAll(encoder, added, options.chunkSize ?? 8192, options.onProgress), baseCount * encoder.dim);
  await writeFileAtomic(file, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  await writeFileAtomic(`${file}.json`, JSON.stringify(expected, null, 2) + '\n');
  await removeUnusedAdditions(file, encoder.name);
  logger.info({ ...info, added: added.length }, 'added concepts embedded');
  return info;
}

/** One part of a combined embedding: a cached embedding file and its share of the squared distance. */
export interface EmbeddingPart {
  info: ConceptEmbeddingsInfo;
  weight: number;
}

/**
 * Concatenates cached embeddings of the same vocabulary, each row L2-normalised and scaled by √weight
 * (weights summing to 1), so combined rows are unit vectors again and a squared distance between two
 * concepts is the weighted sum of the parts' squared distances: an RBF kernel on the combination is the
 * product of one RBF kernel per part, each with the length scale stretched by 1/√weight. Two concepts are
 * then close only where every part says so. Cached as
 * `<dir>/<encoder>@<weight>+…-<count>x<dim>[-<hash of the added names>].f32` beside its parts.
 */
export async function ensureCombinedEmbeddings(options: {
  parts: EmbeddingPart[];
  /** The vocabulary every part embeds (index = concept id). */
  vocabulary: string[];
  /** Names beyond this many are concepts runs added (named by their hash, as `ensureExtendedEmbeddings` does). */
  baseCount?: number;
  dir?: string;
}): Promise<ConceptEmbeddingsInfo> {
  const { parts, vocabulary } = options;
  if (parts.length === 0) throw new RangeError('combining embeddings needs at least one part');
  const total = parts.reduce((s, p) => s + p.weight, 0);
  if (parts.some((p) => !(p.weight > 0)) || Math.abs(total - 1) > 1e-9) {
    throw new RangeError(`part weights must be positive and sum to 1, got ${parts.map((p) => p.weight).join(' + ')}`);
  }
  for (const p of parts) {
    if (p.info.count !== vocabulary.length) {
      throw new RangeError(`${p.info.path} holds ${p.info.count} concepts, the vocabulary ${vocabulary.length}`);
    }
  }
  if (parts.length === 1) return parts[0].info;
  const dir = options.dir ?? path.join(stateDir(), 'concepts');
  const encoder = parts.map((p) => `${p.info.encoder}@${Number(p.weight.toFixed(6))}`).join('+');
  const dim = parts.reduce((s, p) => s + p.info.dim, 0);
  const expected: Sidecar = {
    count: vocabulary.length,
    dim,
    encoder,
    vocabularySha256: vocabularySha256(vocabulary),
  };
  const baseCount = options.baseCount ?? vocabulary.length;
  const suffix = vocabulary.length > baseCount ? `-${vocabularySha256(vocabulary.slice(baseCount)).slice(0, 12)}` : '';
  const file = path.join(dir, `${encoder}-${expected.count}x${dim}${suffix}.f32`);
  const info: ConceptEmbeddingsInfo = { path: file, count: expected.count, dim, encoder };
  if (isCached(file, expected)) return suffix ? usedNow(info) : info;
  const out = new Float32Array(vocabulary.length * dim);
  let offset = 0;
  for (const part of parts) {
    const rows = await loadConceptEmbeddings(part.info.path);
    const d = part.info.dim;
    const scale = Math.sqrt(part.weight);
    for (let i = 0; i < vocabulary.length; i++) {
      await yieldEvery(i, 8192);
      let norm = 0;
      for (let k = 0; k < d; k++) norm += rows[i * d + k] * rows[i * d + k];
      const f = norm > 0 ? scale / Math.sqrt(norm) : 0;
      for (let k = 0; k < d; k++) out[i * dim + offset + k] = rows[i * d + k] * f;
    }
    offset += d;
  }
  await writeFileAtomic(file, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  await writeFileAtomic(`${file}.json`, JSON.stringify(expected, null, 2) + '\n');
  if (suffix) await removeUnusedAdditions(file, encoder);
  logger.info({ ...info }, 'combined concept embeddings written');
  return info;
}

/** A cached file of an encoder over the WordNet nouns plus added concepts: `<count>x<dim>-<hash>.f32[.json]`. */
const WITH_ADDITIONS = /^\d+x\d+-[0-9a-f]{12}\.f32(\.json)?$/;

/** How long a file for added concepts may go unused before the next write removes it. */
export const UNUSED_ADDITIONS_MS = 24 * 3600_000;

/**
 * Removes the encoder's files for other sets of added concepts that no run has used for a day, once `file`
 * is written. A run's vocabulary grows as concepts are added, so each addition leaves the previous file
 * behind (~170 MB for a combination); but databases sharing this folder (test suites, a second deployment)
 * each have their own, in use at once. Each use touches its file (`usedNow`), and an update stage uses it
 * every iteration, so a day unused means no run needs it; one that does builds it again from the WordNet
 * matrix, which always stays.
 */
async function removeUnusedAdditions(file: string, encoder: string): Promise<void> {
  const name = path.basename(file);
  await removeOtherVersions(path.dirname(file), `${encoder}-`, WITH_ADDITIONS, [name, `${name}.json`], {
    unusedForMs: UNUSED_ADDITIONS_MS,
  });
}

/**
 * Marks a cached file for added concepts as used now (its modification time), so the pruning keeps it. A
 * folder this process may read but not modify (copied from another host, read-only) still serves the file.
 */
async function usedNow(info: ConceptEmbeddingsInfo): Promise<ConceptEmbeddingsInfo> {
  try {
    await touch(info.path);
    await touch(`${info.path}.json`);
  } catch (error) {
    logger.warn({ path: info.path, err: String(error) }, 'could not mark concept embeddings as used; serving them');
  }
  return info;
}

async function embedAll(
  encoder: TextEncoder,
  vocabulary: string[],
  chunkSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array> {
  const dim = encoder.dim;
  const out = new Float32Array(vocabulary.length * dim);
  for (let start = 0; start < vocabulary.length; start += chunkSize) {
    const chunk = vocabulary.slice(start, start + chunkSize);
    const rows = await encoder.embed(chunk);
    if (rows.length !== chunk.length * dim) {
      throw new Error(`encoder ${encoder.name} returned ${rows.length} values for ${chunk.length}×${dim}`);
    }
    out.set(rows, start * dim);
    onProgress?.(start + chunk.length, vocabulary.length);
  }
  return out;
}

function isCached(file: string, expected: Sidecar): boolean {
  const sidecarPath = `${file}.json`;
  if (!existsSync(file) || !existsSync(sidecarPath)) return false;
  try {
    const found = Sidecar.parse(JSON.parse(readFileSync(sidecarPath, 'utf8')));
    return (
      found.count === expected.count &&
      found.dim === expected.dim &&
      found.encoder === expected.encoder &&
      found.vocabularySha256 === expected.vocabularySha256 &&
      statSync(file).size === expected.count * expected.dim * 4
    );
  } catch {
    return false; // unreadable sidecar: recompute
  }
}

/** Float32Array bytes are written as-is; the file format is little-endian. */
function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('concept embedding files are little-endian; big-endian hosts unsupported');
}
