// A module binding, not a global lookup per concept: see activities/concepts/distribution.ts.
const { log2 } = Math;

/** The k of the "mass of the k most likely concepts" every distribution is summarised by. */
export const TOP_MASS_KS = [10, 250];

/** How concentrated one concept distribution is: what "the distribution sharpened" is measured by. */
export interface DistributionStats {
  /** Shannon entropy in bits (log2 of the vocabulary size when uniform). */
  entropyBits: number;
  /** 2^entropy: the number of equally likely concepts with the same entropy. */
  perplexity: number;
  /** Probability held by the most likely concept. */
  maxProbability: number;
  /** Probability held by the k most likely concepts, for each k asked for. */
  topMass: Record<number, number>;
}

export function distributionStats(
  probs: ArrayLike<number> & Iterable<number>,
  ks: number[] = TOP_MASS_KS,
): DistributionStats {
  let total = 0;
  for (const p of probs) total += p;
  if (!(total > 0)) throw new Error('a concept distribution must have positive total probability');
  let entropy = 0;
  for (const p of probs) {
    const q = p / total;
    if (q > 0) entropy -= q * log2(q);
  }
  const sorted = Float64Array.from(probs).sort().reverse();
  const topMass: Record<number, number> = {};
  for (const k of ks) {
    let mass = 0;
    for (let i = 0; i < Math.min(k, sorted.length); i++) mass += sorted[i];
    topMass[k] = mass / total;
  }
  return { entropyBits: entropy, perplexity: 2 ** entropy, maxProbability: sorted[0] / total, topMass };
}

/** The uniform distribution over `n` concepts (iteration 0, and every iteration of a random run). */
export function uniformStats(n: number, ks: number[] = [10, 250]): DistributionStats {
  return {
    entropyBits: Math.log2(n),
    perplexity: n,
    maxProbability: 1 / n,
    topMass: Object.fromEntries(ks.map((k) => [k, Math.min(k, n) / n])),
  };
}
