// What a run leaves in the database, for fault tests that assert it equals an uninterrupted run's; a bare run
// row for tests that fill a run's tables themselves; and what an update stage's distribution row must hold.
import { loadRunVocabulary } from '../../activities/concepts/run-concepts';
import { float32FromBytes } from '../../lib/bytes';
import { db } from '../../lib/db';

/** A run row with no workflow behind it (status running), for tests that write the run's other rows. */
export async function insertRunRow(
  id: string,
  target: { targetDir: string; targetCount: number; config?: object } = { targetDir: '/t', targetCount: 1 },
): Promise<void> {
  await db().run.create({
    data: {
      id,
      workflowId: id,
      mode: 'explore',
      config: target.config ?? {},
      targetDir: target.targetDir,
      targetCount: target.targetCount,
      hasLabels: false,
      labelNames: [],
      status: 'running',
    },
  });
}

/**
 * Asserts that a finished run of `smallRunConfig` (24 queries an iteration; `iterations` of them, 2 unless
 * the test set another number) holds one row per natural key: one fetch outcome per URL its queries found, one
 * query and one concept reward per sampled concept, one timing per stage, one reward per distinct candidate,
 * one Image row per stored file.
 */
export async function expectOneRowPerNaturalKey(runId: string, iterations = 2): Promise<void> {
  const urls = await db().$queryRaw<{ url: string }[]>`
    SELECT DISTINCT r.url FROM "Query" q JOIN "SearchResult" r ON r.query = q."searchKey" AND r.provider = q.provider
    WHERE q."runId" = ${runId} AND r.rank < 10`;
  expect(await db().fetch.count({ where: { runId } })).toBe(urls.length);
  expect(await db().query.count({ where: { runId } })).toBe(24 * iterations);
  expect(await db().conceptReward.count({ where: { runId } })).toBe(24 * iterations);
  expect(await db().stageTiming.count({ where: { runId } })).toBe(7 * iterations);
  const distinctCandidates = await db().candidate.findMany({ where: { runId }, distinct: ['iteration', 'sha256'] });
  expect(await db().imageReward.count({ where: { runId } })).toBe(distinctCandidates.length);
  const images = await db().image.findMany({ select: { path: true } });
  expect(new Set(images.map((i) => i.path)).size).toBe(images.length);
}

/**
 * The run's rows by natural key (without the run id, so two runs compare), table by table, sorted: what two
 * runs of the same config and seed must share whatever happened on the way. Values that depend on timing
 * (durations, attempts, timestamps) and on floating point (rewards, losses) are left out, and so is an image's
 * perceptual hash: made from the pixels when the image is first stored, and from its stored file when the
 * store already holds it but this database has no row for it, the two may differ by a bit of JPEG noise
 * (activities/store/normalise.ts); the near-duplicate exclusions it decides are compared.
 */
export async function naturalKeys(runId: string): Promise<Record<string, string[]>> {
  const keys = <T>(rows: T[], key: (row: T) => unknown[]) => rows.map((r) => key(r).join(' ')).sort();
  const where = { where: { runId } };
  const fetches = await db().fetch.findMany(where);
  const candidates = await db().candidate.findMany(where);
  const images = await db().image.findMany({
    where: { sha256: { in: [...new Set(candidates.map((c) => c.sha256))] } },
  });
  return {
    run: keys(await db().run.findMany({ where: { id: runId } }), (r) => [r.status, r.mode, r.targetCount]),
    targetImage: keys(await db().targetImage.findMany(where), (r) => [r.idx, r.sha256, r.label]),
    iteration: keys(await db().iteration.findMany(where), (r) => [r.index, r.status, r.stage, r.trainSteps]),
    stageTiming: keys(await db().stageTiming.findMany(where), (r) => [r.iteration, r.stage]),
    runConcept: keys(await db().runConcept.findMany(where), (r) => [r.conceptId, r.source]),
    query: keys(await db().query.findMany(where), (r) => [r.iteration, r.conceptId, r.searchKey, r.results]),
    fetch: keys(fetches, (r) => [r.url, r.status, r.reason, r.sha256]),
    image: keys(images, (r) => [r.sha256, r.width, r.height]),
    exclusion: keys(await db().exclusion.findMany(where), (r) => [r.iteration, r.url, r.sha256]),
    candidate: keys(candidates, (r) => [r.iteration, r.conceptId, r.sha256, r.rank]),
    imageReward: keys(await db().imageReward.findMany(where), (r) => [r.iteration, r.sha256]),
    conceptReward: keys(await db().conceptReward.findMany(where), (r) => [r.iteration, r.conceptId, r.images]),
    replayMember: keys(await db().replayMember.findMany(where), (r) => [r.sha256, r.iteration]),
    conceptEvidence: keys(await db().conceptEvidence.findMany(where), (r) => [r.conceptId, r.scoredIteration]),
    distribution: keys(await db().distribution.findMany(where), (r) => [r.iteration, r.observed]),
    checkpoint: keys(await db().checkpoint.findMany(where), (r) => [r.iteration, r.step]),
    evaluation: keys(await db().evaluation.findMany(where), (r) => [r.iteration, r.metric]),
    iterationFailure: keys(await db().iterationFailure.findMany(where), (r) => [r.iteration, r.failure]),
  };
}

/**
 * Iteration `iteration`'s update fitted the GP on the concepts that found images, and the temperature it reports
 * is the stored one: calibrated (> 0) when the GP predicts the concepts still drawable (the run's, less those
 * queried when `descriptors` is 'none') differently, null (a uniform draw) when it predicts them all alike —
 * which a run this short, with rewards from an encoder trained a few steps, can do: a length scale so short
 * that the kernel is 0 between distinct concepts leaves every unqueried one at the mean. Either way the GP
 * followed the rewards: the concepts it observed are not all predicted alike.
 */
export async function expectTemperatureFromPredictions(
  runId: string,
  iteration: number,
  reported: number | null,
): Promise<void> {
  const row = await db().distribution.findUniqueOrThrow({ where: { runId_iteration: { runId, iteration } } });
  expect(row.observed).toBeGreaterThanOrEqual(2);
  // The database's copy may differ from the workflow's in the last binary digit.
  if (reported === null) expect(row.temperature).toBeNull();
  else expect(row.temperature).toBeCloseTo(reported, 12);
  const predicted = float32FromBytes(row.predicted);
  const queried = new Set(
    (await db().query.findMany({ where: { runId, iteration: { lte: iteration } }, select: { conceptId: true } })).map(
      (q) => q.conceptId,
    ),
  );
  expect(new Set([...queried].map((id) => predicted[id])).size).toBeGreaterThan(1);
  const run = await db().run.findUniqueOrThrow({ where: { id: runId } });
  const excluded = ((run.config as { descriptors?: string }).descriptors ?? 'none') === 'none' ? queried : new Set();
  const { member } = await loadRunVocabulary(runId);
  const drawable = new Set<number>();
  for (let id = 0; id < predicted.length; id++) if (member[id] && !excluded.has(id)) drawable.add(predicted[id]);
  if (reported === null) expect(drawable.size).toBe(1);
  else {
    expect(reported).toBeGreaterThan(0);
    expect(drawable.size).toBeGreaterThan(1);
  }
}
