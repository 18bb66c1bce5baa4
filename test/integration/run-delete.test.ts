import { Prisma } from '@prisma/client';
import { db } from '../../lib/db';
import { useTestEnvironment } from './harness';
import { insertRunRow } from './run-rows';

useTestEnvironment('run_delete');

/** Every table a run owns, with one row of the run `runId` (iteration 0, concept 0, image `sha`). */
async function seedRun(runId: string, sha: string): Promise<void> {
  const run = { runId };
  const it = { runId, iteration: 0 };
  await insertRunRow(runId);
  await db().targetImage.create({ data: { ...run, idx: 0, sha256: sha, source: '/t/a.jpg' } });
  await db().iteration.create({ data: { ...run, index: 0, status: 'running', stage: 'sample' } });
  const now = new Date();
  await db().stageTiming.create({
    data: { ...it, stage: 'sample', startedAt: now, finishedAt: now, ms: 1, dbMs: 0, attempt: 1 },
  });
  await db().runConcept.create({ data: { ...run, conceptId: 0, source: 'user' } });
  await db().descriptorFallback.create({ data: { ...it, conceptId: 0, model: 'm', reason: 'r' } });
  await db().query.create({ data: { ...it, conceptId: 0, text: 'q', searchKey: 'q', provider: 'local' } });
  await db().fetch.create({ data: { url: `http://x/${runId}`, status: 'ok', sha256: sha, ...it } });
  await db().exclusion.create({ data: { ...it, url: `http://x/${runId}/e`, sha256: sha, reason: 'near_duplicate' } });
  await db().candidate.create({ data: { ...it, conceptId: 0, sha256: sha, rank: 0 } });
  await db().imageReward.create({ data: { ...it, sha256: sha, reward: 0.5 } });
  await db().conceptReward.create({ data: { ...it, conceptId: 0, reward: 0.5, standardised: 0, images: 1 } });
  await db().replayMember.create({ data: { ...it, sha256: sha, reward: 0.5, key: 1n } });
  await db().distribution.create({
    data: { ...it, predicted: Buffer.alloc(4), probs: Buffer.alloc(4), observed: 1, topConcepts: [] },
  });
  await db().conceptEvidence.create({ data: { ...run, conceptId: 0, sample: [sha] } });
  await db().checkpoint.create({ data: { ...it, step: 1, path: '/c.pt' } });
  await db().evaluation.create({ data: { ...it, metric: 'knn_accuracy', value: 0.5 } });
  await db().runControl.create({ data: { ...run, kind: 'pause', payload: {}, accepted: true } });
  await db().iterationFailure.create({ data: { ...it, failure: 1, error: 'e' } });
}

/** Rows that name `runId`, per table (every table with a runId column). */
async function rowsOf(runId: string): Promise<Record<string, number>> {
  const tables = await db().$queryRaw<{ table_name: string }[]>`
    SELECT table_name::text AS table_name FROM information_schema.columns
    WHERE column_name = 'runId' AND table_schema = current_schema()`;
  const counts: Record<string, number> = {};
  for (const { table_name: table } of tables) {
    const [{ n }] = await db().$queryRaw<{ n: bigint }[]>(
      Prisma.sql`SELECT count(*) AS n FROM ${Prisma.raw(`"${table}"`)} WHERE "runId" = ${runId}`,
    );
    counts[table] = Number(n);
  }
  return counts;
}

test('deleting a run deletes every row it owns and nothing another run or the shared store needs', async () => {
  const sha = 'a'.repeat(64);
  await db().image.create({ data: { sha256: sha, path: '/s/a.jpg', width: 1, height: 1, bytes: 1, sourceUrl: 'u' } });
  await seedRun('doomed', sha);
  await seedRun('kept', sha);

  const before = await rowsOf('doomed');
  // Every table with a runId column was seeded: a table added later without a cascade shows up here.
  expect(Object.entries(before).filter(([, n]) => n === 0)).toEqual([]);

  await db().run.delete({ where: { id: 'doomed' } });

  const after = await rowsOf('doomed');
  expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
  expect(await rowsOf('kept')).toEqual(before);
  // Shared rows stay: the image, and the URL's outcome (which no longer names the deleted run).
  expect(await db().image.count({ where: { sha256: sha } })).toBe(1);
  expect(await db().fetch.findUnique({ where: { url: 'http://x/doomed' } })).toMatchObject({
    status: 'ok',
    runId: null,
  });
});
