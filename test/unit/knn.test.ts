import { seededRandom } from '../../activities/concepts/prng';
import { knnAccuracyLeaveOneOut, knnAccuracySplit } from '../../activities/evaluate/knn';
import { nearestNeighbours } from '../../activities/score/nearest';

function normalise(rows: Float32Array, dim: number): Float32Array {
  for (let b = 0; b < rows.length; b += dim) {
    let n = 0;
    for (let d = 0; d < dim; d++) n += rows[b + d] ** 2;
    for (let d = 0; d < dim; d++) rows[b + d] /= Math.sqrt(n);
  }
  return rows;
}

/** Points scattered around ±(1, 1, …): two clusters with opposite directions. */
function twoClusters(perCluster: number, dim: number): { embeddings: Float32Array; labels: number[] } {
  const random = seededRandom('clusters');
  const embeddings = new Float32Array(2 * perCluster * dim);
  const labels: number[] = [];
  for (let i = 0; i < 2 * perCluster; i++) {
    const label = i % 2;
    labels.push(label);
    for (let d = 0; d < dim; d++) embeddings[i * dim + d] = (label ? 1 : -1) + 0.3 * (random() - 0.5);
  }
  return { embeddings: normalise(embeddings, dim), labels };
}

describe('knnAccuracyLeaveOneOut', () => {
  it('is 1.0 on two well-separated clusters', () => {
    const { embeddings, labels } = twoClusters(100, 32);
    expect(knnAccuracyLeaveOneOut(embeddings, labels, 32)).toBe(1);
  });

  it('is near chance on random labels', () => {
    const dim = 16;
    const random = seededRandom('noise');
    const n = 2000;
    const embeddings = normalise(
      Float32Array.from({ length: n * dim }, () => random() - 0.5),
      dim,
    );
    const labels = Array.from({ length: n }, () => Math.floor(random() * 4));
    expect(Math.abs(knnAccuracyLeaveOneOut(embeddings, labels, dim) - 0.25)).toBeLessThan(0.04);
  });

  it('never lets a sample vote for itself', () => {
    // Two identical points with different labels plus a far third: each must be classified by the other.
    const embeddings = Float32Array.from([1, 0, 1, 0, 0, 1]);
    expect(knnAccuracyLeaveOneOut(embeddings, [0, 1, 1], 2, 1)).toBeCloseTo(0, 12);
  });

  it('breaks vote ties towards the smallest label', () => {
    const embeddings = Float32Array.from([1, 0, 1, 0, 1, 0]);
    // Samples 0 and 2 each see labels 2 and 5 with equal weight → predict 2 (right); sample 1 sees 2, 2 (wrong).
    // Ties towards the larger label would score 0.
    expect(knnAccuracyLeaveOneOut(embeddings, [2, 5, 2], 2, 2)).toBeCloseTo(2 / 3, 12);
  });
});

describe('knnAccuracySplit', () => {
  it('is 1.0 on two well-separated clusters and near chance on random labels', () => {
    const { embeddings, labels } = twoClusters(100, 32);
    const test = labels.map((_, i) => i % 3 === 0);
    expect(knnAccuracySplit(embeddings, labels, test, 32)).toBe(1);

    const dim = 16;
    const random = seededRandom('noise-split');
    const n = 3000;
    const noise = normalise(
      Float32Array.from({ length: n * dim }, () => random() - 0.5),
      dim,
    );
    const noiseLabels = Array.from({ length: n }, () => Math.floor(random() * 4));
    const noiseTest = noiseLabels.map((_, i) => i % 3 === 0);
    expect(Math.abs(knnAccuracySplit(noise, noiseLabels, noiseTest, dim) - 0.25)).toBeLessThan(0.04);
  });

  it('classifies test images by training images only', () => {
    // Test image 0 sits on test image 1 (other label) but its only training neighbour shares its label.
    const embeddings = Float32Array.from([1, 0, 1, 0, 0.8, 0.6, 0, 1]);
    const labels = [0, 1, 0, 1];
    const test = [true, true, false, false];
    // k = 1: image 0 → training image 2 (label 0, right); image 1 → training image 2 too (wrong).
    expect(knnAccuracySplit(embeddings, labels, test, 2, 1)).toBeCloseTo(0.5, 12);
    // Leave-one-out would let image 0 see image 1 first and get it wrong.
    expect(knnAccuracyLeaveOneOut(embeddings, labels, 2, 1)).toBeCloseTo(0.25, 12);
  });

  it('clips k to the training split and refuses an empty side', () => {
    const embeddings = Float32Array.from([1, 0, 0, 1, 1, 0]);
    expect(knnAccuracySplit(embeddings, [3, 4, 3], [true, false, false], 2, 50)).toBe(1);
    expect(() => knnAccuracySplit(embeddings, [3, 4, 3], [false, false, false], 2)).toThrow(/training and test/);
    expect(() => knnAccuracySplit(embeddings, [3, 4, 3], [true, true], 2)).toThrow(/test flags/);
  });
});

describe('nearestNeighbours', () => {
  it('returns sorted neighbours, earlier index first on ties, excluding self when asked', () => {
    const keys = Float32Array.from([1, 0, 0.6, 0.8, 1, 0, 0, 1]);
    const { k, indices, similarities } = nearestNeighbours(Float32Array.from([1, 0]), keys, 2, 3);
    expect(k).toBe(3);
    expect(Array.from(indices)).toEqual([0, 2, 1]);
    expect(Array.from(similarities)).toEqual([1, 1, Math.fround(0.6)]);
    const self = nearestNeighbours(keys, keys, 2, 10, { excludeSelf: true });
    expect(self.k).toBe(3);
    expect(Array.from(self.indices.subarray(0, 3))).toEqual([2, 1, 3]);
  });
});
