import { createHash } from 'node:crypto';
import { db } from '../../lib/db';
import { admitToReplay, replayKey } from '../../activities/score/replay';
import { evidenceToScore, latestRewards, recordEvidenceRewards } from '../../activities/score/evidence';
import { buildManifest } from '../../activities/stages/train';
import { useTestEnvironment } from './harness';
import { insertRunRow } from './run-rows';

useTestEnvironment('bounds');

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('the replay buffer stays at its cap and keeps the same images whatever the order of admission', async () => {
  const batches = [0, 1, 2].map((b) =>
    Array.from({ length: 100 }, (_, i) => ({ sha256: sha(`${b}-${i}`), reward: i })),
  );
  const cap = 150;
  for (const [order, runId] of [
    [[0, 1, 2], 'replay-a'],
    [[2, 1, 0], 'replay-b'],
  ] as const) {
    await insertRunRow(runId);
    for (const [iteration, b] of order.entries()) {
      const { size } = await admitToReplay({ runId, iteration }, batches[b], cap);
      expect(size).toBe(Math.min(cap, 100 * (iteration + 1)));
    }
  }
  const kept = async (runId: string) =>
    (await db().replayMember.findMany({ where: { runId }, select: { sha256: true } })).map((m) => m.sha256).sort();
  // The cap keeps the smallest keys of all admitted: the same set for either order (keys name the run).
  const all = batches.flat().map((m) => m.sha256);
  const expected = (runId: string) =>
    all
      .sort((x, y) => (replayKey(runId, x) < replayKey(runId, y) ? -1 : 1))
      .slice(0, cap)
      .sort();
  expect(await kept('replay-a')).toEqual(expected('replay-a'));
  expect(await kept('replay-b')).toEqual(expected('replay-b'));
});

test('each iteration rescores a bounded part of the evidence, and the rotation reaches every concept', async () => {
  const runId = 'evidence';
  await insertRunRow(runId);
  const limits = { imagesPerConcept: 4, bestConcepts: 50, staleConcepts: 50 };
  // 3,000 concepts from earlier iterations, each having found 20 images.
  await db().conceptEvidence.createMany({
    data: Array.from({ length: 3000 }, (_, c) => ({
      runId,
      conceptId: c,
      sample: Array.from({ length: 20 }, (_, i) => sha(`${c}/${i}`)).slice(0, limits.imagesPerConcept),
      reward: c % 97,
      standardised: (c % 97) / 97,
      scoredIteration: 0,
    })),
  });
  const seen = new Set<number>();
  for (let iteration = 1; iteration <= 30; iteration++) {
    const queried = [100_000 + iteration];
    const found = Array.from({ length: 30 }, (_, i) => ({
      conceptId: queried[0],
      sha256: sha(`new ${iteration} ${i}`),
    }));
    const toScore = await evidenceToScore({ runId, iteration }, queried, found, limits);
    // This iteration's concept with all its new images; at most best + stale earlier ones, each on its sample.
    expect(toScore[0]).toMatchObject({ conceptId: queried[0] });
    expect(toScore[0].images).toHaveLength(30);
    expect(toScore.length).toBeLessThanOrEqual(1 + limits.bestConcepts + limits.staleConcepts);
    for (const c of toScore.slice(1)) expect(c.images.length).toBeLessThanOrEqual(limits.imagesPerConcept);
    for (const c of toScore) seen.add(c.conceptId);
    await recordEvidenceRewards(
      { runId, iteration },
      toScore.map((c) => ({ conceptId: c.conceptId, reward: 0, standardised: -1 })),
    );
  }
  // 30 iterations × 50 stale concepts reach 1,500 distinct ones: the rotation moves on.
  expect([...seen].filter((c) => c < 3000).length).toBeGreaterThanOrEqual(1500);
  // The new concepts kept a bounded sample; every concept keeps a reward for the GP.
  const newest = await db().conceptEvidence.findUniqueOrThrow({
    where: { runId_conceptId: { runId, conceptId: 100_030 } },
  });
  expect(newest.sample).toHaveLength(limits.imagesPerConcept);
  expect(await latestRewards(runId)).toHaveLength(3030);
});

test("the GP's observations leave out the concepts that found nothing, unless the run asks for them", async () => {
  const runId = 'found-only';
  await insertRunRow(runId);
  await db().conceptEvidence.createMany({
    data: [
      { runId, conceptId: 1, sample: [sha('a')], reward: 0.4, standardised: 1.2, scoredIteration: 0 },
      { runId, conceptId: 2, sample: [], reward: -0.9, standardised: -2.5, scoredIteration: 0 },
      { runId, conceptId: 3, sample: [sha('b'), sha('c')], reward: 0.1, standardised: 0.3, scoredIteration: 1 },
      { runId, conceptId: 4, sample: [sha('d')] }, // not scored yet
    ],
  });
  expect(await latestRewards(runId, { foundOnly: true })).toEqual([
    { conceptId: 1, standardised: 1.2 },
    { conceptId: 3, standardised: 0.3 },
  ]);
  expect((await latestRewards(runId)).map((r) => r.conceptId)).toEqual([1, 2, 3]);
});

test('the training manifest lists each part in sha256 order at any size, the same on every build', async () => {
  const runId = 'manifest';
  await insertRunRow(runId);
  const n = 40_000; // past the 32k bind-variable limit where IN-list queries were split
  const images = Array.from({ length: n }, (_, i) => sha(`img ${i}`));
  await db().image.createMany({
    data: images.map((s) => ({ sha256: s, path: `/store/${s}.jpg`, width: 32, height: 32, bytes: 1, sourceUrl: s })),
  });
  await db().targetImage.create({ data: { runId, idx: 0, sha256: images[0], source: '/t/0.jpg' } });
  await db().candidate.createMany({
    data: images.slice(1).map((s, i) => ({ runId, iteration: 3, conceptId: i % 250, sha256: s, rank: i })),
  });
  const first = await buildManifest({ runId, iteration: 3 });
  expect(first.candidates).toHaveLength(n - 1);
  const sorted = [...first.candidates].sort();
  expect(first.candidates).toEqual(sorted);
  expect(await buildManifest({ runId, iteration: 3 })).toEqual(first);
});
