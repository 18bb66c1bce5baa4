/**
 * Small deterministic random helpers: a string hash, a seeded PRNG and seeded unit vectors.
 * Everything here is a pure function of its seed, so samples and fallback vectors are reproducible.
 */

/** 32-bit FNV-1a hash of a string's UTF-16 code units. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Random source returning floats uniform in the open interval (0, 1). */
export type Random = () => number;

/** mulberry32 PRNG seeded from a string; never returns exactly 0 or 1 (safe for log). */
export function seededRandom(seed: string): Random {
  let state = hashString(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u32 = (t ^ (t >>> 14)) >>> 0;
    return (u32 + 0.5) / 4294967296;
  };
}

/** A unit vector of `dim` normal deviates (Box–Muller), fully determined by `seed`. */
export function seededUnitVector(seed: string, dim: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const g = Math.sqrt(-2 * Math.log(random())) * Math.cos(2 * Math.PI * random());
    out[i] = g;
    norm += g * g;
  }
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < dim; i++) out[i] *= inv;
  return out;
}
