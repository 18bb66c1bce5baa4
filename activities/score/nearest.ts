/**
 * k-nearest-neighbour search by dot product (cosine similarity for L2-normalised float32 rows), done by
 * libraries, with the event loop left free.
 *
 * - **exact**: brute force as matrix products, one block of keys at a time, in onnxruntime (its GEMM in
 *   float64, rounded once to float32, then TopK, whose ties go to the smaller index). A similarity is thus the
 *   dot product rounded once to float32, as the earlier JavaScript loop computed it, and the ranking is the
 *   same: most similar first, ties → smaller key index. Float64 sums taken in another order (another machine,
 *   thread count or block size) differ far below what float32 keeps, so the figures do not move with them.
 * - **approximate**: an HNSW graph over the keys (usearch, vectors stored as bfloat16, built in key order on
 *   one thread, so the same keys give the same graph); every query's candidates are re-scored exactly and
 *   re-ranked. Before the full search a probe of evenly spaced queries is searched both ways: the search
 *   widens (ef doubles) until the probe's recall@k against exact reaches the target, and falls back to exact
 *   search when it never does. The measured recall is returned with the neighbours.
 *
 * `chooseMode` picks approximate only where exact search is large (see `EXACT_WORK_LIMIT`). Both libraries'
 * calls are synchronous, so the search runs as bounded pieces (tens of milliseconds of work each) with a turn
 * of the event loop between them: timers, such as the activity heartbeat pump, keep running.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { Index, MetricKind, ScalarKind, type BatchMatches, type Matches } from 'usearch';

export type SearchMode = 'exact' | 'approximate';

export interface Neighbours {
  /** Neighbours kept per query (k clipped to the number of candidates). */
  k: number;
  /** Row-major [queries, k]: key indices, most similar first (ties → smaller index where exact). */
  indices: Int32Array;
  /** Row-major [queries, k]: the matching dot products, rounded to float32. */
  similarities: Float32Array;
  /** How the neighbours were found (approximate falls back to exact when it misses the recall target). */
  mode: SearchMode;
  /** Approximate: the probe queries' recall@k against exact search. Null for exact search. */
  recall: number | null;
}

export interface NearestOptions {
  /** Queries and keys are the same rows: never return query i as its own neighbour. */
  excludeSelf?: boolean;
  /**
   * Per query, one key index never to return for it (-1: none), e.g. a candidate's own row among the keys.
   * With either exclusion, k is clipped to keys − 1.
   */
  exclude?: Int32Array;
  /** 'auto' (default) asks `chooseMode`; 'exact' or 'approximate' force one. */
  mode?: 'auto' | SearchMode;
  /**
   * Approximate: the recall@k the probe must reach (default 0.97: the probe's 256 queries estimate the
   * whole search's recall to about ±0.01, so the whole search stays at or above 0.95).
   */
  probeRecall?: number;
  /**
   * Threads for the exact search; results do not depend on it (the graph is built and searched on one
   * thread, since its shape would depend on the thread count). Default: all cores but one, which stays
   * with the event loop and the rest of the worker (on a busy machine a search split over every core waits
   * for its slowest thread, and the event loop with it).
   */
  threads?: number;
}

/** What callers of a search for their own purpose (rewards, kNN accuracy) may set: they own the exclusions. */
export type SearchOptions = Omit<NearestOptions, 'excludeSelf' | 'exclude'>;

/**
 * Exact search costs queries × keys × dim multiply-adds (onnxruntime's float64 GEMM runs 20–30 G/s per core);
 * above this, and with at least `APPROXIMATE_MIN_KEYS` keys, the graph search is cheaper even after
 * building the graph. bench/knn.ts measures both. On 2 cores 25,600 × 25,600 × 128 (8.4e10) is near the
 * crossover (exact 3.2 s, graph 2.5 s in one run; 6.2 s and 7.3 s in another); the graph wins clearly at
 * 40,000 × 75,000 × 128 (3.8e11: 18.5 s against 32.6 s) and at 2048-d from 25,600 × 25,600 up (35 s against
 * 104 s; 115 s against 403 s at 40,000 × 75,000).
 */
export const EXACT_WORK_LIMIT = 2 ** 38;
/** Below this many keys a graph never pays off: a query visits a good part of a small graph anyway. */
export const APPROXIMATE_MIN_KEYS = 8192;

export function chooseMode(queries: number, keys: number, dim: number): SearchMode {
  return keys >= APPROXIMATE_MIN_KEYS && queries * keys * dim > EXACT_WORK_LIMIT ? 'approximate' : 'exact';
}

/**
 * For every query row, the `k` key rows with the largest dot product, most similar first. Inputs are
 * row-major [n, dim] float32; k is clipped to the number of keys (less one with an exclusion).
 */
export async function nearestNeighbours(
  queries: Float32Array,
  keys: Float32Array,
  dim: number,
  k: number,
  options: NearestOptions = {},
): Promise<Neighbours> {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (queries.length % dim !== 0 || keys.length % dim !== 0) {
    throw new RangeError(`embedding arrays must hold whole rows of ${dim} values`);
  }
  const nq = queries.length / dim;
  const nk = keys.length / dim;
  if (options.excludeSelf && nq !== nk) throw new RangeError('excludeSelf needs queries and keys to be the same rows');
  if (options.exclude && options.exclude.length !== nq) {
    throw new RangeError(`exclude needs one entry per query (${nq}), got ${options.exclude.length}`);
  }
  const exclude = options.excludeSelf ? Int32Array.from({ length: nq }, (_, i) => i) : (options.exclude ?? null);
  const kk = Math.max(0, Math.min(Math.floor(k), exclude ? nk - 1 : nk));
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
  const mode = !options.mode || options.mode === 'auto' ? chooseMode(nq, nk, dim) : options.mode;
  const problem: Problem = { queries, nq, keys, nk, dim, kk, exclude, threads };
  if (kk === 0) return { k: 0, indices: new Int32Array(0), similarities: new Float32Array(0), mode, recall: null };
  if (mode === 'approximate') return approximateSearch(problem, options.probeRecall ?? 0.97);
  return { k: kk, ...(await exactSearch(problem)), mode: 'exact', recall: null };
}

interface Problem {
  queries: Float32Array;
  nq: number;
  keys: Float32Array;
  nk: number;
  dim: number;
  kk: number;
  exclude: Int32Array | null;
  threads: number;
}

interface Found {
  indices: Int32Array;
  similarities: Float32Array;
}

/** Lets timers and I/O run between two synchronous pieces of work. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Milliseconds of synchronous work between two turns of the event loop where the work can be cut anywhere. */
const SLICE_MS = 20;

// ---------------------------------------------------------------------------------------------------------
// Exact: blocked GEMM + TopK in onnxruntime.

/** Key rows per block: a block is held as float64 (2^23 values = 64 MiB). */
const BLOCK_VALUES = 2 ** 23;
/** Values converted to float64 between two turns of the event loop (a few milliseconds). */
const CONVERT_VALUES = 2 ** 20;
/**
 * Multiply-adds of the first run (~1 ms at 20 G/s, ~30 ms on a slow shared core). Later runs are sized from
 * the speed the earlier ones measured, to take about `SLICE_MS` each: a fixed size would hold the event loop
 * for half a second on a machine twenty times slower than the one it was chosen on.
 */
const FIRST_RUN_WORK = 2 ** 24;
/** Cells of one run's similarity matrix (float64 + float32 copies: 48 MiB). */
const RUN_CELLS = 2 ** 22;

/** Query rows for the next run: about `SLICE_MS` of work at the speed measured, growing at most twofold. */
function nextRunRows(rows: number, elapsedMs: number, cap: number): number {
  const fitting = Math.floor((rows * SLICE_MS) / Math.max(elapsedMs, 0.1));
  return Math.max(1, Math.min(cap, 2 * rows, fitting));
}

/** A block of keys as float64, converted a slice at a time. */
async function float64Block(keys: Float32Array, from: number, to: number): Promise<Float64Array> {
  const out = new Float64Array(to - from);
  for (let at = from; at < to; at += CONVERT_VALUES) {
    out.set(keys.subarray(at, Math.min(to, at + CONVERT_VALUES)), at - from);
    await turn();
  }
  return out;
}

async function exactSearch(p: Problem): Promise<Found> {
  const { queries, nq, keys, nk, dim, kk, exclude } = p;
  const session = await gemmTopK(p.threads);
  const indices = new Int32Array(nq * kk).fill(-1);
  const similarities = new Float32Array(nq * kk).fill(-Infinity);
  const filled = new Int32Array(nq);
  const blockRows = Math.max(1, Math.min(nk, Math.floor(BLOCK_VALUES / dim)));
  // Query rows per run follow the measured speed; a query's similarities do not depend on them (each is its
  // own row of the product).
  const cap = Math.max(1, Math.min(nq, Math.floor(RUN_CELLS / blockRows)));
  let rows = Math.max(1, Math.min(cap, Math.floor(FIRST_RUN_WORK / (blockRows * dim))));
  const merged = { indices: new Int32Array(kk), similarities: new Float32Array(kk) };
  for (let k0 = 0; k0 < nk; k0 += blockRows) {
    const k1 = Math.min(nk, k0 + blockRows);
    const block = new ort.Tensor('float64', await float64Block(keys, k0 * dim, k1 * dim), [k1 - k0, dim]);
    const take = Math.min(k1 - k0, kk + (exclude ? 1 : 0));
    const wanted = new ort.Tensor('int64', BigInt64Array.of(BigInt(take)), [1]);
    for (let q0 = 0; q0 < nq;) {
      const q1 = Math.min(nq, q0 + rows);
      const started = performance.now();
      const out = await session.run({
        queries: new ort.Tensor('float32', queries.subarray(q0 * dim, q1 * dim), [q1 - q0, dim]),
        keys: block,
        k: wanted,
      });
      rows = nextRunRows(q1 - q0, performance.now() - started, cap);
      const values = out.values.data as Float32Array;
      const found = out.indices.data as Int32Array;
      for (let qi = q0; qi < q1; qi++) {
        const base = (qi - q0) * take;
        const skip = exclude ? exclude[qi] - k0 : -1;
        let a = 0; // into the list so far (keys of earlier blocks: smaller indices, so they win ties)
        let b = 0; // into this block's TopK
        let n = 0;
        const had = filled[qi];
        const at = qi * kk;
        while (n < kk) {
          while (b < take && found[base + b] === skip) b++;
          const fromOld = a < had && (b >= take || similarities[at + a] >= values[base + b]);
          if (fromOld) {
            merged.indices[n] = indices[at + a];
            merged.similarities[n++] = similarities[at + a++];
          } else if (b < take) {
            merged.indices[n] = k0 + found[base + b];
            merged.similarities[n++] = values[base + b++];
          } else break;
        }
        indices.set(merged.indices.subarray(0, n), at);
        similarities.set(merged.similarities.subarray(0, n), at);
        filled[qi] = n;
      }
      q0 = q1;
      await turn();
    }
  }
  return { indices, similarities };
}

const sessions = new Map<number, Promise<ort.InferenceSession>>();

/** One session per thread count for the process: queries [n, d] (float32) · keys [m, d]ᵀ (float64) → float32 → TopK. */
function gemmTopK(threads: number): Promise<ort.InferenceSession> {
  let session = sessions.get(threads);
  if (!session) {
    session = ort.InferenceSession.create(gemmTopKModel(), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      // Only what the graph says: no rewrite may drop the float64 casts.
      graphOptimizationLevel: 'disabled',
      // Threads sleep between runs instead of spinning: the event loop runs there and needs the core.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    session.catch(() => sessions.delete(threads));
    sessions.set(threads, session);
  }
  return session;
}

/** The ONNX model (opset 17), written directly as protobuf. */
function gemmTopKModel(): Uint8Array {
  const FLOAT = 1;
  const INT32 = 6;
  const INT64 = 7;
  const DOUBLE = 11;
  const graph = [
    field(1, node('Cast', ['queries'], ['q64'], [intAttribute('to', DOUBLE)])),
    field(1, node('Gemm', ['q64', 'keys'], ['s64'], [intAttribute('transB', 1)])),
    field(1, node('Cast', ['s64'], ['s32'], [intAttribute('to', FLOAT)])),
    field(
      1,
      node(
        'TopK',
        ['s32', 'k'],
        ['values', 'indices64'],
        [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)],
      ),
    ),
    // Indices as int32: JavaScript reads int64 elements as BigInt, one allocation each.
    field(1, node('Cast', ['indices64'], ['indices'], [intAttribute('to', INT32)])),
    text(2, 'gemm_topk'),
    field(11, valueInfo('queries', FLOAT, ['n', 'd'])),
    field(11, valueInfo('keys', DOUBLE, ['m', 'd'])),
    field(11, valueInfo('k', INT64, [1])),
    field(12, valueInfo('values', FLOAT, ['n', 'top'])),
    field(12, valueInfo('indices', INT32, ['n', 'top'])),
  ];
  // ModelProto: ir_version 8, producer_name, graph, opset_import { domain "", version 17 }.
  return Uint8Array.from([
    ...integer(1, 8),
    ...text(2, 'internet-explorer'),
    ...field(7, graph.flat()),
    ...field(8, integer(2, 17)),
  ]);
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const integer = (tag: number, value: number): number[] => [...varint(tag << 3), ...varint(value)];
const field = (tag: number, bytes: number[]): number[] => [
  ...varint((tag << 3) | 2),
  ...varint(bytes.length),
  ...bytes,
];
const text = (tag: number, value: string): number[] => field(tag, [...Buffer.from(value, 'utf8')]);
/** AttributeProto { name, i, type: INT }. */
const intAttribute = (name: string, value: number): number[] => [
  ...text(1, name),
  ...integer(3, value),
  ...integer(20, 2),
];
/** NodeProto { input…, output…, op_type, attribute… }. */
function node(op: string, inputs: string[], outputs: string[], attributes: number[][]): number[] {
  return [
    ...inputs.flatMap((name) => text(1, name)),
    ...outputs.flatMap((name) => text(2, name)),
    ...text(4, op),
    ...attributes.flatMap((a) => field(5, a)),
  ];
}
/** ValueInfoProto { name, type { tensor_type { elem_type, shape { dim… } } } }; string dims are symbolic. */
function valueInfo(name: string, elemType: number, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) => field(1, typeof d === 'number' ? integer(1, d) : text(2, d)));
  return [...text(1, name), ...field(2, field(1, [...integer(1, elemType), ...field(2, shape)]))];
}

// ---------------------------------------------------------------------------------------------------------
// Approximate: usearch HNSW, candidates re-scored exactly.

/** HNSW graph degree and construction beam (usearch's defaults are 16 and 128; 64 builds twice as fast here). */
const CONNECTIVITY = 16;
const EXPANSION_ADD = 64;
const PROBE_QUERIES = 256;
const MAX_EF = 1024;
/**
 * A graph search with beam ef computes ~ef × connectivity distances per query, each several times dearer
 * than one multiply-add row of the exact GEMM: with ef above keys / 32 scanning every key is cheaper, and
 * the search falls back to exact.
 */
const KEYS_PER_EF = 32;
/** Candidates fetched by the first usearch search call (queries × ef); later calls follow the measured speed. */
const SEARCH_CANDIDATES = 2048;

async function approximateSearch(p: Problem, target: number): Promise<Neighbours> {
  const { queries, nq, keys, nk, dim, kk, exclude } = p;
  const maxEf = Math.min(MAX_EF, Math.floor(nk / KEYS_PER_EF));
  let ef = Math.max(32, 2 * kk);
  if (ef > maxEf) return { k: kk, ...(await exactSearch(p)), mode: 'exact', recall: null };
  const index = new Index({
    dimensions: dim,
    metric: MetricKind.IP,
    quantization: ScalarKind.BF16,
    connectivity: CONNECTIVITY,
    expansion_add: EXPANSION_ADD,
    expansion_search: kk,
    multi: false,
  });
  // In key order, on one thread: the graph is then the same on every run and every machine. (Each of the
  // index's thread contexts draws node levels from its own random stream, so a build, and a search, over
  // more threads would give a graph that depends on the thread count.)
  const key = new BigUint64Array(1);
  let sliceStart = performance.now();
  for (let i = 0; i < nk; i++) {
    key[0] = BigInt(i);
    index.add(key, keys.subarray(i * dim, (i + 1) * dim), 1);
    if (performance.now() - sliceStart > SLICE_MS) {
      await turn();
      sliceStart = performance.now();
    }
  }

  // The probe: evenly spaced queries, searched exactly and through the graph with a widening beam.
  const probeRows = Math.min(nq, PROBE_QUERIES);
  const probe = Int32Array.from({ length: probeRows }, (_, j) => Math.floor(((j + 0.5) * nq) / probeRows));
  const probeQueries = new Float32Array(probeRows * dim);
  probe.forEach((row, j) => probeQueries.set(queries.subarray(row * dim, (row + 1) * dim), j * dim));
  const probeExclude = exclude ? Int32Array.from(probe, (row) => exclude[row]) : null;
  const probeProblem = { ...p, queries: probeQueries, nq: probeRows, exclude: probeExclude };
  const truth = await exactSearch(probeProblem);
  let recall = 0;
  for (;;) {
    recall = recallAtK(await graphSearch(index, probeProblem, ef), truth, kk);
    if (recall >= target || ef >= maxEf) break;
    ef = Math.min(maxEf, 2 * ef);
  }
  if (recall < target) return { k: kk, ...(await exactSearch(p)), mode: 'exact', recall: null };
  return { k: kk, ...(await graphSearch(index, p, ef)), mode: 'approximate', recall };
}

/** Top-k of every query among its `ef` graph candidates, ranked by their exact similarity. */
async function graphSearch(index: Index, p: Problem, ef: number): Promise<Found> {
  const { queries, nq, keys, dim, kk, exclude } = p;
  const indices = new Int32Array(nq * kk);
  const similarities = new Float32Array(nq * kk);
  const wanted = Math.min(p.nk, ef + (exclude ? 1 : 0));
  const short: number[] = [];
  const candidates: { key: number; sim: number }[] = [];
  let rows = Math.max(1, Math.floor(SEARCH_CANDIDATES / wanted));
  for (let q0 = 0; q0 < nq;) {
    const q1 = Math.min(nq, q0 + rows);
    const started = performance.now();
    const result = index.search(queries.subarray(q0 * dim, q1 * dim), wanted, 1) as Matches | BatchMatches;
    // One query gives Matches (no counts), several give BatchMatches; both lay keys out `wanted` per query.
    const counts = 'counts' in result ? result.counts : BigUint64Array.of(BigInt(result.keys.length));
    for (let qi = q0; qi < q1; qi++) {
      const count = Number(counts[qi - q0]);
      candidates.length = 0;
      for (let j = 0; j < count; j++) {
        const ki = Number(result.keys[(qi - q0) * wanted + j]);
        if (exclude && ki === exclude[qi]) continue;
        candidates.push({ key: ki, sim: dotRounded(queries, qi * dim, keys, ki * dim, dim) });
      }
      if (candidates.length < kk) {
        short.push(qi);
        continue;
      }
      candidates.sort((x, y) => y.sim - x.sim || x.key - y.key);
      for (let j = 0; j < kk; j++) {
        indices[qi * kk + j] = candidates[j].key;
        similarities[qi * kk + j] = candidates[j].sim;
      }
    }
    rows = nextRunRows(q1 - q0, performance.now() - started, nq);
    q0 = q1;
    await turn();
  }
  if (short.length > 0) {
    // The graph gave too few candidates (it can happen on a tiny or degenerate key set): search those exactly.
    const rows = new Float32Array(short.length * dim);
    short.forEach((row, j) => rows.set(queries.subarray(row * dim, (row + 1) * dim), j * dim));
    const fixed = await exactSearch({
      ...p,
      queries: rows,
      nq: short.length,
      exclude: exclude ? Int32Array.from(short, (row) => exclude[row]) : null,
    });
    short.forEach((row, j) => {
      indices.set(fixed.indices.subarray(j * kk, (j + 1) * kk), row * kk);
      similarities.set(fixed.similarities.subarray(j * kk, (j + 1) * kk), row * kk);
    });
  }
  return { indices, similarities };
}

/** Dot product accumulated in float64 and rounded once to float32, as the exact search computes it. */
function dotRounded(a: Float32Array, aBase: number, b: Float32Array, bBase: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[aBase + d] * b[bBase + d];
  return Math.fround(s);
}

/** Mean over queries of |found top-k ∩ exact top-k| / k. */
export function recallAtK(found: { indices: Int32Array }, truth: { indices: Int32Array }, k: number): number {
  const queries = found.indices.length / k;
  if (queries === 0) return 1;
  let hits = 0;
  for (let q = 0; q < queries; q++) {
    const want = new Set(truth.indices.subarray(q * k, (q + 1) * k));
    for (let j = 0; j < k; j++) if (want.has(found.indices[q * k + j])) hits++;
  }
  return hits / (queries * k);
}
