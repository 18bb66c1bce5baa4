/**
 * Rewards of one iteration (method.md, step 4). Pure functions, no I/O.
 */
import { nearestNeighbours, type SearchOptions } from './nearest';

/**
 * Image reward (paper, Eq. 1): mean cosine similarity of each candidate to its k nearest target
 * embeddings. Inputs are row-major, L2-normalised [n, dim]; k is clipped to the number of targets.
 * The search is exact unless it is large (`nearestNeighbours`, `chooseMode`); `search` overrides that.
 */
export async function knnRewards(
  candidates: Float32Array,
  targets: Float32Array,
  dim: number,
  k = 15,
  search: SearchOptions = {},
): Promise<Float32Array> {
  const { k: kk, similarities } = await nearestNeighbours(candidates, targets, dim, k, search);
  return Float32Array.from(meanPerRow(similarities, candidates.length / dim, kk));
}

/**
 * Web-relative reward: an image's similarity to its k nearest target images (Eq. 1) minus its
 * similarity to its k nearest images of a reference sample of the web (iteration 0's uniformly drawn
 * downloads). Raw cosine similarity also measures how typical an image is of everything (hubness: an
 * encoder early in training maps most images close together), which this removes; what is left is how
 * much closer the image is to the target than to the web at large. `webRowOf[i]` is candidate i's own
 * row among `web` (-1 if it is none), so no image counts itself as a web neighbour. With an empty web
 * sample the plain reward is returned.
 */
export async function webRelativeRewards(
  candidates: Float32Array,
  targets: Float32Array,
  web: Float32Array,
  webRowOf: Int32Array,
  dim: number,
  k = 15,
  search: SearchOptions = {},
): Promise<Float32Array> {
  const toTarget = await knnRewards(candidates, targets, dim, k, search);
  if (web.length / dim < 2) return toTarget;
  const n = candidates.length / dim;
  const { k: kk, similarities } = await nearestNeighbours(candidates, web, dim, k, { ...search, exclude: webRowOf });
  const toWeb = meanPerRow(similarities, n, kk);
  return Float32Array.from(toTarget, (r, i) => r - toWeb[i]);
}

/** Mean of each row of a row-major [n, k] matrix; NaN for every row when k is 0 (no reward is defined). */
function meanPerRow(values: Float32Array, n: number, k: number): Float64Array {
  const out = new Float64Array(n);
  if (k === 0) return out.fill(NaN);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += values[i * k + j];
    out[i] = sum / k;
  }
  return out;
}

export interface ImageReward {
  conceptId: number;
  reward: number;
}

export interface ConceptReward {
  /** Mean image reward, or the fallback for a concept without usable images. */
  raw: number;
  /** Usable (finite-reward) images behind `raw`; 0 marks the fallback. */
  images: number;
}

/**
 * Concept reward = mean reward of its images this iteration. Concepts with no usable image get
 * the lowest concept reward observed among concepts that had images (method.md default), so the
 * regression learns to avoid them; if no concept had an image, they get 0. Images whose concept
 * is not listed in `conceptIds`, or whose reward is not finite, are ignored.
 */
export function conceptRewards(imageRewards: ImageReward[], conceptIds: number[]): Map<number, ConceptReward> {
  const totals = new Map<number, { sum: number; images: number }>();
  for (const id of conceptIds) totals.set(id, { sum: 0, images: 0 });
  for (const { conceptId, reward } of imageRewards) {
    const t = totals.get(conceptId);
    if (!t || !Number.isFinite(reward)) continue;
    t.sum += reward;
    t.images++;
  }
  let lowest = Infinity;
  for (const t of totals.values()) if (t.images > 0) lowest = Math.min(lowest, t.sum / t.images);
  const fallback = Number.isFinite(lowest) ? lowest : 0;

  const out = new Map<number, ConceptReward>();
  for (const [id, t] of totals) {
    out.set(id, t.images > 0 ? { raw: t.sum / t.images, images: t.images } : { raw: fallback, images: 0 });
  }
  return out;
}

/**
 * z-scores (population standard deviation), making rewards comparable across iterations whose
 * encoders differ. Zero variance gives all zeros.
 */
export function standardise(values: ArrayLike<number>): number[] {
  const n = values.length;
  if (n === 0) return [];
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (values[i] - mean) ** 2;
  const std = Math.sqrt(variance / n);
  // Relative tolerance: rounding alone can leave a tiny non-zero spread for identical inputs.
  if (!(std > 1e-12 * Math.max(1, Math.abs(mean)))) return new Array<number>(n).fill(0);
  return Array.from({ length: n }, (_, i) => (values[i] - mean) / std);
}

/**
 * Replay-buffer admission: true where reward ≥ the `quantile` of this iteration's finite rewards
 * (linear interpolation between order statistics; 0.5 = the median). Non-finite rewards are never admitted.
 */
export function replayAdmission(rewards: ArrayLike<number>, quantile = 0.5): boolean[] {
  if (!(quantile >= 0 && quantile <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${quantile}`);
  const finite = Float64Array.from(Array.from(rewards).filter(Number.isFinite)).sort();
  if (finite.length === 0) return Array.from(rewards, () => false);
  const pos = quantile * (finite.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const threshold = finite[lo] + (finite[hi] - finite[lo]) * (pos - lo);
  return Array.from(rewards, (r) => Number.isFinite(r) && r >= threshold);
}

/**
 * Empirical-Bayes shrinkage of concept rewards: a concept's mean over n images is pulled towards the mean
 * of all concepts by the share of its variance that is sampling noise, B = (σ²/n) / (σ²/n + τ²), with σ²
 * the pooled within-concept variance of image rewards and τ² the between-concept variance (method of
 * moments). A concept that found one image no longer tops the ranking on that image alone, while one
 * whose 50 images agree keeps its mean. Concepts without images (`images` 0) keep their value.
 */
export function shrinkConceptRewards(
  concepts: { raw: number; images: number }[],
  imageRewards: ImageReward[],
): number[] {
  const byConcept = new Map<number, number[]>();
  for (const { conceptId, reward } of imageRewards) {
    if (!Number.isFinite(reward)) continue;
    const list = byConcept.get(conceptId) ?? [];
    list.push(reward);
    byConcept.set(conceptId, list);
  }
  let within = 0;
  let dof = 0;
  for (const rewards of byConcept.values()) {
    const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    for (const r of rewards) within += (r - mean) ** 2;
    dof += rewards.length - 1;
  }
  const observed = concepts.filter((c) => c.images > 0);
  if (observed.length < 2 || dof === 0) return concepts.map((c) => c.raw);
  const sigma2 = within / dof;
  const grand = observed.reduce((s, c) => s + c.raw, 0) / observed.length;
  const spread = observed.reduce((s, c) => s + (c.raw - grand) ** 2, 0) / (observed.length - 1);
  const noise = observed.reduce((s, c) => s + sigma2 / c.images, 0) / observed.length;
  const tau2 = Math.max(spread - noise, 1e-12);
  return concepts.map((c) => {
    if (c.images === 0) return c.raw;
    const b = sigma2 / c.images / (sigma2 / c.images + tau2);
    return grand + (1 - b) * (c.raw - grand);
  });
}
