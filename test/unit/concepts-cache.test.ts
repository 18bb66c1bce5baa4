import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ensureCombinedEmbeddings,
  ensureConceptEmbeddings,
  ensureExtendedEmbeddings,
  loadConceptEmbeddings,
  UNUSED_ADDITIONS_MS,
} from '../../activities/concepts/embeddings-cache';
import type { TextEncoder } from '../../activities/concepts/encoder';
import { seededUnitVector } from '../../activities/concepts/prng';

/** Deterministic stand-in encoder that counts how many texts it embedded. */
class CountingEncoder implements TextEncoder {
  readonly dim = 4;
  embedded = 0;
  constructor(readonly name = 'counting-test') {}
  async embed(texts: string[]): Promise<Float32Array> {
    this.embedded += texts.length;
    const out = new Float32Array(texts.length * this.dim);
    texts.forEach((t, i) => out.set(seededUnitVector(t, this.dim), i * this.dim));
    return out;
  }
}

describe('ensureConceptEmbeddings', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'concept-embeddings-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const vocabulary = ['dog', 'golden retriever', 'carburetor', 'tabby cat', 'red fox'];

  it('computes once, in chunks, and reuses the cached file on the second call', async () => {
    const encoder = new CountingEncoder();
    const first = await ensureConceptEmbeddings({ encoder, dir, vocabulary, chunkSize: 2 });
    expect(first).toEqual({
      path: path.join(dir, 'counting-test-5x4.f32'),
      count: 5,
      dim: 4,
      encoder: 'counting-test',
    });
    expect(encoder.embedded).toBe(5);
    const mtime = statSync(first.path).mtimeMs;

    const second = await ensureConceptEmbeddings({ encoder, dir, vocabulary });
    expect(second).toEqual(first);
    expect(encoder.embedded).toBe(5);
    expect(statSync(first.path).mtimeMs).toBe(mtime);

    const vectors = await loadConceptEmbeddings(first.path);
    expect(vectors).toHaveLength(20);
    expect(Array.from(vectors.subarray(4, 8))).toEqual(Array.from(seededUnitVector('golden retriever', 4)));
  });

  it('recomputes when the vocabulary changes or the sidecar is damaged', async () => {
    const encoder = new CountingEncoder();
    await ensureConceptEmbeddings({ encoder, dir, vocabulary });
    // Same size, different content: the vocabulary hash must catch it.
    const swapped = [...vocabulary.slice(1), 'dog'];
    await ensureConceptEmbeddings({ encoder, dir, vocabulary: swapped });
    expect(encoder.embedded).toBe(10);
    const info = await ensureConceptEmbeddings({ encoder, dir, vocabulary: swapped });
    expect(encoder.embedded).toBe(10);
    writeFileSync(`${info.path}.json`, '{"count": 5');
    await ensureConceptEmbeddings({ encoder, dir, vocabulary: swapped });
    expect(encoder.embedded).toBe(15);
    expect(Array.from((await loadConceptEmbeddings(info.path)).subarray(16, 20))).toEqual(
      Array.from(seededUnitVector('dog', 4)),
    );
  });

  it('rejects an encoder that returns the wrong shape', async () => {
    const broken: TextEncoder = { name: 'broken', dim: 3, embed: async (t) => new Float32Array(t.length * 2) };
    await expect(ensureConceptEmbeddings({ encoder: broken, dir, vocabulary })).rejects.toThrow(/returned/);
  });
});

describe('ensureExtendedEmbeddings (concepts runs added after the cached vocabulary)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'concept-embeddings-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const base = ['dog', 'golden retriever', 'tabby cat'];

  it('appends only the added concepts to the cached matrix, keyed by the added names', async () => {
    const encoder = new CountingEncoder();
    const baseInfo = await ensureConceptEmbeddings({ encoder, dir, vocabulary: base });
    expect(encoder.embedded).toBe(3);
    const vocabulary = [...base, 'Abyssinian', 'Bengal'];
    const info = await ensureExtendedEmbeddings({ encoder, dir, vocabulary, baseCount: 3 });
    expect(encoder.embedded).toBe(5); // the cached rows were not embedded again
    expect(info.count).toBe(5);
    expect(info.path).not.toBe(baseInfo.path);
    const rows = await loadConceptEmbeddings(info.path);
    expect(Array.from(rows.subarray(0, 12))).toEqual(Array.from(await loadConceptEmbeddings(baseInfo.path)));
    expect(Array.from(rows.subarray(12, 16))).toEqual(Array.from(seededUnitVector('Abyssinian', 4)));
    expect(Array.from(rows.subarray(16, 20))).toEqual(Array.from(seededUnitVector('Bengal', 4)));

    expect(await ensureExtendedEmbeddings({ encoder, dir, vocabulary, baseCount: 3 })).toEqual(info);
    expect(encoder.embedded).toBe(5);
    // Other added names at the same ids are a different file, never the same rows.
    const other = await ensureExtendedEmbeddings({
      encoder,
      dir,
      vocabulary: [...base, 'Sphynx', 'Bengal'],
      baseCount: 3,
    });
    expect(other.path).not.toBe(info.path);
    // Both stay: another database sharing this folder may be using the first (it was used just now).
    expect(existsSync(info.path) && existsSync(`${info.path}.json`)).toBe(true);
    expect(existsSync(other.path) && existsSync(`${other.path}.json`)).toBe(true);
    expect(existsSync(baseInfo.path) && existsSync(`${baseInfo.path}.json`)).toBe(true);
    expect(Array.from((await loadConceptEmbeddings(other.path)).subarray(12, 16))).toEqual(
      Array.from(seededUnitVector('Sphynx', 4)),
    );
    // Nothing added: the cached matrix itself.
    expect(await ensureExtendedEmbeddings({ encoder, dir, vocabulary: base, baseCount: 3 })).toEqual(baseInfo);
  });

  it('removes files for added concepts that went a day unused when it writes a new one, never the WordNet matrices', async () => {
    const text = new CountingEncoder();
    const other = new CountingEncoder('other-test');
    const combine = async (vocabulary: string[]) => {
      const parts = [text, other].map((encoder) =>
        ensureExtendedEmbeddings({ encoder, dir, vocabulary, baseCount: 3 }),
      );
      const [a, b] = await Promise.all(parts);
      return ensureCombinedEmbeddings({
        parts: [
          { info: a, weight: 0.5 },
          { info: b, weight: 0.5 },
        ],
        vocabulary,
        baseCount: 3,
        dir,
      });
    };
    const wordnetOnly = await combine(base);
    const first = await combine([...base, 'Abyssinian']);
    const firstHash = path.basename(first.path).split('-').pop() as string;
    const firstFiles = () => readdirSync(dir).filter((f) => f.includes(firstHash.replace('.f32', '')));
    expect(firstFiles()).toHaveLength(6); // text, other and combined, each with its sidecar
    // Left unused for two days, then used again: using a cached file marks it used.
    const twoDaysAgo = new Date(Date.now() - 2 * UNUSED_ADDITIONS_MS);
    for (const f of firstFiles()) utimesSync(path.join(dir, f), twoDaysAgo, twoDaysAgo);
    expect(await combine([...base, 'Abyssinian'])).toEqual(first);
    expect(Date.now() - statSync(first.path).mtimeMs).toBeLessThan(UNUSED_ADDITIONS_MS);
    // A file still in use stays when the vocabulary grows...
    await combine([...base, 'Abyssinian', 'Sphynx']);
    expect(firstFiles()).toHaveLength(6);
    // ...and a file unused for a day goes with the next write.
    for (const f of firstFiles()) utimesSync(path.join(dir, f), twoDaysAgo, twoDaysAgo);
    const sphynxHash = path
      .basename((await combine([...base, 'Abyssinian', 'Sphynx'])).path)
      .split('-')
      .pop() as string;
    for (const f of readdirSync(dir).filter((f) => f.includes(sphynxHash.replace('.f32', ''))))
      utimesSync(path.join(dir, f), twoDaysAgo, twoDaysAgo);
    const grown = await combine([...base, 'Abyssinian', 'Bengal']);
    expect(grown.encoder).toBe('counting-test@0.5+other-test@0.5');
    expect(firstFiles()).toEqual([]);
    expect(existsSync(grown.path) && existsSync(`${grown.path}.json`)).toBe(true);
    // The combination over the WordNet nouns alone is a file of its own, and stays.
    expect(existsSync(wordnetOnly.path)).toBe(true);
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.f32'))
        .sort(),
    ).toEqual(
      [
        path.basename(grown.path),
        path.basename(wordnetOnly.path),
        'counting-test-3x4.f32',
        'counting-test-5x4-' + path.basename(grown.path).split('-').pop(),
        'other-test-3x4.f32',
        'other-test-5x4-' + path.basename(grown.path).split('-').pop(),
      ].sort(),
    );
  });
});
