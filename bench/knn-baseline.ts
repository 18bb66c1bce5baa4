// The hand-written nearest-neighbour loop that activities/score/nearest.ts replaced (blocked brute force
// on the Node event loop, synchronous), kept only as the baseline bench/knn.ts times the library against
// and the tests compare it with. Not for the product path: it blocks the event loop for minutes at 2048-d.
/** Exact k-nearest-neighbour search by dot product (cosine similarity for L2-normalised rows), in JavaScript. */

export interface BaselineNeighbours {
  /** Neighbours kept per query (k clipped to the number of candidates). */
  k: number;
  /** Row-major [queries, k]: key indices, most similar first (ties → smaller index). */
  indices: Int32Array;
  /** Row-major [queries, k]: the matching dot products. */
  similarities: Float32Array;
}

export interface BaselineOptions {
  /** Queries and keys are the same rows: never return query i as its own neighbour. */
  excludeSelf?: boolean;
}

/** Rows per block: a block of keys (here 256 × 512 floats = 512 KiB) stays in cache across queries. */
const KEY_BLOCK = 256;
const QUERY_BLOCK = 64;

/**
 * For every query row, the `k` key rows with the largest dot product. Blocked brute force:
 * O(queries × keys × dim) multiply-adds at roughly 2.5 G/s on one core in V8 (2 × 4 register
 * tiles), so 25.6k candidates × 10k targets × 512 dims ≈ 1 min — with a per-query sorted top-k
 * list updated only when a key beats its k-th best (partial selection, no full sort).
 */
export function baselineNearestNeighbours(
  queries: Float32Array,
  keys: Float32Array,
  dim: number,
  k: number,
  options: BaselineOptions = {},
): BaselineNeighbours {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (queries.length % dim !== 0 || keys.length % dim !== 0) {
    throw new RangeError(`embedding arrays must hold whole rows of ${dim} values`);
  }
  const nq = queries.length / dim;
  const nk = keys.length / dim;
  const excludeSelf = options.excludeSelf ?? false;
  if (excludeSelf && nq !== nk) throw new RangeError('excludeSelf needs queries and keys to be the same rows');
  const kk = Math.max(0, Math.min(Math.floor(k), excludeSelf ? nk - 1 : nk));
  const indices = new Int32Array(nq * kk).fill(-1);
  const similarities = new Float32Array(nq * kk).fill(-Infinity);
  if (kk === 0) return { k: kk, indices, similarities };

  const offer = (qi: number, ki: number, dotProduct: number): void => {
    const out = qi * kk;
    // Compare at storage precision, so keys whose similarities are equal as float32 count as ties.
    const s = Math.fround(dotProduct);
    // Strict '>' keeps the earlier (smaller) key on ties, as each query sees keys in index order.
    if (s > similarities[out + kk - 1] && !(excludeSelf && ki === qi)) insert(similarities, indices, out, kk, s, ki);
  };
  const tile = new Float64Array(8);

  for (let k0 = 0; k0 < nk; k0 += KEY_BLOCK) {
    const k1 = Math.min(nk, k0 + KEY_BLOCK);
    const quadEnd = k0 + ((k1 - k0) & ~3);
    for (let q0 = 0; q0 < nq; q0 += QUERY_BLOCK) {
      const q1 = Math.min(nq, q0 + QUERY_BLOCK);
      for (let qa = q0; qa < q1; qa += 2) {
        // An odd last query is paired with itself; its duplicate results are ignored.
        const qb = qa + 1 < q1 ? qa + 1 : qa;
        for (let ki = k0; ki < quadEnd; ki += 4) {
          dot2x4(queries, qa * dim, qb * dim, keys, ki * dim, dim, tile);
          for (let j = 0; j < 4; j++) offer(qa, ki + j, tile[j]);
          if (qb !== qa) for (let j = 0; j < 4; j++) offer(qb, ki + j, tile[4 + j]);
        }
        for (let ki = quadEnd; ki < k1; ki++) {
          offer(qa, ki, dot(queries, qa * dim, keys, ki * dim, dim));
          if (qb !== qa) offer(qb, ki, dot(queries, qb * dim, keys, ki * dim, dim));
        }
      }
    }
  }
  return { k: kk, indices, similarities };
}

/** Inserts (s, index) into the descending list at [out, out + k), dropping the last; returns the new k-th value. */
function insert(sims: Float32Array, idx: Int32Array, out: number, k: number, s: number, index: number): number {
  let pos = out + k - 1;
  while (pos > out && sims[pos - 1] < s) {
    sims[pos] = sims[pos - 1];
    idx[pos] = idx[pos - 1];
    pos--;
  }
  sims[pos] = s;
  idx[pos] = index;
  return sims[out + k - 1];
}

/** Dot products of two query rows with four consecutive key rows (register tiling: each load feeds several sums). */
function dot2x4(
  q: Float32Array,
  a0: number,
  a1: number,
  k: Float32Array,
  b0: number,
  dim: number,
  out: Float64Array,
): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t0 = 0;
  let t1 = 0;
  let t2 = 0;
  let t3 = 0;
  const b1 = b0 + dim;
  const b2 = b1 + dim;
  const b3 = b2 + dim;
  for (let d = 0; d < dim; d++) {
    const x = q[a0 + d];
    const y = q[a1 + d];
    const k0 = k[b0 + d];
    const k1 = k[b1 + d];
    const k2 = k[b2 + d];
    const k3 = k[b3 + d];
    s0 += x * k0;
    s1 += x * k1;
    s2 += x * k2;
    s3 += x * k3;
    t0 += y * k0;
    t1 += y * k1;
    t2 += y * k2;
    t3 += y * k3;
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
  out[4] = t0;
  out[5] = t1;
  out[6] = t2;
  out[7] = t3;
}

function dot(a: Float32Array, aBase: number, b: Float32Array, bBase: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 3 < dim; d += 4) {
    s0 += a[aBase + d] * b[bBase + d];
    s1 += a[aBase + d + 1] * b[bBase + d + 1];
    s2 += a[aBase + d + 2] * b[bBase + d + 2];
    s3 += a[aBase + d + 3] * b[bBase + d + 3];
  }
  for (; d < dim; d++) s0 += a[aBase + d] * b[bBase + d];
  return s0 + s1 + s2 + s3;
}
