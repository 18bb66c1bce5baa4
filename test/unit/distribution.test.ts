import {
  maskScores,
  excludeConcepts,
  sampleUniform,
  sampleWithoutReplacement,
  softmax,
  temperatureForTopMass,
  topConcepts,
  weightByFindChance,
  FIND_CHANCE_FLOOR,
} from '../../activities/concepts/distribution';
import { seededRandom } from '../../activities/concepts/prng';

function gaussianScores(n: number, seed: string): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(random())) * Math.cos(2 * Math.PI * random()));
}

function topMass(probs: Float64Array, k: number): number {
  return topConcepts(probs, k).reduce((sum, i) => sum + probs[i], 0);
}

describe('temperatureForTopMass', () => {
  it('puts 50% of the mass on the 250 highest-scoring of 117,798 concepts', async () => {
    const scores = gaussianScores(117_798, 'gp-posterior');
    const tau = await temperatureForTopMass(scores);
    expect(Number.isFinite(tau)).toBe(true);
    expect(Math.abs(topMass(softmax(scores, tau), 250) - 0.5)).toBeLessThan(1e-3);
  });

  it('hits other targets too, and scales with the scores', async () => {
    const scores = gaussianScores(5_000, 'other');
    const tau = await temperatureForTopMass(scores, 50, 0.8);
    expect(Math.abs(topMass(softmax(scores, tau), 50) - 0.8)).toBeLessThan(1e-3);
    const scaled = scores.map((s) => s * 10);
    expect((await temperatureForTopMass(scaled, 50, 0.8)) / tau).toBeCloseTo(10, 3);
  });

  it('returns Infinity (uniform) when all scores are equal or uniform already suffices', async () => {
    expect(await temperatureForTopMass(new Float32Array(1000).fill(0.3))).toBe(Infinity);
    expect(await temperatureForTopMass(gaussianScores(400, 's'), 250, 0.5)).toBe(Infinity);
    const uniform = softmax(new Float32Array(4), Infinity);
    expect(Array.from(uniform)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

describe('softmax', () => {
  it('is stable for large scores and sums to 1', async () => {
    const p = softmax(Float32Array.from([1000, 1001, 1002]), 1);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[2] / p[1]).toBeCloseTo(Math.E, 6);
  });
});

describe('sampleWithoutReplacement', () => {
  const probs = softmax(gaussianScores(2_000, 'probs'), 0.5);

  it('is deterministic per seed and differs across seeds', async () => {
    expect(sampleWithoutReplacement(probs, 256, 'run-1/iter-3')).toEqual(
      sampleWithoutReplacement(probs, 256, 'run-1/iter-3'),
    );
    expect(sampleWithoutReplacement(probs, 256, 'run-1/iter-3')).not.toEqual(
      sampleWithoutReplacement(probs, 256, 'run-1/iter-4'),
    );
  });

  it('draws distinct, in-range indices and never zero-probability items', async () => {
    const sparse = new Float64Array(100);
    for (let i = 0; i < 30; i++) sparse[i * 3] = 1 / 30;
    const sample = sampleWithoutReplacement(sparse, 50, 'sparse');
    expect(sample).toHaveLength(30);
    expect(new Set(sample).size).toBe(30);
    expect(sample.every((i) => i % 3 === 0 && i < 100)).toBe(true);
    const full = sampleWithoutReplacement(probs, 256, 'x');
    expect(new Set(full).size).toBe(256);
  });

  it('draws the first item with the categorical probabilities', async () => {
    const p = Float64Array.from([0.5, 0.3, 0.15, 0.05]);
    const counts = [0, 0, 0, 0];
    const trials = 20_000;
    for (let t = 0; t < trials; t++) counts[sampleWithoutReplacement(p, 1, `trial-${t}`)[0]]++;
    counts.forEach((c, i) => expect(Math.abs(c / trials - p[i])).toBeLessThan(0.015));
  });

  it('favours high-probability items', async () => {
    // 10 items hold half the mass; a 20-item sample should contain most of them, and few of any 10 others.
    const p = new Float64Array(1000).fill(0.5 / 990);
    for (let i = 0; i < 10; i++) p[i] = 0.05;
    let heavy = 0;
    let light = 0;
    for (let t = 0; t < 200; t++) {
      for (const i of sampleWithoutReplacement(p, 20, `fav-${t}`)) {
        if (i < 10) heavy++;
        else if (i < 20) light++;
      }
    }
    expect(heavy / 2000).toBeGreaterThan(0.6);
    expect(light / 2000).toBeLessThan(0.05);
  });
});

describe('sampleUniform', () => {
  it('draws q distinct indices, deterministically, roughly uniformly', async () => {
    expect(sampleUniform(117_798, 256, 'a')).toEqual(sampleUniform(117_798, 256, 'a'));
    const s = sampleUniform(117_798, 256, 'a');
    expect(new Set(s).size).toBe(256);
    expect(s.every((i) => Number.isInteger(i) && i >= 0 && i < 117_798)).toBe(true);
    expect(sampleUniform(10, 10, 'all').sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const counts = new Array<number>(10).fill(0);
    for (let t = 0; t < 5_000; t++) for (const i of sampleUniform(10, 3, `u-${t}`)) counts[i]++;
    counts.forEach((c) => expect(Math.abs(c / 5_000 - 0.3)).toBeLessThan(0.03));
    expect(() => sampleUniform(3, 4, 'too many')).toThrow(RangeError);
  });
});

describe('topConcepts', () => {
  it('returns the most probable indices first, ties by index', async () => {
    expect(topConcepts(Float64Array.from([0.1, 0.4, 0.1, 0.4, 0.0]), 3)).toEqual([1, 3, 0]);
    expect(topConcepts(Float64Array.from([0.2, 0.8]), 5)).toEqual([1, 0]);
  });
});

describe('maskScores', () => {
  test('excluded before the softmax, concepts that held nearly all the mass leave a usable distribution', async () => {
    // One queried concept far above a nearly flat rest, τ calibrated on the rest (as the update stage does).
    const n = 2000;
    const scores = new Float32Array(n).map((_, i) => 0.001 * Math.sin(i));
    scores[7] = 10;
    const rest = Float32Array.from(scores.filter((_, i) => i !== 7));
    const tau = await temperatureForTopMass(rest, 250, 0.5);
    // Excluding after the softmax loses everything but the excluded concept (the rest underflows to 0).
    expect(excludeConcepts(softmax(scores, tau), [7])[7]).toBeCloseTo(1, 12);
    const probs = softmax(maskScores(scores, [7]), tau);
    expect(probs[7]).toBe(0);
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const drawn = sampleWithoutReplacement(Float32Array.from(probs), 24, 'mask');
    expect(drawn).toHaveLength(24);
    expect(drawn).not.toContain(7);
  });

  test('masking every concept leaves the scores unchanged', () => {
    expect(Array.from(maskScores([1, 2], [0, 1, 1]))).toEqual([1, 2]);
    expect(Array.from(maskScores([1, 2], [1]))).toEqual([1, -Infinity]);
  });
});

describe('weightByFindChance', () => {
  it('moves probability away from concepts unlikely to find images, keeping zeros at zero', async () => {
    const probs = Float64Array.of(0.4, 0.4, 0.2, 0);
    const weighted = weightByFindChance(probs, [1, 0.25, 1, 1]);
    expect(weighted.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // 0.4 : 0.1 : 0.2 : 0, renormalised.
    expect(Array.from(weighted)).toEqual([0.4 / 0.7, 0.1 / 0.7, 0.2 / 0.7, 0].map((p) => expect.closeTo(p, 12)));
  });

  it('clips a GP mean outside [0, 1] to the floor and to 1', async () => {
    const weighted = weightByFindChance(Float64Array.of(0.5, 0.5), [-0.3, 1.4]);
    expect(weighted[0] / weighted[1]).toBeCloseTo(FIND_CHANCE_FLOOR, 12);
  });

  it('refuses chances that do not match the concepts', async () => {
    expect(() => weightByFindChance(Float64Array.of(1), [1, 1])).toThrow(/1 probabilities but 2 chances/);
  });
});
