import { seededRandom } from '../../activities/concepts/prng';
import { conceptRewards, knnRewards, replayAdmission, standardise } from '../../activities/score/rewards';

/** Row-major [n, dim] random unit vectors. */
function randomUnitRows(n: number, dim: number, seed: string): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const v = random() - 0.5;
      out[i * dim + d] = v;
      norm += v * v;
    }
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(norm);
  }
  return out;
}

function bruteForceRewards(c: Float32Array, t: Float32Array, dim: number, k: number): number[] {
  const nt = t.length / dim;
  return Array.from({ length: c.length / dim }, (_, i) => {
    const sims = Array.from({ length: nt }, (__, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += c[i * dim + d] * t[j * dim + d];
      return s;
    }).sort((a, b) => b - a);
    const kk = Math.min(k, nt);
    return sims.slice(0, kk).reduce((a, b) => a + b, 0) / kk;
  });
}

describe('knnRewards', () => {
  it('matches a brute-force reference on random data', async () => {
    const dim = 37; // not a multiple of the unrolling width
    const candidates = randomUnitRows(300, dim, 'c');
    const targets = randomUnitRows(700, dim, 't'); // spans several key blocks
    const got = await knnRewards(candidates, targets, dim);
    const want = bruteForceRewards(candidates, targets, dim, 15);
    expect(got).toHaveLength(300);
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
  });

  it('clips k to the number of targets', async () => {
    const dim = 8;
    const candidates = randomUnitRows(5, dim, 'c2');
    const targets = randomUnitRows(4, dim, 't2');
    const got = await knnRewards(candidates, targets, dim, 15);
    bruteForceRewards(candidates, targets, dim, 4).forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
  });

  it('rewards a candidate that duplicates a target cluster above an unrelated one', async () => {
    const dim = 16;
    const targets = new Float32Array(20 * dim);
    for (let i = 0; i < 20; i++) targets[i * dim] = 1; // all targets = e0
    const candidates = new Float32Array(2 * dim);
    candidates[0] = 1; // e0
    candidates[dim + 1] = 1; // e1
    expect(Array.from(await knnRewards(candidates, targets, dim))).toEqual([1, 0]);
  });
});

describe('conceptRewards', () => {
  it('averages image rewards per concept and gives empty concepts the lowest concept reward', () => {
    const rewards = conceptRewards(
      [
        { conceptId: 1, reward: 0.8 },
        { conceptId: 1, reward: 0.6 },
        { conceptId: 2, reward: 0.2 },
        { conceptId: 2, reward: NaN }, // unusable image: ignored
        { conceptId: 9, reward: -5 }, // not a queried concept: ignored
      ],
      [1, 2, 3],
    );
    expect(rewards.get(1)?.raw).toBeCloseTo(0.7, 12);
    expect(rewards.get(1)?.images).toBe(2);
    expect(rewards.get(2)).toEqual({ raw: 0.2, images: 1 });
    expect(rewards.get(3)).toEqual({ raw: 0.2, images: 0 });
    expect(rewards.has(9)).toBe(false);
  });

  it('gives 0 when no concept returned an image', () => {
    expect(conceptRewards([], [4, 5]).get(5)).toEqual({ raw: 0, images: 0 });
  });
});

describe('standardise', () => {
  it('returns z-scores', () => {
    const z = standardise([1, 2, 3, 4]);
    expect(z.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    expect(z.reduce((a, b) => a + b * b, 0) / 4).toBeCloseTo(1, 12);
    expect(z[3]).toBeCloseTo(1.5 / Math.sqrt(1.25), 12);
  });

  it('maps zero variance to zeros', () => {
    expect(standardise([0.1, 0.1, 0.1])).toEqual([0, 0, 0]);
    expect(standardise([])).toEqual([]);
  });
});

describe('replayAdmission', () => {
  it('admits rewards at or above the median', () => {
    expect(replayAdmission(Float32Array.from([0.1, 0.5, 0.3, 0.9, 0.7]))).toEqual([false, true, false, true, true]);
    expect(replayAdmission(Float32Array.from([4, 1, 3, 2]))).toEqual([true, false, true, false]);
  });

  it('honours the quantile and never admits non-finite rewards', () => {
    const r = Float32Array.from({ length: 100 }, (_, i) => i);
    expect(replayAdmission(r, 0.9).filter(Boolean)).toHaveLength(10);
    expect(replayAdmission(r, 0).every(Boolean)).toBe(true);
    expect(replayAdmission(Float32Array.from([NaN, 1, 2]))).toEqual([false, false, true]);
  });
});
