import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureCombinedEmbeddings,
  ensureConceptEmbeddings,
  loadConceptEmbeddings,
} from '../../activities/concepts/embeddings-cache';
import type { TextEncoder } from '../../activities/concepts/encoder';
import { fitConceptGp } from '../../activities/concepts/gp';
import { seededUnitVector } from '../../activities/concepts/prng';
import { exactTaxonomyCosine, senseWeights, TaxonomyEncoder } from '../../activities/concepts/taxonomy';
import { pythonExecutable } from '../../lib/paths';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-taxonomy-'));
  dirs.push(dir);
  return dir;
}

function cosine(rows: Float32Array, dim: number, a: number, b: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += rows[a * dim + d] * rows[b * dim + d];
  return s;
}

/**
 * Word shapes and nothing else: a name is the normalised sum of one seeded vector per word, so "toy spaniel"
 * and "toy box" are as close as word averages make them. Stands in for GloVe without loading 307 MB.
 */
class BagOfWordsEncoder implements TextEncoder {
  readonly name = 'bag-of-words-test';
  readonly dim = 64;
  async embed(texts: string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.dim);
    texts.forEach((text, i) => {
      const row = out.subarray(i * this.dim, (i + 1) * this.dim);
      for (const word of text.toLowerCase().split(/\s+/)) {
        seededUnitVector(word, this.dim).forEach((x, d) => (row[d] += x));
      }
      const norm = Math.hypot(...row);
      row.forEach((x, d) => (row[d] = x / norm));
    });
    return Promise.resolve(out);
  }
}

describe('TaxonomyEncoder', () => {
  const encoder = new TaxonomyEncoder();

  it('puts dog breeds together and a toy spaniel far from a toy box', () => {
    const names = ['toy spaniel', 'cocker spaniel', 'beagle', 'golden retriever', 'toy box', 'toy soldier', 'tabby'];
    const v = encoder.embedSync(names);
    for (let i = 0; i < names.length; i++) expect(cosine(v, encoder.dim, i, i)).toBeCloseTo(1, 5);
    for (const breed of [1, 2, 3]) expect(cosine(v, encoder.dim, 0, breed)).toBeGreaterThan(0.35);
    expect(Math.abs(cosine(v, encoder.dim, 0, 4))).toBeLessThan(0.15);
    expect(Math.abs(cosine(v, encoder.dim, 0, 5))).toBeLessThan(0.15);
    // A cat is a carnivore and a pet too: between a dog breed and a toy.
    expect(cosine(v, encoder.dim, 0, 6)).toBeGreaterThan(cosine(v, encoder.dim, 0, 4) + 0.2);
    expect(exactTaxonomyCosine('golden retriever', 'Labrador retriever')).toBeGreaterThan(0.7);
    expect(exactTaxonomyCosine('golden retriever', 'golden pea')).toBeLessThan(0.05);
    expect(exactTaxonomyCosine('laurel family', 'golden retriever')).toBeLessThan(0.05);
  });

  it('approximates the exact taxonomy cosine within the projection noise', () => {
    const pairs = [
      ['convertible', 'sports car'],
      ['dog', 'cat'],
      ['orange', 'lemon'],
      ['violin', 'cello'],
      ['eagle', 'bridge'],
    ];
    for (const [a, b] of pairs) {
      const v = encoder.embedSync([a, b]);
      expect(Math.abs(cosine(v, encoder.dim, 0, 1) - exactTaxonomyCosine(a, b))).toBeLessThan(0.2);
    }
  });

  it('weighs senses by concordance counts and rank, and falls back to the last words, then to a seeded vector', () => {
    expect(senseWeights([42, 0, 0])).toEqual([43 / 45, 1 / 45, 1 / 45]);
    expect(senseWeights([0, 0, 0], [true, true, false])).toEqual([0.25, 0.25, 0.5]);
    expect(encoder.sensesOf('dog')[0].weight).toBeGreaterThan(0.85);
    // Chihuahua: a Mexican city and state (named individuals) before the dog, which weighs most.
    expect(encoder.sensesOf('Chihuahua').map((s) => s.weight)).toEqual([0.25, 0.25, 0.5]);
    expect(encoder.sensesOf('toy spaniel puppy').map((s) => s.wnid)).toEqual(
      encoder.sensesOf('puppy').map((s) => s.wnid),
    );
    expect(encoder.sensesOf('qqzx wvvk')).toEqual([]);
    const v = encoder.embedSync(['toy spaniel puppy', 'beagle', 'qqzx wvvk', 'qqzx wvvk', 'qqzx wvvj']);
    expect(cosine(v, encoder.dim, 0, 1)).toBeGreaterThan(0.35);
    expect(cosine(v, encoder.dim, 2, 3)).toBeCloseTo(1, 6);
    expect(Math.abs(cosine(v, encoder.dim, 2, 4))).toBeLessThan(0.5);
    expect(cosine(v, encoder.dim, 2, 2)).toBeCloseTo(1, 5);
  });

  it('is deterministic and cached like any concept embedding', async () => {
    const dir = tempDir();
    const vocabulary = ['dog', 'toy box', 'beagle'];
    const a = await ensureConceptEmbeddings({ encoder: new TaxonomyEncoder(), dir, vocabulary });
    expect(path.basename(a.path)).toBe('wordnet-ic2-3x256.f32');
    const bytes = fs.readFileSync(a.path);
    fs.rmSync(a.path);
    fs.rmSync(`${a.path}.json`);
    const b = await ensureConceptEmbeddings({ encoder: new TaxonomyEncoder(), dir, vocabulary });
    expect(fs.readFileSync(b.path).equals(bytes)).toBe(true);
  });
});

describe('text and taxonomy combined', () => {
  const vocabulary = [
    'toy spaniel',
    // dog breeds
    'cocker spaniel',
    'beagle',
    'golden retriever',
    'Chihuahua',
    'basset hound',
    'collie',
    'dachshund',
    'whippet',
    // names sharing a word with "toy spaniel" that are no dogs
    'toy box',
    'toy soldier',
    'toy train',
    'toy shop',
    // everything else
    'carburetor',
    'volcano',
    'violin',
    'oak',
    'bridge',
    'pencil',
    'cloud',
    'salmon',
    'tractor',
    'cathedral',
    'wheat',
    'lantern',
    'glacier',
    'sonnet',
    'magnet',
    'teapot',
    'mountain',
    'anvil',
    'barley',
  ];
  const breeds = vocabulary.slice(1, 9);
  const toys = vocabulary.slice(9, 13);

  it('makes rows unit vectors whose squared distances add up by weight', async () => {
    const dir = tempDir();
    const text = await ensureConceptEmbeddings({ encoder: new BagOfWordsEncoder(), dir, vocabulary });
    const taxonomy = await ensureConceptEmbeddings({ encoder: new TaxonomyEncoder(), dir, vocabulary });
    const combined = await ensureCombinedEmbeddings({
      parts: [
        { info: text, weight: 0.25 },
        { info: taxonomy, weight: 0.75 },
      ],
      vocabulary,
      dir,
    });
    expect(combined.dim).toBe(64 + 256);
    expect(combined.encoder).toBe('bag-of-words-test@0.25+wordnet-ic2@0.75');
    const rows = await loadConceptEmbeddings(combined.path);
    const t = await loadConceptEmbeddings(text.path);
    const x = await loadConceptEmbeddings(taxonomy.path);
    for (let i = 0; i < vocabulary.length; i++) expect(cosine(rows, combined.dim, i, i)).toBeCloseTo(1, 5);
    expect(cosine(rows, combined.dim, 0, 9)).toBeCloseTo(0.25 * cosine(t, 64, 0, 9) + 0.75 * cosine(x, 256, 0, 9), 5);
    expect(await ensureCombinedEmbeddings({ parts: [{ info: text, weight: 1 }], vocabulary, dir })).toEqual(text);
    await expect(
      ensureCombinedEmbeddings({
        parts: [
          { info: text, weight: 0.5 },
          { info: taxonomy, weight: 0.4 },
        ],
        vocabulary,
        dir,
      }),
    ).rejects.toThrow(/sum to 1/);
  });

  it('evidence for "toy spaniel" raises dog breeds, not toys: the posterior after one observation', async () => {
    const dir = tempDir();
    const text = await ensureConceptEmbeddings({ encoder: new BagOfWordsEncoder(), dir, vocabulary });
    const taxonomy = await ensureConceptEmbeddings({ encoder: new TaxonomyEncoder(), dir, vocabulary });
    const combined = await ensureCombinedEmbeddings({
      parts: [
        { info: text, weight: 0.3 },
        { info: taxonomy, weight: 0.7 },
      ],
      vocabulary,
      dir,
    });
    // GP posterior mean after observing y at "toy spaniel" alone (RBF, length scale 0.7, noise 0.1):
    // k(x, toy spaniel) y / (1 + 0.1), a function of the features' distance to "toy spaniel" only.
    const posterior = async (info: { path: string; dim: number }) => {
      const rows = await loadConceptEmbeddings(info.path);
      return vocabulary.map((_, i) => Math.exp(-(2 - 2 * cosine(rows, info.dim, i, 0)) / (2 * 0.7 ** 2)) / 1.1);
    };
    const mean = (p: number[], names: string[]) =>
      names.reduce((s, n) => s + p[vocabulary.indexOf(n)], 0) / names.length;
    const words = await posterior(text);
    const both = await posterior(combined);
    // Word shapes alone: the toys share "toy" and rise far above the breeds, which share no word.
    expect(mean(words, toys)).toBeGreaterThan(2 * mean(words, breeds));
    // With the taxonomy, every breed rises above every toy.
    const lowestBreed = Math.min(...breeds.map((b) => both[vocabulary.indexOf(b)]));
    const highestToy = Math.max(...toys.map((t) => both[vocabulary.indexOf(t)]));
    expect(lowestBreed).toBeGreaterThan(highestToy);
  });

  it('evidence for a few dog breeds raises the other breeds above the toys in the fitted GP', async () => {
    const dir = tempDir();
    const text = await ensureConceptEmbeddings({ encoder: new BagOfWordsEncoder(), dir, vocabulary });
    const taxonomy = await ensureConceptEmbeddings({ encoder: new TaxonomyEncoder(), dir, vocabulary });
    const combined = await ensureCombinedEmbeddings({
      parts: [
        { info: text, weight: 0.5 },
        { info: taxonomy, weight: 0.5 },
      ],
      vocabulary,
      dir,
    });
    // Three dog names paid off (two of them "toy" names), a dozen unrelated ones did not.
    const observed = ['toy spaniel', 'cocker spaniel', 'Chihuahua'];
    const ids = [...observed.map((n) => vocabulary.indexOf(n)), ...Array.from({ length: 12 }, (_, i) => 13 + i)];
    const rewards = [2, 2, 2, ...Array<number>(12).fill(-0.5)];
    const gp = await fitConceptGp({
      embeddingsPath: combined.path,
      dim: combined.dim,
      ids,
      rewards,
      workDir: path.join(dir, 'gp'),
      python: pythonExecutable(),
    });
    const unobservedBreeds = breeds.filter((b) => !observed.includes(b));
    const lowestBreed = Math.min(...unobservedBreeds.map((b) => gp.predicted[vocabulary.indexOf(b)]));
    const highestToy = Math.max(...toys.map((t) => gp.predicted[vocabulary.indexOf(t)]));
    expect(lowestBreed).toBeGreaterThan(highestToy);
  });
});
