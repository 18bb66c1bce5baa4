/**
 * The replay buffer: images judged relevant in earlier iterations, trained on again (method.md, step 3).
 * It is a uniform sample of every image admitted so far, capped at `score.replayCap`: each image has a key
 * (a hash of run and image) and the buffer keeps the smallest keys, so what stays does not depend on the
 * order of admission, a retried iteration admits the same images, and the buffer (and so the training
 * manifest) stops growing once full. Admitting costs the iteration's candidates plus one index scan of
 * at most `replayCap` keys.
 */
import { createHash } from 'node:crypto';
import { db } from '../../lib/db';

/** The key that decides whether an image stays in the run's buffer (smallest keys stay). */
export function replayKey(runId: string, sha256: string): bigint {
  return BigInt(`0x${createHash('sha256').update(`${runId}:${sha256}`).digest('hex').slice(0, 15)}`);
}

/** Adds this iteration's admitted images, then drops those beyond the cap; returns the buffer's size. */
export async function admitToReplay(
  ref: { runId: string; iteration: number },
  admitted: { sha256: string; reward: number }[],
  cap: number,
): Promise<{ size: number; evicted: number }> {
  await db().replayMember.createMany({
    data: admitted.map((m) => ({
      runId: ref.runId,
      iteration: ref.iteration,
      sha256: m.sha256,
      reward: m.reward,
      key: replayKey(ref.runId, m.sha256),
    })),
    skipDuplicates: true,
  });
  const evicted = await db().$executeRaw`
    DELETE FROM "ReplayMember" WHERE "runId" = ${ref.runId} AND "key" > (
      SELECT "key" FROM "ReplayMember" WHERE "runId" = ${ref.runId} ORDER BY "key" OFFSET ${cap - 1} LIMIT 1)`;
  const size = await db().replayMember.count({ where: { runId: ref.runId } });
  return { size, evicted };
}
