import { seededRandom } from '../../activities/concepts/prng';
import { knnAccuracyLeaveOneOut, knnAccuracySplit } from '../../activities/evaluate/knn';
import { chooseMode, nearestNeighbours, recallAtK, type Neighbours } from '../../activities/score/nearest';
import { baselineNearestNeighbours } from '../../bench/knn-baseline';

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
  it('is 1.0 on two well-separated clusters', async () => {
    const { embeddings, labels } = twoClusters(100, 32);
    expect(await knnAccuracyLeaveOneOut(embeddings, labels, 32)).toBe(1);
  });

  it('is near chance on random labels', async () => {
    const dim = 16;
    const random = seededRandom('noise');
    const n = 2000;
    const embeddings = normalise(
      Float32Array.from({ length: n * dim }, () => random() - 0.5),
      dim,
    );
    const labels = Array.from({ length: n }, () => Math.floor(random() * 4));
    expect(Math.abs((await knnAccuracyLeaveOneOut(embeddings, labels, dim)) - 0.25)).toBeLessThan(0.04);
  });

  it('never lets a sample vote for itself', async () => {
    // Two identical points with different labels plus a far third: each must be classified by the other.
    const embeddings = Float32Array.from([1, 0, 1, 0, 0, 1]);
    expect(await knnAccuracyLeaveOneOut(embeddings, [0, 1, 1], 2, 1)).toBeCloseTo(0, 12);
  });

  it('breaks vote ties towards the smallest label', async () => {
    const embeddings = Float32Array.from([1, 0, 1, 0, 1, 0]);
    // Samples 0 and 2 each see labels 2 and 5 with equal weight → predict 2 (right); sample 1 sees 2, 2 (wrong).
    // Ties towards the larger label would score 0.
    expect(await knnAccuracyLeaveOneOut(embeddings, [2, 5, 2], 2, 2)).toBeCloseTo(2 / 3, 12);
  });
});

describe('knnAccuracySplit', () => {
  it('is 1.0 on two well-separated clusters and near chance on random labels', async () => {
    const { embeddings, labels } = twoClusters(100, 32);
    const test = labels.map((_, i) => i % 3 === 0);
    expect(await knnAccuracySplit(embeddings, labels, test, 32)).toBe(1);

    const dim = 16;
    const random = seededRandom('noise-split');
    const n = 3000;
    const noise = normalise(
      Float32Array.from({ length: n * dim }, () => random() - 0.5),
      dim,
    );
    const noiseLabels = Array.from({ length: n }, () => Math.floor(random() * 4));
    const noiseTest = noiseLabels.map((_, i) => i % 3 === 0);
    expect(Math.abs((await knnAccuracySplit(noise, noiseLabels, noiseTest, dim)) - 0.25)).toBeLessThan(0.04);
  });

  it('classifies test images by training images only', async () => {
    // Test image 0 sits on test image 1 (other label) but its only training neighbour shares its label.
    const embeddings = Float32Array.from([1, 0, 1, 0, 0.8, 0.6, 0, 1]);
    const labels = [0, 1, 0, 1];
    const test = [true, true, false, false];
    // k = 1: image 0 → training image 2 (label 0, right); image 1 → training image 2 too (wrong).
    expect(await knnAccuracySplit(embeddings, labels, test, 2, 1)).toBeCloseTo(0.5, 12);
    // Leave-one-out would let image 0 see image 1 first and get it wrong.
    expect(await knnAccuracyLeaveOneOut(embeddings, labels, 2, 1)).toBeCloseTo(0.25, 12);
  });

  it('clips k to the training split and refuses an empty side', async () => {
    const embeddings = Float32Array.from([1, 0, 0, 1, 1, 0]);
    expect(await knnAccuracySplit(embeddings, [3, 4, 3], [true, false, false], 2, 50)).toBe(1);
    await expect(knnAccuracySplit(embeddings, [3, 4, 3], [false, false, false], 2)).rejects.toThrow(
      /training and test/,
    );
    await expect(knnAccuracySplit(embeddings, [3, 4, 3], [true, true], 2)).rejects.toThrow(/test flags/);
  });
});

describe('nearestNeighbours', () => {
  it('returns sorted neighbours, earlier index first on ties, excluding self when asked', async () => {
    const keys = Float32Array.from([1, 0, 0.6, 0.8, 1, 0, 0, 1]);
    const { k, indices, similarities } = await nearestNeighbours(Float32Array.from([1, 0]), keys, 2, 3);
    expect(k).toBe(3);
    expect(Array.from(indices)).toEqual([0, 2, 1]);
    expect(Array.from(similarities)).toEqual([1, 1, Math.fround(0.6)]);
    const self = await nearestNeighbours(keys, keys, 2, 10, { excludeSelf: true });
    expect(self.k).toBe(3);
    expect(Array.from(self.indices.subarray(0, 3))).toEqual([2, 1, 3]);
  });
});

/** Row-major [n, dim] seeded random unit vectors. */
function randomRows(n: number, dim: number, seed: string): Float32Array {
  const random = seededRandom(seed);
  return normalise(
    Float32Array.from({ length: n * dim }, () => random() - 0.5),
    dim,
  );
}

/** The loop's neighbours with `exclude[i]` removed from row i (asked for k + 1, as the web reward did). */
function loopWithout(queries: Float32Array, keys: Float32Array, dim: number, k: number, exclude: Int32Array) {
  const wide = baselineNearestNeighbours(queries, keys, dim, k + 1);
  const nq = queries.length / dim;
  const indices = new Int32Array(nq * k);
  const similarities = new Float32Array(nq * k);
  for (let q = 0; q < nq; q++) {
    let n = 0;
    for (let j = 0; j <= k && n < k; j++) {
      if (wide.indices[q * (k + 1) + j] === exclude[q]) continue;
      indices[q * k + n] = wide.indices[q * (k + 1) + j];
      similarities[q * k + n++] = wide.similarities[q * (k + 1) + j];
    }
  }
  return { indices, similarities };
}

function expectSame(got: Neighbours, want: { indices: Int32Array; similarities: Float32Array }): void {
  expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
  expect(Array.from(got.similarities)).toEqual(Array.from(want.similarities));
}

describe('nearestNeighbours (exact): what the JavaScript loop returned', () => {
  it('on random rows, with self excluded, k clipped', async () => {
    for (const dim of [2, 37, 128]) {
      const keys = randomRows(700, dim, `keys-${dim}`);
      const queries = randomRows(300, dim, `queries-${dim}`);
      for (const k of [1, 15, 2000]) {
        const got = await nearestNeighbours(queries, keys, dim, k);
        expect(got.mode).toBe('exact');
        expect(got.k).toBe(Math.min(k, 700));
        expectSame(got, baselineNearestNeighbours(queries, keys, dim, k));
      }
      const self = await nearestNeighbours(keys, keys, dim, 15, { excludeSelf: true });
      expectSame(self, baselineNearestNeighbours(keys, keys, dim, 15, { excludeSelf: true }));
    }
  });

  it('across key blocks, with ties spanning a block boundary and per-query exclusions', async () => {
    // At 2048-d a key block holds 4096 rows: 5000 keys take two blocks whose top-k lists are merged.
    const dim = 2048;
    const keys = randomRows(5000, dim, 'blocked-keys');
    const tied = [10, 4090, 4094, 4095, 4096, 4097, 4200, 4999];
    for (const row of tied) keys.set(keys.subarray(10 * dim, 11 * dim), row * dim);
    const picks = [10, 4095, 4096, 4999, 0, 17, 2500, 4100, 4500];
    const queries = new Float32Array(picks.length * dim);
    picks.forEach((row, j) => queries.set(keys.subarray(row * dim, (row + 1) * dim), j * dim));
    for (const k of [1, 5, 15]) {
      const got = await nearestNeighbours(queries, keys, dim, k);
      expectSame(got, baselineNearestNeighbours(queries, keys, dim, k));
      const exclude = Int32Array.from(picks, (row, j) => (j % 3 === 2 ? -1 : row));
      const without = await nearestNeighbours(queries, keys, dim, k, { exclude });
      expectSame(without, loopWithout(queries, keys, dim, k, exclude));
    }
    // The tie at similarity 1 goes to the smaller indices, in order, wherever the block boundary falls.
    const first = await nearestNeighbours(queries.subarray(0, dim), keys, dim, 8);
    expect(Array.from(first.indices)).toEqual(tied);
  });

  it('returns nothing when there is nothing to return', async () => {
    const none = await nearestNeighbours(Float32Array.from([1, 0]), new Float32Array(0), 2, 5);
    expect([none.k, none.indices.length, none.similarities.length]).toEqual([0, 0, 0]);
    const alone = await nearestNeighbours(Float32Array.from([1, 0]), Float32Array.from([1, 0]), 2, 5, {
      excludeSelf: true,
    });
    expect(alone.k).toBe(0);
  });
});

describe('nearestNeighbours (approximate)', () => {
  const dim = 64;
  const keys = randomRows(10_000, dim, 'hnsw-keys');
  const queries = randomRows(1000, dim, 'hnsw-queries');

  it('reaches recall@k ≥ 0.95 against exact on a seeded random case, the same result on every run', async () => {
    const exact = await nearestNeighbours(queries, keys, dim, 15, { mode: 'exact' });
    const approximate = await nearestNeighbours(queries, keys, dim, 15, { mode: 'approximate' });
    expect(approximate.mode).toBe('approximate');
    expect(approximate.recall).toBeGreaterThanOrEqual(0.97);
    expect(recallAtK(approximate, exact, 15)).toBeGreaterThanOrEqual(0.95);
    // The same on every run, with any number of threads.
    const again = await nearestNeighbours(queries, keys, dim, 15, { mode: 'approximate', threads: 3 });
    expectSame(again, approximate);
    // Neighbours found are scored exactly: a neighbour both searches found has the same similarity.
    const exactSim = new Map<number, number>();
    for (let j = 0; j < 15; j++) exactSim.set(exact.indices[j], exact.similarities[j]);
    for (let j = 0; j < 15; j++) {
      const want = exactSim.get(approximate.indices[j]);
      if (want !== undefined) expect(approximate.similarities[j]).toBe(want);
    }
  });

  it('never returns a query as its own neighbour', async () => {
    const rows = keys.subarray(0, 9000 * dim);
    const exact = await nearestNeighbours(rows, rows, dim, 10, { mode: 'exact', excludeSelf: true });
    const approximate = await nearestNeighbours(rows, rows, dim, 10, { mode: 'approximate', excludeSelf: true });
    expect(recallAtK(approximate, exact, 10)).toBeGreaterThanOrEqual(0.95);
    for (let q = 0; q < 9000; q++) expect(approximate.indices.subarray(q * 10, (q + 1) * 10)).not.toContain(q);
  });

  it('falls back to exact search when the probe cannot reach the recall asked for', async () => {
    const some = queries.subarray(0, 50 * dim);
    const got = await nearestNeighbours(some, keys, dim, 15, { mode: 'approximate', probeRecall: 1.01 });
    expect(got.mode).toBe('exact');
    expectSame(got, await nearestNeighbours(some, keys, dim, 15, { mode: 'exact' }));
  });

  it('is what auto picks only for large searches over many keys', () => {
    expect(chooseMode(40_000, 450, 2048)).toBe('exact');
    expect(chooseMode(25_600, 25_600, 128)).toBe('exact');
    expect(chooseMode(1_000_000, 4_000, 2048)).toBe('exact');
    expect(chooseMode(40_000, 75_000, 128)).toBe('approximate');
    expect(chooseMode(25_600, 25_600, 2048)).toBe('approximate');
    expect(chooseMode(40_000, 75_000, 2048)).toBe('approximate');
  });
});

/** Unit rows near a 16-d subspace, in 50 clusters: neighbour structure like an encoder's features. */
function featureRows(n: number, dim: number, seed: string): Float32Array {
  const space = seededRandom('feature-space');
  const basis = Float32Array.from({ length: dim * 16 }, () => space() - 0.5);
  const centres = Float32Array.from({ length: 50 * 16 }, () => 4 * (space() - 0.5));
  const random = seededRandom(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * 50);
    const z = Array.from({ length: 16 }, (_, l) => centres[c * 16 + l] + random() - 0.5);
    for (let d = 0; d < dim; d++) {
      let v = 0.05 * (random() - 0.5);
      for (let l = 0; l < 16; l++) v += basis[d * 16 + l] * z[l];
      out[i * dim + d] = v;
    }
  }
  return normalise(out, dim);
}

describe('nearestNeighbours and the event loop', () => {
  it('keeps timers running while a large search runs', async () => {
    // The old loop held the event loop for the whole of this search (8e9 multiply-adds: seconds). Between
    // two ticks of a 10 ms timer the process may compute at most 200 ms. That is measured as CPU time: on a
    // shared machine the process can also lose the CPU for a while, which no code controls, so wall-clock
    // gaps are not asserted. One thread, so the CPU time is the event loop's.
    const dim = 512;
    const keys = featureRows(4000, dim, 'loop-keys');
    const queries = featureRows(4000, dim, 'loop-queries');
    for (const mode of ['exact', 'approximate'] as const) {
      let cpu = process.cpuUsage();
      let longestCpu = 0;
      let ticks = 0;
      const tick = (): void => {
        const used = process.cpuUsage(cpu);
        longestCpu = Math.max(longestCpu, (used.user + used.system) / 1000);
        cpu = process.cpuUsage();
        ticks++;
      };
      const timer = setInterval(tick, 10);
      let found: Neighbours;
      try {
        found = await nearestNeighbours(queries, keys, dim, 15, { mode, threads: 1 });
      } finally {
        clearInterval(timer);
      }
      tick();
      expect(found.mode).toBe(mode);
      expect(ticks).toBeGreaterThan(5);
      expect(longestCpu).toBeLessThan(200);
    }
  });
});
