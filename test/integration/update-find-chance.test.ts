import { prepareRun } from '../../activities/stages/run';
import { updateDistribution } from '../../activities/stages/update';
import { loadRunVocabulary } from '../../activities/concepts/run-concepts';
import { seededRandom } from '../../activities/concepts/prng';
import { float32FromBytes } from '../../lib/bytes';
import { db } from '../../lib/db';
import { uniqueId, useTestEnvironment } from './harness';

jest.setTimeout(300_000);

const env = useTestEnvironment('find-chance', { engine: {} });

/**
 * One run's next distribution after the same evidence: 300 concepts that found images, with rewards, and every
 * other terrier of WordNet queried without finding anything.
 */
async function distributionAfterEmptyTerriers(
  emptyConcepts: 'ignore' | 'discount',
): Promise<{ probs: Float32Array; heldOut: number[]; empty: number[] }> {
  const runId = uniqueId(`it-find-${emptyConcepts}`);
  await prepareRun({ runId, config: env.runConfig({ gp: { emptyConcepts } }) });
  const { names } = await loadRunVocabulary(runId);
  const terriers = names.flatMap((name, id) => (/ terrier$/.test(name) ? [id] : []));
  const empty = terriers.filter((_, i) => i % 2 === 0);
  const heldOut = terriers.filter((_, i) => i % 2 === 1);
  const random = seededRandom('find-chance');
  const found = new Set<number>();
  while (found.size < 300) {
    const id = Math.floor(random() * names.length);
    if (!terriers.includes(id)) found.add(id);
  }
  await db().iteration.create({ data: { runId, index: 0, status: 'running', stage: 'update' } });
  await db().conceptEvidence.createMany({
    data: [
      ...[...found].map((conceptId) => {
        const reward = random() - 0.5;
        return { runId, conceptId, sample: ['a'.repeat(64)], reward, standardised: reward, scoredIteration: 0 };
      }),
      ...empty.map((conceptId) => ({ runId, conceptId, sample: [], reward: -1, standardised: -1, scoredIteration: 0 })),
    ],
  });
  await updateDistribution({ runId, iteration: 0 });
  const row = await db().distribution.findUniqueOrThrow({ where: { runId_iteration: { runId, iteration: 0 } } });
  return { probs: float32FromBytes(row.probs), heldOut, empty };
}

test("gp.emptyConcepts 'discount' draws less from where queries found nothing; 'ignore' does not", async () => {
  const ignore = await distributionAfterEmptyTerriers('ignore');
  const discount = await distributionAfterEmptyTerriers('discount');
  expect(discount.heldOut.length).toBeGreaterThan(10);
  const mass = (probs: Float32Array, ids: number[]) => ids.reduce((sum, id) => sum + probs[id], 0);
  for (const { probs } of [ignore, discount]) expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  // The terriers not yet queried lie next to the ones that found nothing: their share falls by more than half,
  // while without the discount the empty terriers are no evidence at all.
  expect(mass(discount.probs, discount.heldOut)).toBeLessThan(0.5 * mass(ignore.probs, ignore.heldOut));
  expect(mass(discount.probs, discount.empty)).toBeLessThan(0.5 * mass(ignore.probs, ignore.empty));
});
