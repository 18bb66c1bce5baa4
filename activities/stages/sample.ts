import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { sampleUniform, sampleWithoutReplacement } from '../concepts/distribution';
import { locateModelFolder } from '../concepts/onnx-encoder';
import { addRunConcepts, loadRunVocabulary, restrictToRun, type RunVocabulary } from '../concepts/run-concepts';
import { float32FromBytes } from '../../lib/bytes';
import { descriptorsFor, pickDescriptor, queryText } from '../descriptors/descriptors';
import { normaliseQuery } from '../search/provider';
import { searchProviderName } from '../search/providers';
import type { StageRef } from '../../lib/contract';

/**
 * Draws this iteration's concepts: the run's own concepts (class names, user additions) not queried yet
 * come first when `concepts.queryFirst`; the rest are drawn uniformly at iteration 0 (and always in
 * `random` mode), otherwise without replacement from the distribution the previous update stored. Each
 * query may carry a descriptor (WordNet or LLM); the reward is credited to the concept. The draw is seeded
 * by run and iteration, and stored queries are reused, so a retried stage picks the same concepts.
 */
export async function sampleQueries(ref: StageRef): Promise<{ queries: number; concepts: string[] }> {
  const run = await loadRun(ref.runId);
  await db().iteration.upsert({
    where: { runId_index: { runId: ref.runId, index: ref.iteration } },
    create: { runId: ref.runId, index: ref.iteration, status: 'running', stage: 'sample' },
    update: {},
  });
  return runStage('sample', ref, async (ctx) => {
    const existing = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
    if (existing.length > 0) {
      // The attempt that stored them may have died before counting them on the iteration.
      await db().iteration.update({
        where: { runId_index: { runId: ref.runId, index: ref.iteration } },
        data: { queries: existing.length },
      });
      ctx.log.info({ queries: existing.length }, 'queries already sampled');
      return { queries: existing.length, concepts: existing.slice(0, 10).map((q) => q.text) };
    }
    // A missing model folder fails here, not after training, when the update stage would first need it.
    if (run.config.textEncoder.kind === 'onnx') locateModelFolder(run.config.textEncoder.path ?? '');
    if (run.config.concepts.classNames.length > 0) {
      const added = await addRunConcepts({ runId: ref.runId, names: run.config.concepts.classNames, source: 'label' });
      if (added.added > 0) ctx.log.info(added, "the target's class names are concepts of the run");
    }
    const vocabulary = await loadRunVocabulary(ref.runId);
    const q = Math.min(run.config.queriesPerIteration, vocabulary.memberIds.length);
    const seed = `${run.config.seed}:${ref.runId}:${ref.iteration}`;
    const first = run.config.concepts.queryFirst ? (await unqueriedOwnConcepts(ref.runId, vocabulary)).slice(0, q) : [];
    let drawn: number[];
    if (ref.iteration === 0 || run.config.mode === 'random') {
      drawn = drawUniform(vocabulary.memberIds, q - first.length, new Set(first), seed);
    } else {
      const previous = await db().distribution.findUnique({
        where: { runId_iteration: { runId: ref.runId, iteration: ref.iteration - 1 } },
      });
      if (!previous)
        throw new Error(`no concept distribution stored for iteration ${ref.iteration - 1} of ${ref.runId}`);
      const probs = restrictToRun(float32FromBytes(previous.probs), vocabulary);
      for (const id of first) probs[id] = 0;
      drawn = sampleWithoutReplacement(probs, q - first.length, seed);
    }
    const ids = [...first, ...drawn];

    ctx.heartbeat({ descriptors: 'pending' });
    let described = 0;
    const descriptors = await descriptorsFor({
      runId: ref.runId,
      iteration: ref.iteration,
      concepts: ids.map((id) => ({ id, name: vocabulary.names[id] })),
      config: run.config,
      log: ctx.log,
      signal: ctx.signal,
      onProgress: () => ctx.heartbeat({ descriptors: ++described, of: ids.length }),
    });
    const rows = ids.map((conceptId) => {
      const concept = vocabulary.names[conceptId];
      const options = descriptors.get(conceptId)?.descriptors ?? [];
      const descriptor = pickDescriptor(options, `${seed}:${conceptId}`);
      const text = queryText(concept, descriptor);
      return {
        runId: ref.runId,
        iteration: ref.iteration,
        conceptId,
        descriptor,
        text,
        searchKey: normaliseQuery(text),
        provider: searchProviderName(run.config),
      };
    });
    await db().query.createMany({ data: rows, skipDuplicates: true });
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { queries: rows.length },
    });
    const fallbacks = [...descriptors.values()].filter((d) => d.source === 'wordnet-fallback').length;
    ctx.log.info(
      { queries: rows.length, own: first.length, fallbacks, first: rows.slice(0, 5).map((r) => r.text) },
      'queries sampled',
    );
    return { queries: rows.length, concepts: rows.slice(0, 10).map((r) => r.text) };
  });
}

/** The run's own concepts that no earlier iteration of the run has queried, in the order they were added. */
async function unqueriedOwnConcepts(runId: string, vocabulary: RunVocabulary): Promise<number[]> {
  if (vocabulary.own.length === 0) return [];
  const queried = await db().query.findMany({
    where: { runId, conceptId: { in: vocabulary.own.map((c) => c.id) } },
    select: { conceptId: true },
    distinct: ['conceptId'],
  });
  const done = new Set(queried.map((q) => q.conceptId));
  return vocabulary.own.map((c) => c.id).filter((id) => !done.has(id));
}

/** `count` distinct members drawn uniformly, none of them in `exclude`. */
function drawUniform(members: number[], count: number, exclude: Set<number>, seed: string): number[] {
  if (count <= 0) return [];
  const pool = exclude.size > 0 ? members.filter((id) => !exclude.has(id)) : members;
  return sampleUniform(pool.length, Math.min(count, pool.length), seed).map((i) => pool[i]);
}
