/**
 * A run's evidence about the concepts it queried, bounded so that scoring costs the same at iteration 150
 * as at iteration 1 (the `ConceptEvidence` table).
 *
 * The method wants every concept judged by the current encoder (rewards of different encoders are not
 * comparable). Rescoring every download of the run each iteration grows with the run (≈ 2 M images by its
 * end), so each iteration rescores a bounded set instead:
 * - each concept keeps a deterministic sample of at most `imagesPerConcept` of the images it found (those
 *   with the smallest hash of concept and image: a uniform sample, whatever the order they were found in);
 * - each iteration scores this iteration's concepts (all their new images and their sample), the
 *   `bestConcepts` best concepts so far and the `staleConcepts` concepts unscored the longest (a rotation
 *   that reaches every concept in turn), each on its sample;
 * - every concept keeps the standardised reward it had when last scored, so the GP still sees all of them.
 * Per iteration this reads and embeds at most (queries + best + stale) × imagesPerConcept sampled images
 * besides the iteration's own downloads; the table holds one row per concept queried (≤ the vocabulary).
 */
import { createHash } from 'node:crypto';
import { db } from '../../lib/db';

export interface EvidenceLimits {
  imagesPerConcept: number;
  bestConcepts: number;
  staleConcepts: number;
}

/** A stable pseudo-random key of an image within a concept (or a run): the sample keeps the smallest. */
export function sampleKey(scope: string | number, sha256: string): number {
  return parseInt(createHash('sha256').update(`${scope}:${sha256}`).digest('hex').slice(0, 12), 16);
}

/** The `cap` images of `current` ∪ `found` with the smallest keys, by ascending key (no duplicates). */
export function mergeSample(conceptId: number, current: readonly string[], found: Iterable<string>, cap: number) {
  const all = new Set([...current, ...found]);
  return [...all]
    .map((sha) => ({ sha, key: sampleKey(conceptId, sha) }))
    .sort((a, b) => a.key - b.key || (a.sha < b.sha ? -1 : 1))
    .slice(0, cap)
    .map((e) => e.sha);
}

export interface ConceptImages {
  conceptId: number;
  /** Images to score the concept on: its sample, and for this iteration's concepts their new images too. */
  images: string[];
}

/**
 * Adds this iteration's finds to its concepts' samples (idempotent: a retry merges the same images again)
 * and returns what to score this iteration: this iteration's concepts on their sample and their new images,
 * then the best and the longest-unscored earlier concepts on their samples.
 */
export async function evidenceToScore(
  ref: { runId: string; iteration: number },
  queried: number[],
  found: { conceptId: number; sha256: string }[],
  limits: EvidenceLimits,
): Promise<ConceptImages[]> {
  const newImages = new Map<number, Set<string>>(queried.map((id) => [id, new Set<string>()]));
  for (const f of found) newImages.get(f.conceptId)?.add(f.sha256);
  const existing = await db().conceptEvidence.findMany({
    where: { runId: ref.runId, conceptId: { in: queried } },
    select: { conceptId: true, sample: true },
  });
  const sampleOf = new Map(existing.map((e) => [e.conceptId, e.sample]));
  const current = queried.map((conceptId) => {
    const fresh = newImages.get(conceptId) as Set<string>;
    const sample = mergeSample(conceptId, sampleOf.get(conceptId) ?? [], fresh, limits.imagesPerConcept);
    return { conceptId, images: [...new Set([...sample, ...fresh])].sort(), sample };
  });
  await db().$transaction(
    current.map(({ conceptId, sample }) =>
      db().conceptEvidence.upsert({
        where: { runId_conceptId: { runId: ref.runId, conceptId } },
        create: { runId: ref.runId, conceptId, sample },
        update: { sample },
      }),
    ),
  );

  const exclude = new Set(queried);
  const earlier = { runId: ref.runId, conceptId: { notIn: [...exclude] } };
  const best = await db().conceptEvidence.findMany({
    where: { ...earlier, standardised: { not: null } },
    orderBy: [{ standardised: 'desc' }, { conceptId: 'asc' }],
    take: limits.bestConcepts,
    select: { conceptId: true, sample: true },
  });
  for (const b of best) exclude.add(b.conceptId);
  const stale = await db().conceptEvidence.findMany({
    where: { runId: ref.runId, conceptId: { notIn: [...exclude] } },
    orderBy: [{ scoredIteration: { sort: 'asc', nulls: 'first' } }, { conceptId: 'asc' }],
    take: limits.staleConcepts,
    select: { conceptId: true, sample: true },
  });
  return [
    ...current.map(({ conceptId, images }) => ({ conceptId, images })),
    ...[...best, ...stale].map((e) => ({ conceptId: e.conceptId, images: e.sample })),
  ];
}

/** Stores each scored concept's reward under this iteration's encoder. */
export async function recordEvidenceRewards(
  ref: { runId: string; iteration: number },
  scored: { conceptId: number; reward: number; standardised: number }[],
): Promise<void> {
  const BATCH = 1000;
  for (let i = 0; i < scored.length; i += BATCH) {
    const batch = scored.slice(i, i + BATCH);
    await db().$executeRawUnsafe(
      `UPDATE "ConceptEvidence" e SET "reward" = v.reward, "standardised" = v.standardised, "scoredIteration" = $2
       FROM unnest($3::int[], $4::float8[], $5::float8[]) AS v("conceptId", reward, standardised)
       WHERE e."runId" = $1 AND e."conceptId" = v."conceptId"`,
      ref.runId,
      ref.iteration,
      batch.map((s) => s.conceptId),
      batch.map((s) => s.reward),
      batch.map((s) => s.standardised),
    );
  }
}

/**
 * Every concept's latest standardised reward (the GP's observations): one row per concept queried, or with
 * `foundOnly` per concept whose queries found at least one image (its sample is not empty).
 */
export async function latestRewards(
  runId: string,
  options: { foundOnly?: boolean } = {},
): Promise<{ conceptId: number; standardised: number }[]> {
  const rows = await db().conceptEvidence.findMany({
    where: { runId, standardised: { not: null }, ...(options.foundOnly ? { sample: { isEmpty: false } } : {}) },
    select: { conceptId: true, standardised: true },
    orderBy: { conceptId: 'asc' },
  });
  return rows.map((r) => ({ conceptId: r.conceptId, standardised: r.standardised as number }));
}

/**
 * Whether each concept this run queried found any image (its evidence sample is not empty): what
 * `gp.emptyConcepts` `discount` learns the chance of finding images from. One row per concept queried (at
 * most the vocabulary, read by the table's primary key), not per image.
 */
export async function foundFlags(runId: string): Promise<{ conceptId: number; found: boolean }[]> {
  return db().$queryRaw<{ conceptId: number; found: boolean }[]>`
    SELECT "conceptId", cardinality(sample) > 0 AS found FROM "ConceptEvidence"
    WHERE "runId" = ${runId} ORDER BY "conceptId"`;
}
