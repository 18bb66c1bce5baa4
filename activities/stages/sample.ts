import { db } from '../../lib/db';
import { loadNouns } from '../../lib/wordnet';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { sampleUniform, sampleWithoutReplacement } from '../concepts/distribution';
import { loadVocabulary } from '../concepts/vocabulary';
import { float32FromBytes } from '../bytes';
import { normaliseQuery } from '../search/provider';
import { searchProviderName } from '../search/providers';
import type { StageRef } from '../../workflows/types';

/**
 * Draws this iteration's concepts: uniformly at iteration 0 (and always in `random` mode), otherwise
 * without replacement from the distribution the previous iteration's update stored. The draw is seeded
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
      ctx.log.info({ queries: existing.length }, 'queries already sampled');
      return { queries: existing.length, concepts: existing.slice(0, 10).map((q) => q.text) };
    }
    const vocabulary = loadVocabulary();
    const q = Math.min(run.config.queriesPerIteration, vocabulary.length);
    const seed = `${run.config.seed}:${ref.runId}:${ref.iteration}`;
    let ids: number[];
    if (ref.iteration === 0 || run.config.mode === 'random') {
      ids = sampleUniform(vocabulary.length, q, seed);
    } else {
      const previous = await db().distribution.findUnique({
        where: { runId_iteration: { runId: ref.runId, iteration: ref.iteration - 1 } },
      });
      if (!previous)
        throw new Error(`no concept distribution stored for iteration ${ref.iteration - 1} of ${ref.runId}`);
      ids = sampleWithoutReplacement(Float64Array.from(float32FromBytes(previous.probs)), q, seed);
    }
    const rows = ids.map((conceptId) => {
      const descriptor = run.config.descriptors === 'wordnet' ? wordnetDescriptor(vocabulary[conceptId]) : null;
      const text = descriptor ? `${vocabulary[conceptId]} ${descriptor}` : vocabulary[conceptId];
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
    ctx.log.info({ queries: rows.length, first: rows.slice(0, 5).map((r) => r.text) }, 'queries sampled');
    return { queries: rows.length, concepts: rows.slice(0, 10).map((r) => r.text) };
  });
}

/**
 * Offline descriptor: the concept's most common sense's direct hypernym ("golden retriever" → "dog"),
 * which adds visual context the way a short LLM descriptor would. The reward is credited to the concept.
 */
function wordnetDescriptor(concept: string): string | null {
  const [sense] = loadNouns().synsetsOfLemma(concept);
  const parent = sense?.hypernyms[0] ? loadNouns().synsets.get(sense.hypernyms[0]) : undefined;
  const lemma = parent?.lemmas[0];
  return lemma && lemma.toLowerCase() !== concept.toLowerCase() ? lemma : null;
}
