// Nearest-neighbour search as the score and evaluate stages run it (activities/score/nearest.ts): the
// JavaScript loop it replaced (bench/knn-baseline.ts), the library's exact search (onnxruntime GEMM + TopK),
// its approximate search (usearch HNSW, recall-checked) and, for reference, usearch's own brute force,
// on the same data in one run; plus the approximate search's recall@k against exact.
//
//   node --import tsx bench/knn.ts [--sizes 25600x450,25600x25600,40000x75000] [--dim 128,2048] [--k 15]
//                                  [--limit 60] [--threads N] [--json FILE]
//
// Data: L2-normalised rows from a seeded low-rank mixture (32-d latent, 100 clusters, mapped to `dim` plus
// isotropic noise), closer to an encoder's features than uniform noise, in which every point is nearly
// orthogonal to every other and no neighbour structure exists. Queries and keys share clusters.
//
// --limit: a method whose full run is estimated above this many seconds runs on evenly spaced queries
// only, timed and scaled to all queries (each method's cost is linear in the queries); the table marks
// those figures with '~'. Recall is measured on the queries exact search ran on.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { exactSearch as usearchExactSearch, MetricKind } from 'usearch';
import { seededRandom } from '../activities/concepts/prng';
import { chooseMode, nearestNeighbours, recallAtK, type Neighbours } from '../activities/score/nearest';
import { baselineNearestNeighbours } from './knn-baseline';
import { benchOptions, numberListOption, numberOption } from './options';

const options = benchOptions(
  'node --import tsx bench/knn.ts [--sizes 25600x450,...] [--dim 128,2048] [--k 15] [--limit 60] [--threads N] [--json FILE]',
  {
    sizes: { type: 'string', default: '25600x450,25600x25600,40000x75000' },
    dim: { type: 'string', default: '128,2048' },
    k: { type: 'string', default: '15' },
    limit: { type: 'string', default: '60' },
    threads: { type: 'string' },
    json: { type: 'string', default: '' },
  },
);
const sizes = options.sizes
  .split(',')
  .map((s) => s.split('x').map((n) => numberOption(n, 'sizes')) as [number, number]);
const dims = numberListOption(options.dim, 'dim');
const k = numberOption(options.k, 'k');
const limitS = numberOption(options.limit, 'limit');
/** Threads for the library searches (default: the module's, all cores but one). */
const threads = options.threads === undefined ? undefined : numberOption(options.threads, 'threads');
const threadCount = threads ?? Math.max(1, availableParallelism() - 1);
const jsonPath = options.json;

/** Rough rates (multiply-adds per second on one core here), only to decide what to subsample. */
const RATE = { baseline: 1.3e9, exact: 2e10, usearchExact: 4e9 };

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}

interface World {
  basis: Float32Array;
  centres: Float64Array;
}

const LATENT = 32;
const CLUSTERS = 100;

function world(dim: number): World {
  const random = seededRandom(`knn-world-${dim}`);
  const basis = Float32Array.from({ length: dim * LATENT }, () => gaussian(random) / Math.sqrt(LATENT));
  const centres = Float64Array.from({ length: CLUSTERS * LATENT }, () => gaussian(random));
  return { basis, centres };
}

function rows(n: number, dim: number, w: World, seed: string): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n * dim);
  const z = new Float64Array(LATENT);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * CLUSTERS);
    for (let l = 0; l < LATENT; l++) z[l] = w.centres[c * LATENT + l] + 0.5 * gaussian(random);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      let v = 0.2 * gaussian(random);
      for (let l = 0; l < LATENT; l++) v += w.basis[d * LATENT + l] * z[l];
      out[i * dim + d] = v;
      norm += v * v;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) out[i * dim + d] *= scale;
  }
  return out;
}

/** `count` evenly spaced rows of `queries` (all of them when count ≥ n). */
function subsample(queries: Float32Array, dim: number, count: number): { rows: Float32Array; n: number } {
  const n = queries.length / dim;
  if (count >= n) return { rows: queries, n };
  const out = new Float32Array(count * dim);
  for (let j = 0; j < count; j++) {
    const row = Math.floor(((j + 0.5) * n) / count);
    out.set(queries.subarray(row * dim, (row + 1) * dim), j * dim);
  }
  return { rows: out, n: count };
}

/** How many queries fit in the time limit at `rate` multiply-adds per second (all of them if they do). */
function affordable(nq: number, nk: number, dim: number, rate: number): number {
  const perQuery = (nk * dim) / rate;
  return Math.min(nq, Math.max(64, Math.floor(limitS / perQuery)));
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; s: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, s: (performance.now() - started) / 1000 };
}

interface Row {
  queries: number;
  keys: number;
  dim: number;
  k: number;
  autoMode: string;
  /** Seconds for all queries (scaled from `…Queries` evenly spaced ones where fewer). */
  baselineS: number;
  baselineQueries: number;
  exactS: number;
  exactQueries: number;
  usearchExactS: number;
  usearchExactQueries: number;
  approximateS: number;
  approximateMode: string;
  probeRecall: number | null;
  recall: number;
  /** Exact vs the JavaScript loop on the loop's queries: share of identical neighbour lists, largest |Δ similarity|. */
  sameAsBaseline: number;
  maxSimilarityDifference: number;
  speedupExact: number;
  speedupApproximate: number;
}

async function measure(nq: number, nk: number, dim: number): Promise<Row> {
  const w = world(dim);
  const queries = rows(nq, dim, w, `knn-queries-${nq}-${dim}`);
  const keys = rows(nk, dim, w, `knn-keys-${nk}-${dim}`);

  const baselineQ = affordable(nq, nk, dim, RATE.baseline);
  const exactQ = affordable(nq, nk, dim, RATE.exact);
  const usearchQ = Math.min(affordable(nq, nk, dim, RATE.usearchExact * 4), 2048); // a reference: a quarter of the time

  // The loop's queries are evenly spaced among exact search's (both are evenly spaced among all), so the
  // two can be compared row by row.
  const exactRows = subsample(queries, dim, exactQ);
  const base = subsample(exactRows.rows, dim, Math.min(baselineQ, exactQ));
  const baseline = await timed(() => baselineNearestNeighbours(base.rows, keys, dim, k));
  const exact = await timed(() => nearestNeighbours(exactRows.rows, keys, dim, k, { mode: 'exact', threads }));
  const usearchRows = subsample(queries, dim, usearchQ);
  const usearch = await timed(() => {
    // Its buffer is queries × keys × 16 bytes: 256 queries at a time.
    for (let q0 = 0; q0 < usearchRows.n; q0 += 256) {
      const part = usearchRows.rows.subarray(q0 * dim, Math.min(usearchRows.n, q0 + 256) * dim);
      usearchExactSearch(keys, part, dim, Math.min(k, nk), MetricKind.IP, threadCount);
    }
  });
  const approximate = await timed(() => nearestNeighbours(queries, keys, dim, k, { mode: 'approximate', threads }));

  // Recall on the queries exact search ran on (the same evenly spaced rows of the approximate result).
  const approxOnExactRows = pick(approximate.value, nq, exactQ);
  const recall = recallAtK(approxOnExactRows, exact.value, exact.value.k);
  const exactOnBaseRows = pick(exact.value, exactQ, base.n);
  let same = 0;
  let maxDiff = 0;
  {
    const kk = baseline.value.k;
    for (let q = 0; q < base.n; q++) {
      let equal = true;
      for (let j = 0; j < kk; j++) {
        if (exactOnBaseRows.indices[q * kk + j] !== baseline.value.indices[q * kk + j]) equal = false;
        const diff = Math.abs(exactOnBaseRows.similarities[q * kk + j] - baseline.value.similarities[q * kk + j]);
        maxDiff = Math.max(maxDiff, diff);
      }
      if (equal) same++;
    }
  }
  const baselineS = (baseline.s * nq) / base.n;
  const exactS = (exact.s * nq) / exactQ;
  return {
    queries: nq,
    keys: nk,
    dim,
    k,
    autoMode: chooseMode(nq, nk, dim),
    baselineS,
    baselineQueries: base.n,
    exactS,
    exactQueries: exactQ,
    usearchExactS: (usearch.s * nq) / usearchQ,
    usearchExactQueries: usearchQ,
    approximateS: approximate.s,
    approximateMode: approximate.value.mode,
    probeRecall: approximate.value.recall,
    recall,
    sameAsBaseline: same / base.n,
    maxSimilarityDifference: maxDiff,
    speedupExact: baselineS / exactS,
    speedupApproximate: baselineS / approximate.s,
  };
}

/** The `count` evenly spaced rows (as `subsample` picks them) of a result over `n` queries. */
function pick(found: Neighbours, n: number, count: number): { indices: Int32Array; similarities: Float32Array } {
  if (count >= n) return found;
  const kk = found.k;
  const indices = new Int32Array(count * kk);
  const similarities = new Float32Array(count * kk);
  for (let j = 0; j < count; j++) {
    const row = Math.floor(((j + 0.5) * n) / count);
    indices.set(found.indices.subarray(row * kk, (row + 1) * kk), j * kk);
    similarities.set(found.similarities.subarray(row * kk, (row + 1) * kk), j * kk);
  }
  return { indices, similarities };
}

function seconds(s: number, ran: number, of: number): string {
  return `${ran < of ? '~' : ''}${s < 10 ? s.toFixed(2) : s.toFixed(1)}`;
}

async function main(): Promise<void> {
  console.log(
    `nearest neighbours, k=${k}, ${threadCount} threads on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ` +
      `load ${loadavg()[0].toFixed(1)}; seconds ('~': scaled from evenly spaced queries)`,
  );
  const header = [
    'queries×keys',
    'dim',
    'auto',
    'JS loop s',
    'exact s',
    'usearch bf s',
    'approx s',
    'exact ×',
    'approx ×',
    'recall@k',
    'probe',
    '=JS',
  ];
  const widths = [14, 6, 13, 11, 9, 14, 10, 9, 10, 10, 7, 7];
  console.log(header.map((h, i) => h.padStart(widths[i])).join(''));
  // Warm-up: the first search creates the onnxruntime session.
  await nearestNeighbours(new Float32Array(8), new Float32Array(8), 8, 1, { threads });
  const results: Row[] = [];
  for (const dim of dims) {
    for (const [nq, nk] of sizes) {
      const r = await measure(nq, nk, dim);
      results.push(r);
      const cells = [
        `${nq}×${nk}`,
        String(dim),
        r.autoMode,
        seconds(r.baselineS, r.baselineQueries, nq),
        seconds(r.exactS, r.exactQueries, nq),
        seconds(r.usearchExactS, r.usearchExactQueries, nq),
        `${seconds(r.approximateS, nq, nq)}${r.approximateMode === 'exact' ? '*' : ''}`,
        r.speedupExact.toFixed(1),
        r.speedupApproximate.toFixed(1),
        r.recall.toFixed(4),
        r.probeRecall === null ? '—' : r.probeRecall.toFixed(3),
        `${(100 * r.sameAsBaseline).toFixed(0)}%`,
      ];
      console.log(cells.map((c, i) => c.padStart(widths[i])).join(''));
    }
  }
  console.log(
    "'*': the approximate search searched exactly (too few keys for a graph, or the probe missed the recall target)",
  );
  if (jsonPath) {
    const meta = {
      k,
      threads: threadCount,
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      load: loadavg()[0],
      limitS,
    };
    writeFileSync(jsonPath, JSON.stringify({ meta, results }, null, 2));
    console.log(`wrote ${jsonPath}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
