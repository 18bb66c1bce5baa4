import pLimit from 'p-limit';
import type { RunConfig } from '../../lib/config';
import { db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { seededRandom } from '../concepts/prng';
import { wordnetGloss } from '../concepts/vocabulary';
import { chatCompletion, descriptorMessages, LLM_API_KEY_ENV, LlmError, parseDescriptors } from './llm';
import { wordnetDescriptors } from './wordnet';

export interface ConceptRef {
  id: number;
  name: string;
}

/** Where a concept's descriptors came from; 'wordnet-fallback': the LLM failed for it (see DescriptorFallback). */
export type DescriptorSource = 'wordnet' | 'llm' | 'wordnet-fallback';

export interface ConceptDescriptors {
  descriptors: string[];
  source: DescriptorSource;
}

export interface DescriptorRequest {
  runId: string;
  iteration: number;
  concepts: ConceptRef[];
  config: Pick<RunConfig, 'descriptors' | 'llm'>;
  log: Logger;
  signal?: AbortSignal;
  /** Defaults to the worker's IE_LLM_API_KEY. */
  apiKey?: string;
  /** Called as each concept is settled (e.g. an activity heartbeat). */
  onProgress?: () => void;
}

/**
 * Descriptors of each concept for the run's `descriptors` setting. LLM descriptors are cached per
 * (concept, 'llm', model), so a concept is asked once across runs; a concept the endpoint fails for gets
 * its WordNet descriptors instead, and the failure is stored (DescriptorFallback) and logged.
 */
export async function descriptorsFor(request: DescriptorRequest): Promise<Map<number, ConceptDescriptors>> {
  const { config, concepts } = request;
  const out = new Map<number, ConceptDescriptors>();
  if (config.descriptors === 'none') return out;
  if (config.descriptors === 'wordnet') {
    for (const c of concepts) out.set(c.id, { descriptors: wordnetDescriptors(c.name), source: 'wordnet' });
    return out;
  }
  const { baseUrl, model } = config.llm;
  if (!baseUrl || !model) throw new Error("descriptors 'llm' needs llm.baseUrl and llm.model in the run config");
  const cached = await db().conceptDescriptor.findMany({
    where: { conceptId: { in: concepts.map((c) => c.id) }, source: 'llm', model },
  });
  for (const row of cached) out.set(row.conceptId, { descriptors: row.descriptors, source: 'llm' });
  const missing = concepts.filter((c) => !out.has(c.id));
  if (missing.length === 0) return out;

  const endpoint = {
    baseUrl,
    model,
    apiKey: request.apiKey ?? process.env[LLM_API_KEY_ENV] ?? undefined,
    temperature: config.llm.temperature,
    timeoutMs: config.llm.timeoutMs,
    maxRetries: config.llm.maxRetries,
  };
  const failures: { concept: ConceptRef; reason: string }[] = [];
  let refused: string | undefined; // the key was refused: asking again would only fail again
  const limit = pLimit(config.llm.concurrency);
  await Promise.all(
    missing.map((concept) =>
      limit(async () => {
        try {
          if (refused) throw new LlmError(refused);
          const answer = await chatCompletion(
            endpoint,
            descriptorMessages(concept.name, config.llm.maxDescriptors, wordnetGloss(concept.name)),
            request.signal,
          );
          const descriptors = parseDescriptors(answer, concept.name, config.llm.maxDescriptors);
          if (descriptors.length === 0) {
            throw new LlmError(`no usable descriptors in the answer: ${JSON.stringify(answer.slice(0, 200))}`);
          }
          await db().conceptDescriptor.upsert({
            where: { conceptId_source_model: { conceptId: concept.id, source: 'llm', model } },
            create: { conceptId: concept.id, source: 'llm', model, descriptors },
            update: { descriptors },
          });
          out.set(concept.id, { descriptors, source: 'llm' });
        } catch (error) {
          if (request.signal?.aborted) throw error;
          const reason = (error as Error).message;
          if (error instanceof LlmError && error.authFailed) refused = reason;
          failures.push({ concept, reason });
          out.set(concept.id, { descriptors: wordnetDescriptors(concept.name), source: 'wordnet-fallback' });
        } finally {
          request.onProgress?.();
        }
      }),
    ),
  );
  if (failures.length > 0) {
    await db().descriptorFallback.createMany({
      data: failures.map(({ concept, reason }) => ({
        runId: request.runId,
        iteration: request.iteration,
        conceptId: concept.id,
        model,
        reason: reason.slice(0, 2000),
      })),
      skipDuplicates: true,
    });
    request.log.warn(
      {
        fallbacks: failures.length,
        asked: missing.length,
        concepts: failures.slice(0, 5).map((f) => f.concept.name),
        reason: failures[0].reason,
      },
      'LLM descriptors unavailable for some concepts: their WordNet descriptors are used',
    );
  }
  request.log.info(
    { cached: cached.length, asked: missing.length, fallbacks: failures.length, model },
    'LLM descriptors ready',
  );
  return out;
}

/** One of the concept's descriptors, chosen by `seed` (so each iteration may show the concept differently). */
export function pickDescriptor(descriptors: string[], seed: string): string | null {
  if (descriptors.length === 0) return null;
  return descriptors[Math.floor(seededRandom(seed)() * descriptors.length)];
}

/** The search text: the descriptor as it is when it already names the concept, else the concept then it. */
export function queryText(concept: string, descriptor: string | null): string {
  if (!descriptor) return concept;
  return descriptor.toLowerCase().includes(concept.toLowerCase()) ? descriptor : `${concept} ${descriptor}`;
}
