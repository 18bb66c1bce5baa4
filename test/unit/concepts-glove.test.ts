// The only test file that loads the 307 MB GloVe table (and WordNet).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureConceptEmbeddings, loadConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import { GloveTextEncoder } from '../../activities/concepts/encoder';
import { loadVocabulary } from '../../activities/concepts/vocabulary';

function cosine(rows: Float32Array, dim: number, a: number, b: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += rows[a * dim + d] * rows[b * dim + d];
  return s;
}

describe('GloveTextEncoder', () => {
  const encoder = new GloveTextEncoder({
    fallbackText: (text) => (text === 'flurbleqx zorpquat' ? 'a large domestic dog' : undefined),
  });

  it('places golden retriever nearer labrador retriever than carburetor', async () => {
    const v = await encoder.embed(['golden retriever', 'labrador retriever', 'carburetor']);
    expect(v).toHaveLength(300);
    for (let i = 0; i < 3; i++) expect(cosine(v, 100, i, i)).toBeCloseTo(1, 5);
    expect(cosine(v, 100, 0, 1)).toBeGreaterThan(cosine(v, 100, 0, 2) + 0.2);
  });

  it('splits on hyphens/apostrophes and falls back to the gloss, then to a stable hash', async () => {
    const texts = ['flurbleqx zorpquat', 'dog', 'qqzxv', 'qqzxw', 'qqzxv', "Jack-o'-lantern"];
    const { vectors, sources } = await encoder.embedDetailed(texts);
    expect(sources).toEqual(['fallback', 'words', 'hash', 'hash', 'hash', 'words']);
    expect(cosine(vectors, 100, 0, 1)).toBeGreaterThan(0.5); // "large domestic dog" ≈ "dog"
    expect(cosine(vectors, 100, 2, 4)).toBeCloseTo(1, 6); // same text → same vector
    expect(Math.abs(cosine(vectors, 100, 2, 3))).toBeLessThan(0.5); // different text → unrelated
    expect(cosine(vectors, 100, 2, 2)).toBeCloseTo(1, 5);
  });

  it('embeds the full WordNet vocabulary once and reuses the cache', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'concept-embeddings-'));
    try {
      const info = await ensureConceptEmbeddings({ dir });
      expect(info.count).toBe(loadVocabulary().length);
      expect(info.count).toBe(117_798);
      expect(info.dim).toBe(100);
      const mtime = statSync(info.path).mtimeMs;
      expect(await ensureConceptEmbeddings({ dir })).toEqual(info);
      expect(statSync(info.path).mtimeMs).toBe(mtime);
      const vectors = await loadConceptEmbeddings(info.path);
      expect(vectors).toHaveLength(117_798 * 100);
      const vocabulary = loadVocabulary();
      const dog = vocabulary.indexOf('dog');
      const cat = vocabulary.indexOf('cat');
      const piston = vocabulary.indexOf('piston');
      expect(cosine(vectors, 100, dog, cat)).toBeGreaterThan(cosine(vectors, 100, dog, piston));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
