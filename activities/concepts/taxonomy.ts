/**
 * Concept features from WordNet's taxonomy: what a concept *is*, as opposed to what its name looks like.
 *
 * A synset is described by itself and every ancestor on its hypernym chains (toy spaniel → spaniel →
 * sporting dog → dog → canine → carnivore → … → entity), each weighted by its information content
 * IC(a) = ln(N / |subtree(a)|): the share of the 82,115 noun synsets that are kinds of `a`. "entity"
 * weighs 0, "dog" (about 200 kinds) ≈ 6, a leaf ≈ 11. The cosine of two such vectors is the weighted
 * overlap of their ancestries, close to Lin's and Resnik's WordNet similarities: two dog breeds share
 * the heavy "dog", "canine", "carnivore" and differ only in their own leaves, while "toy spaniel" and
 * "toy box" share only near-weightless "whole", "object", "entity".
 *
 * A concept (a noun lemma) is the mixture of its senses, weighted by how often each sense was tagged in
 * WordNet's concordance (count + 1), a named individual (a city, a person: an instance) at half weight:
 * "dog" is 88% the animal, "Chihuahua" half the dog and a quarter each the Mexican city and state. A name
 * that is no lemma takes the lemma its words end with ("toy spaniel puppy" → "puppy"), and failing that a
 * unit vector seeded by the name, as far from everything as a random direction can be.
 *
 * The synset itself counts at half its information content, so siblings (two dog breeds) come out close
 * (cosine ≈ 0.7–0.9) and are told apart by the text part of the features.
 *
 * The ~82k-dimensional sparse vectors are reduced to `dim` dimensions by a seeded sparse random
 * projection (each synset adds ±1/√k to k fixed coordinates), which keeps inner products in expectation
 * with an error of about 1/√dim, and rows are L2-normalised. Deterministic, no training, and the whole
 * vocabulary takes about a second.
 */
import { loadNouns, type WordNetNouns } from '../../lib/wordnet';
import { wordnetDir } from '../../lib/paths';
import { yieldToEventLoop } from '../../lib/yield';
import type { TextEncoder } from './encoder';
import { seededRandom, seededUnitVector } from './prng';

/** Bump when the features change for the same options, so cached files are rebuilt. */
const TAXONOMY_VERSION = 2;
/** Default width of the projected features. */
export const TAXONOMY_DIM = 256;
/** The weight of a synset in its own vector, relative to its information content. */
const SELF_WEIGHT = 0.5;
/** Coordinates each synset is projected onto. */
const PROJECTION_NONZEROS = 4;

export interface TaxonomyEncoderOptions {
  dim?: number;
  /** WordNet folder; default: the project's (`WORDNET_DIR`, /usr/share/wordnet). */
  wordnetDir?: string;
}

/** What the encoder derives once per WordNet folder: synset indices, their ancestries and weights. */
interface Taxonomy {
  nouns: WordNetNouns;
  index: Map<string, number>;
  wnids: string[];
  /** Per synset: itself and its ancestors (indices), and the IC weight of each. */
  members: Int32Array[];
  weights: Float64Array[];
}

const taxonomies = new Map<string, Taxonomy>();

function taxonomyOf(dir: string): Taxonomy {
  let t = taxonomies.get(dir);
  if (!t) {
    const build = buildTaxonomy(loadNouns(dir));
    for (let step = build.next(); ; step = build.next()) {
      if (step.done) {
        t = step.value;
        break;
      }
    }
    taxonomies.set(dir, t);
  }
  return t;
}

/**
 * Builds a WordNet folder's taxonomy (about a second) giving the event loop a turn every few thousand
 * synsets, so an activity's heartbeats keep going; a worker calls it before it polls (activities/warm-up.ts).
 */
export async function warmUpTaxonomy(dir: string = wordnetDir()): Promise<void> {
  if (taxonomies.has(dir)) return;
  const build = buildTaxonomy(loadNouns(dir));
  for (let step = build.next(); ; step = build.next()) {
    if (step.done) {
      taxonomies.set(dir, step.value);
      return;
    }
    await yieldToEventLoop();
  }
}

/** The taxonomy, built in slices: the generator yields every few thousand synsets. */
function* buildTaxonomy(nouns: WordNetNouns): Generator<void, Taxonomy> {
  const SLICE = 8192;
  const wnids = [...nouns.synsets.keys()];
  const index = new Map(wnids.map((id, i) => [id, i]));
  const n = wnids.length;
  // Ancestors (deduplicated over multiple inheritance), memoised bottom-up.
  const ancestors: (Int32Array | undefined)[] = new Array(n);
  const ancestorsOf = (i: number): Int32Array => {
    const known = ancestors[i];
    if (known) return known;
    const set = new Set<number>();
    for (const h of nouns.synsets.get(wnids[i])?.hypernyms ?? []) {
      const j = index.get(h);
      if (j === undefined || j === i) continue;
      set.add(j);
      for (const a of ancestorsOf(j)) set.add(a);
    }
    const out = Int32Array.from([...set].sort((a, b) => a - b));
    ancestors[i] = out;
    return out;
  };
  const subtree = new Float64Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    for (const a of ancestorsOf(i)) subtree[a]++;
    if (i % SLICE === SLICE - 1) yield;
  }
  const ic = subtree.map((size) => Math.log(n / size));
  const members: Int32Array[] = [];
  const weights: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const m = Int32Array.from([i, ...ancestorsOf(i)]);
    members.push(m);
    // The synset itself at half its weight: siblings (two dog breeds) come out close (cosine ≈ 0.7–0.9)
    // while the text part still tells them apart; at full weight cousins (two birds of different orders)
    // fell to ≈ 0.2.
    weights.push(Float64Array.from(m, (j) => (j === i ? SELF_WEIGHT : 1) * ic[j]));
    if (i % SLICE === SLICE - 1) yield;
  }
  return { nouns, index, wnids, members, weights };
}

/** The seeded coordinates and signs a synset is projected onto. */
function projectionOf(wnid: string, dim: number, k: number): { at: Int32Array; sign: Float64Array } {
  const random = seededRandom(`taxonomy-projection:${wnid}`);
  const at = new Int32Array(k);
  const sign = new Float64Array(k);
  const scale = 1 / Math.sqrt(k);
  for (let c = 0; c < k; c++) {
    let d = Math.floor(random() * dim);
    // Distinct coordinates, so a synset's own mass never cancels itself.
    while (at.subarray(0, c).includes(d)) d = (d + 1) % dim;
    at[c] = d;
    sign[c] = random() < 0.5 ? -scale : scale;
  }
  return { at, sign };
}

/** Sense weights of a lemma: tag count + 1, halved for an instance (a named individual), normalised. */
export function senseWeights(counts: number[], instance: boolean[] = []): number[] {
  const raw = counts.map((c, r) => (c + 1) * (instance[r] ? 0.5 : 1));
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w / sum);
}

/**
 * The taxonomy features as a `TextEncoder`, so they are cached, extended for added concepts and combined
 * with a text encoder's like any other concept embedding (activities/concepts/embeddings-cache.ts).
 */
export class TaxonomyEncoder implements TextEncoder {
  readonly name: string;
  readonly dim: number;
  private readonly dir: string;
  private readonly projections = new Map<number, { at: Int32Array; sign: Float64Array }>();

  constructor(options: TaxonomyEncoderOptions = {}) {
    this.dim = options.dim ?? TAXONOMY_DIM;
    if (!Number.isInteger(this.dim) || this.dim < PROJECTION_NONZEROS) {
      throw new RangeError(`taxonomy features need at least ${PROJECTION_NONZEROS} dimensions, got ${this.dim}`);
    }
    this.dir = options.wordnetDir ?? wordnetDir();
    this.name = `wordnet-ic${TAXONOMY_VERSION}`;
  }

  /** Row-major [texts.length, dim], L2-normalised rows; gives the event loop a turn every 1,024 texts. */
  async embed(texts: string[]): Promise<Float32Array> {
    await warmUpTaxonomy(this.dir);
    const out = new Float32Array(texts.length * this.dim);
    for (let start = 0; start < texts.length; start += 1024) {
      out.set(this.embedSync(texts.slice(start, start + 1024)), start * this.dim);
      await yieldToEventLoop();
    }
    return out;
  }

  /** `embed` without yielding. */
  embedSync(texts: string[]): Float32Array {
    const t = taxonomyOf(this.dir);
    const out = new Float32Array(texts.length * this.dim);
    const row = new Float64Array(this.dim);
    texts.forEach((text, i) => {
      row.fill(0);
      if (!this.addConcept(t, text, row)) {
        out.set(seededUnitVector(`${this.name}:${text}`, this.dim), i * this.dim);
        return;
      }
      let norm = 0;
      for (let d = 0; d < this.dim; d++) norm += row[d] * row[d];
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let d = 0; d < this.dim; d++) out[i * this.dim + d] = row[d] * inv;
    });
    return out;
  }

  /** The senses of a concept's lemma (or of the lemma its name ends with); empty when none is a noun. */
  sensesOf(text: string): { wnid: string; weight: number }[] {
    const t = taxonomyOf(this.dir);
    const words = text.trim().split(/[\s_]+/);
    for (let start = 0; start < words.length; start++) {
      const lemma = words.slice(start).join(' ');
      const synsets = t.nouns.synsetsOfLemma(lemma);
      if (synsets.length === 0) continue;
      const weights = senseWeights(
        t.nouns.senseCounts(lemma),
        synsets.map((s) => s.instance),
      );
      return synsets.map((s, r) => ({ wnid: s.wnid, weight: weights[r] ?? 0 }));
    }
    return [];
  }

  /** Adds the concept's mixture of normalised synset vectors, projected, to `row`; false when it has none. */
  private addConcept(t: Taxonomy, text: string, row: Float64Array): boolean {
    const senses = this.sensesOf(text);
    for (const { wnid, weight } of senses) {
      const i = t.index.get(wnid);
      if (i === undefined) continue;
      const members = t.members[i];
      const w = t.weights[i];
      let norm = 0;
      for (let m = 0; m < members.length; m++) norm += w[m] * w[m];
      if (!(norm > 0)) continue;
      const scale = weight / Math.sqrt(norm);
      for (let m = 0; m < members.length; m++) {
        const p = this.projection(t, members[m]);
        for (let c = 0; c < p.at.length; c++) row[p.at[c]] += scale * w[m] * p.sign[c];
      }
    }
    return senses.length > 0;
  }

  private projection(t: Taxonomy, synset: number): { at: Int32Array; sign: Float64Array } {
    let p = this.projections.get(synset);
    if (!p) {
      p = projectionOf(t.wnids[synset], this.dim, PROJECTION_NONZEROS);
      this.projections.set(synset, p);
    }
    return p;
  }
}

/**
 * Exact (unprojected) cosine of two concepts' taxonomy vectors: what the projected features approximate.
 * For tests and diagnostics.
 */
export function exactTaxonomyCosine(a: string, b: string, dir: string = wordnetDir()): number {
  const t = taxonomyOf(dir);
  const encoder = new TaxonomyEncoder({ wordnetDir: dir, dim: TAXONOMY_DIM });
  const sparse = (text: string): Map<number, number> => {
    const out = new Map<number, number>();
    for (const { wnid, weight } of encoder.sensesOf(text)) {
      const i = t.index.get(wnid);
      if (i === undefined) continue;
      const w = t.weights[i];
      const norm = Math.sqrt(w.reduce((s, x) => s + x * x, 0));
      if (!(norm > 0)) continue;
      t.members[i].forEach((j, m) => out.set(j, (out.get(j) ?? 0) + (weight * w[m]) / norm));
    }
    return out;
  };
  const va = sparse(a);
  const vb = sparse(b);
  let dot = 0;
  for (const [j, x] of va) dot += x * (vb.get(j) ?? 0);
  const norm = (v: Map<number, number>) => Math.sqrt([...v.values()].reduce((s, x) => s + x * x, 0));
  const d = norm(va) * norm(vb);
  return d > 0 ? dot / d : 0;
}
