// A synthetic run of a given size for bench/scale.ts: its earlier iterations hold `images` images in total,
// with every row a real run of that size leaves (queries, search results, fetches, images, candidates,
// rewards, concept evidence, the replay buffer, iterations, stage timings, distributions, evaluations) and
// a file in the content store for every image; its last iteration has searched and fetched its own images
// (a fixed number, the same at every size) and waits for its download stage's post-processing.
//
// Rows are written with INSERT … SELECT over generate_series in PostgreSQL (a million rows a table in
// seconds, where Prisma's createMany would take minutes); files are hard links to a pool of a few hundred
// real normalised JPEGs (Tiny ImageNet test images), each under the name of its synthetic SHA-256: what
// the stages read is rows and files, and the store finds files by name.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { prepareRun } from '../../activities/stages/run';
import { storePath, storeRoot } from '../../activities/store/content-store';
import { normaliseImage } from '../../activities/store/normalise';
import { iterationDir } from '../../activities/iteration-files';
import { parseRunConfig, type RunConfigInput } from '../../lib/config';
import { TOP_MASS_KS, distributionStats } from '../../lib/distribution-stats';
import { prepareUnlabelledTinyTest } from '../../lib/targets';

export interface SeedShape {
  /** Images of the earlier iterations. */
  images: number;
  /** Earlier iterations. */
  iterations: number;
  /** Concepts queried in the earlier iterations (each once, as a run without descriptors does). */
  concepts: number;
  /** Queries of the measured iteration, and the images each found. */
  queries: number;
  resultsPerQuery: number;
}

/** Images each earlier concept found (the paper's 50 results less the failures and near duplicates). */
export const IMAGES_PER_CONCEPT = 25;

/**
 * The run a real one of `images` downloads would be: one observed concept per 25 images, its iterations
 * growing with it (4 at 10k, 15 at 100k, 150 at 1M: about 6,700 images an iteration at the larger sizes).
 */
export function shapeFor(images: number, queries: number, resultsPerQuery: number): SeedShape {
  const concepts = Math.max(1, Math.round(images / IMAGES_PER_CONCEPT));
  const iterations = Math.min(150, Math.max(4, Math.round(images / 6667)));
  return { images: concepts * IMAGES_PER_CONCEPT, iterations, concepts, queries, resultsPerQuery };
}

/** The synthetic SHA-256 of image `i` (the same in SQL: sha256('bench:' || i)). */
export function imageSha(i: number): string {
  return createHash('sha256').update(`bench:${i}`).digest('hex');
}

const SHA_SQL = `encode(sha256(convert_to('bench:' || i::text, 'UTF8')), 'hex')`;
const POOL = 512;

export interface Seeded {
  runId: string;
  /** The measured iteration (the run's last). */
  iteration: number;
  shape: SeedShape;
  seconds: number;
  /** Rows per table after seeding. */
  rows: Record<string, number>;
  databaseBytes: number;
}

/**
 * Seeds `runId` into the (migrated, empty) database of DATABASE_URL. `config` is the run's config (its
 * target must exist); `log` reports each step.
 */
export async function seedRun(
  runId: string,
  config: RunConfigInput,
  shape: SeedShape,
  log: (line: string) => void,
): Promise<Seeded> {
  const started = performance.now();
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const value = await fn();
    log(`  ${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return value;
  };
  // The run, its target in the store and the concept vocabulary, as the prepare activity leaves them.
  await step('prepare (run, target, vocabulary)', () => prepareRun({ runId, config }));
  const parsed = parseRunConfig(config);

  const pg = new Client({ connectionString: process.env.DATABASE_URL });
  await pg.connect();
  try {
    await pg.query('SET synchronous_commit = off');
    await step('rows', () => seedRows(pg, runId, shape, parsed.score.replayCap));
    await step('ANALYZE', () => pg.query('ANALYZE'));
    const rows: Record<string, number> = {};
    for (const table of [
      'Image',
      'Fetch',
      'SearchResult',
      'Query',
      'Candidate',
      'ImageReward',
      'ConceptReward',
      'ConceptEvidence',
      'ReplayMember',
      'Iteration',
      'StageTiming',
      'Distribution',
      'Evaluation',
    ]) {
      rows[table] = Number((await pg.query(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n);
    }
    const size = await pg.query('SELECT pg_database_size(current_database()) AS n');
    await step('content store files', () => linkFiles(shape));
    await step('iteration folders', async () => {
      for (let i = 0; i < shape.iterations; i++) fs.mkdirSync(iterationDir(runId, i), { recursive: true });
    });
    return {
      runId,
      iteration: shape.iterations,
      shape,
      seconds: (performance.now() - started) / 1000,
      rows,
      databaseBytes: Number(size.rows[0].n),
    };
  } finally {
    await pg.end();
  }
}

async function seedRows(pg: Client, runId: string, shape: SeedShape, replayCap: number): Promise<void> {
  const { iterations: I, concepts: C, queries: Q, resultsPerQuery: R } = shape;
  const K = IMAGES_PER_CONCEPT;
  // Concepts spread over the WordNet vocabulary: the earlier iterations' C, then the measured iteration's Q.
  const vocabulary = (await pg.query<{ id: number }>(`SELECT id FROM "Concept" ORDER BY id`)).rows.map((r) => r.id);
  if (C + Q > vocabulary.length) throw new Error(`${C + Q} concepts asked of a vocabulary of ${vocabulary.length}`);
  const ids = Array.from({ length: C + Q }, (_, j) => vocabulary[Math.floor((j * vocabulary.length) / (C + Q))]);

  await pg.query(`CREATE TEMP TABLE bench_concept AS
    SELECT (u.ord - 1)::int AS j, u.id AS concept_id, k.name,
      CASE WHEN u.ord - 1 < ${C} THEN ((u.ord - 1) * ${I} / ${C})::int ELSE ${I} END AS iteration,
      lower(k.name) || ' #' || u.id AS search_key
    FROM unnest($1::int[]) WITH ORDINALITY AS u(id, ord) JOIN "Concept" k ON k.id = u.id`, [ids]); // prettier-ignore
  await pg.query(`CREATE TEMP TABLE bench_image AS
    SELECT i, j, concept_id, iteration, search_key, rank, ${SHA_SQL} AS sha,
      'http://127.0.0.1:9/image/bench/' || i AS url
    FROM (
      SELECT c.*, (c.j::bigint * ${K} + r)::bigint AS i, r AS rank FROM bench_concept c, generate_series(0, ${K - 1}) r
      WHERE c.j < ${C}
      UNION ALL
      SELECT c.*, (${C}::bigint * ${K} + (c.j - ${C}) * ${R} + r)::bigint AS i, r AS rank
      FROM bench_concept c, generate_series(0, ${R - 1}) r WHERE c.j >= ${C}
    ) s`); // prettier-ignore

  await pg.query(
    `INSERT INTO "Query" ("runId", iteration, "conceptId", text, "searchKey", provider, results)
     SELECT $1, iteration, concept_id, name, search_key, 'local', CASE WHEN j < ${C} THEN ${K} ELSE ${R} END
     FROM bench_concept`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "SearchResponse" (provider, query, page, "pageSize", total, last)
     SELECT 'local', search_key, 0, NULL, CASE WHEN j < ${C} THEN ${K} ELSE ${R} END, true FROM bench_concept`,
  );
  await pg.query(
    `INSERT INTO "SearchResult" (provider, query, page, rank, url) SELECT 'local', search_key, 0, rank, url FROM bench_image`,
  );
  await pg.query(
    `INSERT INTO "Fetch" (url, status, "httpStatus", sha256, bytes, ms, "runId", iteration)
     SELECT url, 'ok', 200, sha, 900, 5, $1, iteration FROM bench_image`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "Image" (sha256, path, width, height, bytes, "sourceUrl", phash)
     SELECT sha, $1 || '/' || substr(sha, 1, 2) || '/' || sha || '.jpg', 32, 32, 900, url, substr(md5(sha), 1, 16)
     FROM bench_image`,
    [storeRoot()],
  );
  await pg.query(
    `INSERT INTO "Candidate" ("runId", iteration, "conceptId", sha256, rank)
     SELECT $1, iteration, concept_id, sha, rank FROM bench_image WHERE iteration < ${I}`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "ImageReward" ("runId", iteration, sha256, reward)
     SELECT $1, iteration, sha, random() * 0.4 - 0.2 FROM bench_image WHERE iteration < ${I}`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "ConceptReward" ("runId", iteration, "conceptId", reward, standardised, images)
     SELECT $1, iteration, concept_id, random() * 0.2 - 0.1, ${GAUSSIAN}, ${K} FROM bench_concept WHERE j < ${C}`,
    [runId],
  );
  // Each concept's evidence: a sample of 10 of its images, its reward when last scored (some iteration at or
  // after the one that queried it).
  await pg.query(
    `INSERT INTO "ConceptEvidence" ("runId", "conceptId", sample, reward, standardised, "scoredIteration")
     SELECT $1, concept_id, array_agg(sha ORDER BY sha) FILTER (WHERE rank < 10), random() * 0.2 - 0.1, ${GAUSSIAN},
       iteration + floor(random() * (${I} - iteration))::int
     FROM bench_image WHERE iteration < ${I} GROUP BY concept_id, iteration`,
    [runId],
  );
  // The replay buffer: half of every iteration's images admitted, the cap keeping the smallest keys
  // (activities/score/replay.ts's key: the first 60 bits of sha256(run:image)).
  await pg.query(
    `INSERT INTO "ReplayMember" ("runId", sha256, iteration, reward, key)
     SELECT $1, sha, iteration, random() * 0.2, k FROM (
       SELECT sha, iteration,
         ('x' || substr(encode(sha256(convert_to($1 || ':' || sha, 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint AS k
       FROM bench_image WHERE iteration < ${I} AND i % 2 = 0
     ) s ORDER BY k LIMIT ${replayCap}`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "Iteration" ("runId", index, status, stage, "startedAt", "finishedAt", "wallMs", queries, results,
       downloaded, failed, kept, "meanReward", "knnAccuracy", "linearProbeAccuracy", "trainSteps", "trainLoss")
     SELECT $1, n, 'completed', 'done', now() - interval '1 minute' * (${I} - n), now() - interval '1 minute' * (${I} - n - 1),
       900000, q.n_queries, q.n_queries * ${K}, q.n_queries * ${K}, 0, q.n_queries * ${K} / 2, random() * 0.1,
       0.2 + random() * 0.1, 0.2 + random() * 0.1, 50, 5 + random()
     FROM generate_series(0, ${I - 1}) n
     JOIN (SELECT iteration, count(*)::int AS n_queries FROM bench_concept GROUP BY iteration) q ON q.iteration = n`,
    [runId],
  ); // prettier-ignore
  await pg.query(
    `INSERT INTO "Iteration" ("runId", index, status, stage, queries, results)
     VALUES ($1, ${I}, 'running', 'search', ${Q}, ${Q * R})`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "StageTiming" ("runId", iteration, stage, "startedAt", "finishedAt", ms, "dbMs", attempt)
     SELECT $1, n, s, now(), now(), 60000 + (random() * 60000)::int, 500, 1
     FROM generate_series(0, ${I - 1}) n, unnest(ARRAY['sample','search','download','train','score','update','evaluate']) s`,
    [runId],
  );
  await pg.query(
    `INSERT INTO "Evaluation" ("runId", iteration, metric, value)
     SELECT $1, n, m, 0.2 + random() * 0.1
     FROM generate_series(0, ${I - 1}) n, unnest(ARRAY['knn_accuracy','knn_loo_accuracy','linear_probe_accuracy']) m`,
    [runId],
  );
  // Distributions: vocabulary-sized float32 arrays (predicted means and probabilities) of random bytes, as
  // incompressible as real ones.
  const floats = new Float32Array(vocabulary.length);
  for (let i = 0; i < floats.length; i++) floats[i] = Math.random() / vocabulary.length;
  const bytes = Buffer.from(floats.buffer);
  const stats = distributionStats(floats, TOP_MASS_KS);
  await pg.query(
    `INSERT INTO "Distribution" ("runId", iteration, temperature, predicted, probs, "lengthScale", noise, observed,
       "topConcepts", stats)
     SELECT $1, n, 0.05, $2, $2, 1.0, 0.5, ((n + 1) * ${C} / ${I})::int, $3::jsonb, $4::jsonb
     FROM generate_series(0, ${I - 1}) n`,
    [runId, bytes, JSON.stringify([{ concept: 'tabby', probability: 0.01 }]), JSON.stringify(stats)],
  ); // prettier-ignore
}

/** A standard normal draw in SQL (Box–Muller). */
const GAUSSIAN = `sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())`;

/** Writes a pool of real normalised JPEGs and links every synthetic image's store name to one of them. */
async function linkFiles(shape: SeedShape): Promise<void> {
  const poolDir = path.join(storeRoot(), '..', 'bench-pool');
  fs.mkdirSync(poolDir, { recursive: true });
  const source = prepareUnlabelledTinyTest();
  const names = fs
    .readdirSync(source)
    .filter((n) => n.endsWith('.JPEG') || n.endsWith('.jpg') || n.endsWith('.jpeg'))
    .sort()
    .slice(0, POOL);
  const pool: string[] = [];
  for (const [k, name] of names.entries()) {
    const file = path.join(poolDir, `${k}.jpg`);
    if (!fs.existsSync(file)) {
      const image = await normaliseImage(fs.readFileSync(path.join(source, name)), { maxSide: 256, maxPixels: 64e6 });
      fs.writeFileSync(file, image.jpeg);
    }
    pool.push(file);
  }
  for (let d = 0; d < 256; d++)
    fs.mkdirSync(path.join(storeRoot(), d.toString(16).padStart(2, '0')), { recursive: true });
  const total = shape.images + shape.queries * shape.resultsPerQuery;
  for (let i = 0; i < total; i++) {
    const target = storePath(imageSha(i));
    try {
      fs.linkSync(pool[i % pool.length], target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
