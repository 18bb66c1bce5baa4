/**
 * The concept distribution p(c) ∝ exp(r̂(c)/τ) and sampling from it. No I/O; the passes over the whole
 * vocabulary that run back to back are async only to give the event loop (the heartbeat pump) turns.
 */
import { createHash } from 'node:crypto';
import { seededRandom } from './prng';
import { topIndices } from './select';
import { yieldEvery, yieldToEventLoop } from '../../lib/yield';

// The per-concept loops below run over the whole vocabulary (117,798 names), some dozens of times: they
// call these through module bindings. A global lookup (`Math.exp`) is free in a plain Node process but goes
// through the global object's interceptor in a vm context (a Jest test), where it made the update stage
// hold the event loop ten times longer than it does in a worker.
const { exp, log, max } = Math;

/**
 * Temperature τ at which the `topK` highest-scoring concepts hold `mass` of p ∝ exp(score/τ).
 * Top mass falls monotonically from (near) 1 as τ → 0 to topK/n as τ → ∞, so τ is found by
 * bisection on log τ. Returns Infinity (uniform) when uniform already puts ≥ `mass` on the top
 * (all scores equal, or topK/n ≥ mass); returns the smallest τ searched when even τ → 0 cannot
 * reach `mass` (more than topK concepts tied for the maximum).
 */
export async function temperatureForTopMass(scores: Float32Array, topK = 250, mass = 0.5): Promise<number> {
  if (!(mass > 0 && mass < 1)) throw new RangeError(`mass must be in (0, 1), got ${mass}`);
  const n = scores.length;
  const k = Math.floor(topK);
  if (n === 0 || k <= 0) throw new RangeError('need at least one score and topK ≥ 1');
  if (k >= n || k / n >= mass) return Infinity;

  const sorted = Float64Array.from(scores).sort().reverse();
  if (!Number.isFinite(sorted[0]) || !Number.isFinite(sorted[n - 1])) throw new RangeError('scores must be finite');
  const spread = sorted[0] - sorted[n - 1];
  if (spread === 0) return Infinity;

  const topMass = (tau: number): number => {
    let top = 0;
    let all = 0;
    for (let i = 0; i < n; i++) {
      const w = exp((sorted[i] - sorted[0]) / tau);
      all += w;
      if (i < k) top += w;
      // Weights only fall from here (scores are sorted): once one is below 1e-18 of the total, the rest
      // together add less than n·1e-18 of it. A sharp τ thus costs a few terms, not the vocabulary.
      else if (w < 1e-18 * all) break;
    }
    return top / all;
  };

  // exp(spread/τ) over these bounds spans every regime a float64 can distinguish.
  let lo = Math.log(spread * 1e-6);
  let hi = Math.log(spread * 1e6);
  if (topMass(Math.exp(lo)) <= mass) return Math.exp(lo);
  if (topMass(Math.exp(hi)) >= mass) return Math.exp(hi);
  for (let iter = 0; iter < 100 && hi - lo > 1e-12; iter++) {
    // Each step is a pass over up to the whole vocabulary; ~45 of them back to back held the event loop
    // for over a second on a loaded host, so the heartbeat pump gets a turn every few.
    await yieldEvery(iter, 4);
    const mid = (lo + hi) / 2;
    if (topMass(Math.exp(mid)) > mass) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}

/** Numerically stable softmax of score/τ; τ = Infinity gives the uniform distribution. */
export function softmax(scores: ArrayLike<number>, tau: number): Float64Array {
  const n = scores.length;
  if (!(tau > 0)) throw new RangeError(`tau must be > 0, got ${tau}`);
  const out = new Float64Array(n);
  if (n === 0) return out;
  if (tau === Infinity) return out.fill(1 / n);
  let top = -Infinity;
  for (let i = 0; i < n; i++) if (scores[i] > top) top = scores[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    out[i] = exp((scores[i] - top) / tau);
    sum += out[i];
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/**
 * Draws `q` distinct indices with probability proportional to `probs` (sequential sampling
 * without replacement), via Gumbel-top-k: the q largest log p + Gumbel noise. Deterministic per
 * `seed`; returned in draw order. Zero-probability items are never drawn, so fewer than `q`
 * indices come back when fewer than `q` items have positive probability.
 */
export function sampleWithoutReplacement(probs: ArrayLike<number>, q: number, seed: string): number[] {
  const random = seededRandom(seed);
  const keys = new Float64Array(probs.length);
  let positive = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (p < 0 || Number.isNaN(p)) throw new RangeError(`probability ${i} is ${p}`);
    const gumbel = -log(-log(random()));
    keys[i] = p > 0 ? log(p) + gumbel : -Infinity;
    if (p > 0) positive++;
  }
  return topIndices(keys, Math.min(q, positive));
}

/** `q` distinct indices drawn uniformly from [0, n), deterministic per `seed` (partial Fisher–Yates). */
export function sampleUniform(n: number, q: number, seed: string): number[] {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(q) || q < 0 || q > n) {
    throw new RangeError(`cannot draw ${q} of ${n} without replacement`);
  }
  const random = seededRandom(seed);
  const swapped = new Map<number, number>(); // sparse permutation: only touched slots are stored
  const out: number[] = [];
  for (let i = 0; i < q; i++) {
    const j = i + Math.floor(random() * (n - i));
    const atJ = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(atJ);
  }
  return out;
}

/** Indices of the `n` most probable concepts, most probable first (ties → smaller index). */
export function topConcepts(probs: ArrayLike<number>, n: number): number[] {
  return topIndices(probs, n);
}

/**
 * p with the given concepts removed (probability 0) and the rest renormalised. Used to keep concepts
 * already queried out of the next draw when a repeated query would return the same results. When
 * nothing would be left, p is returned unchanged.
 */
export function excludeConcepts(probs: Float64Array, ids: Iterable<number>): Float64Array {
  const out = Float64Array.from(probs);
  for (const id of ids) if (id >= 0 && id < out.length) out[id] = 0;
  return normalisedOr(out, probs);
}

/** `weights` divided by their sum, in place; a copy of `fallback` when they sum to nothing. */
function normalisedOr(weights: Float64Array, fallback: Float64Array): Float64Array {
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += weights[i];
  if (!(sum > 0)) return Float64Array.from(fallback);
  for (let i = 0; i < weights.length; i++) weights[i] /= sum;
  return weights;
}

/**
 * Scores with the given concepts set to −∞, so a softmax over them gives those concepts exactly 0 and
 * shares all the mass among the rest. Excluding before the softmax matters: excluded after it, concepts
 * that held nearly all the mass (e.g. queried ones the GP predicts far above the rest) would leave the
 * others underflowed to 0. When nothing would be left, the scores are returned unchanged.
 */
export function maskScores(scores: ArrayLike<number>, ids: Iterable<number>): Float64Array {
  const out = Float64Array.from(scores);
  let masked = 0;
  for (const id of new Set(ids)) {
    if (id >= 0 && id < out.length && out[id] !== -Infinity) {
      out[id] = -Infinity;
      masked++;
    }
  }
  return masked < out.length ? out : Float64Array.from(scores);
}

export interface EmbeddingGroups {
  /** For each concept, how many concepts share its exact embedding (1 = a point of its own). */
  multiplicity: Uint32Array;
  /** One concept per distinct embedding (the first), ascending. */
  representatives: number[];
  /** For each concept, its point: the index in `representatives` of the concept its embedding is first seen at. */
  point: Uint32Array;
}

/**
 * Groups concepts by identical embedding. Word-averaged embeddings collapse whole families of names onto
 * one point ("genus X" / "family X" where X has no vector: thousands of concepts), which the GP cannot
 * tell apart.
 */
export async function embeddingGroups(vectors: Float32Array, dim: number): Promise<EmbeddingGroups> {
  const n = vectors.length / dim;
  if (!Number.isInteger(n)) throw new RangeError(`${vectors.length} values are not rows of ${dim}`);
  const bytes = Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  const rowBytes = dim * 4;
  // A digest of the row, not the row itself: 117,798 keys of a few hundred floats would be hundreds of MB of
  // strings, and their garbage collection would stall the event loop for seconds.
  return groupsByKey(n, (i) =>
    createHash('sha1')
      .update(bytes.subarray(i * rowBytes, (i + 1) * rowBytes))
      .digest('base64'),
  );
}

/**
 * Groups concepts 0…n−1 by `keyOf`: one point per distinct key, its representative the first concept with it.
 * O(n), giving the event loop a turn every 8,192 concepts.
 */
export async function groupsByKey(n: number, keyOf: (concept: number) => string): Promise<EmbeddingGroups> {
  const groupOf = new Map<string, number>();
  const group = new Uint32Array(n);
  const sizes: number[] = [];
  const representatives: number[] = [];
  for (let i = 0; i < n; i++) {
    await yieldEvery(i, 8192);
    const key = keyOf(i);
    let g = groupOf.get(key);
    if (g === undefined) {
      g = sizes.length;
      groupOf.set(key, g);
      sizes.push(0);
      representatives.push(i);
    }
    group[i] = g;
    sizes[g]++;
  }
  return { multiplicity: group.map((g) => sizes[g]), representatives, point: group };
}

/**
 * One concept per distinct embedding that still has a drawable concept (neither in `excluded` nor, when
 * `member` is given, outside the run), ascending: what τ is calibrated on. A point whose first concept was
 * queried still counts through its other names, which stay drawable. O(vocabulary).
 */
export function drawablePoints(
  groups: EmbeddingGroups,
  count: number,
  excluded: ReadonlySet<number>,
  member?: ArrayLike<number>,
): number[] {
  const seen = new Uint8Array(groups.representatives.length);
  const out: number[] = [];
  for (let id = 0; id < count; id++) {
    if (excluded.has(id) || (member !== undefined && !member[id])) continue;
    const point = groups.point[id];
    if (seen[point]) continue;
    seen[point] = 1;
    out.push(id);
  }
  return out;
}

/** Scores of the given concepts only (e.g. one per distinct embedding, for calibrating τ). */
export function scoresOf(scores: Float32Array, ids: number[]): Float32Array {
  return Float32Array.from(ids, (i) => scores[i]);
}

/**
 * Divides each concept's probability by the number of concepts sharing its embedding and renormalises,
 * so a point of the embedding space gets one concept's worth of mass however many names sit on it.
 */
export function spreadOverDuplicates(probs: Float64Array, multiplicity: ArrayLike<number>): Float64Array {
  if (multiplicity.length !== probs.length) {
    throw new RangeError(`${probs.length} probabilities but ${multiplicity.length} multiplicities`);
  }
  const out = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) out[i] = probs[i] / max(1, multiplicity[i]);
  return normalisedOr(out, probs);
}

/**
 * The next iteration's p(c) ∝ exp(r̂(c)/τ) from the GP's predictions: concepts in `excluded` (those already
 * queried, when a repeated query would return the same images) get nothing; τ is `fixedTemperature` when
 * given, else calibrated so that the `topK` best distinct points of the embedding space still drawable (by
 * a concept not excluded and, with `member`, of the run) hold `topMass`; each point's mass is shared by the
 * names on it. A τ that cannot be found (every drawable point predicted alike, or none left) gives the
 * uniform distribution and a null temperature.
 */
export async function conceptDistribution(opts: {
  predicted: Float32Array;
  excluded: number[];
  groups: EmbeddingGroups;
  /** The run's concepts (1) among all (restrictToRun zeroes the others afterwards). */
  member?: ArrayLike<number>;
  fixedTemperature?: number | null;
  topK: number;
  topMass: number;
}): Promise<{ probs: Float64Array; temperature: number | null }> {
  const { predicted, excluded, groups } = opts;
  const points = drawablePoints(groups, predicted.length, new Set(excluded), opts.member);
  let temperature: number | null =
    opts.fixedTemperature ??
    (points.length === 0 ? null : await temperatureForTopMass(scoresOf(predicted, points), opts.topK, opts.topMass));
  if (!Number.isFinite(temperature)) temperature = null;
  // Each pass below runs over the vocabulary; the event loop gets a turn between them.
  await yieldToEventLoop();
  const drawn =
    temperature === null
      ? new Float64Array(predicted.length).fill(1 / predicted.length)
      : softmax(maskScores(predicted, excluded), temperature);
  await yieldToEventLoop();
  const spread = spreadOverDuplicates(drawn, groups.multiplicity);
  await yieldToEventLoop();
  return { probs: excludeConcepts(spread, excluded), temperature };
}

/** The least weight a concept's predicted chance of finding images can give it (a GP's mean can reach 0). */
export const FIND_CHANCE_FLOOR = 0.05;

/**
 * p(c) weighted by each concept's predicted chance of finding any image (clipped to [`FIND_CHANCE_FLOOR`, 1])
 * and renormalised: `gp.emptyConcepts` `discount`. The reward decides which concepts pay off; this only moves
 * draws away from names that queries are not likely to answer. Concepts at probability 0 stay there.
 */
export function weightByFindChance(probs: Float64Array, chance: ArrayLike<number>): Float64Array {
  if (chance.length !== probs.length) {
    throw new RangeError(`${probs.length} probabilities but ${chance.length} chances of finding images`);
  }
  const out = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const c = chance[i];
    out[i] = probs[i] * (c >= 1 ? 1 : c > FIND_CHANCE_FLOOR ? c : FIND_CHANCE_FLOOR);
  }
  return normalisedOr(out, probs);
}
