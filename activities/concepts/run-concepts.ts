import { db } from '../../lib/db';
import { logger } from '../../lib/logger';
import { ensureConceptTable } from './concept-table';
import { loadVocabulary } from './vocabulary';

/** Who gave a run a concept: the target's class names, or a user adding concepts to a run. */
export type RunConceptSource = 'label' | 'user';

export interface AddRunConceptsInput {
  runId: string;
  names: string[];
  source: RunConceptSource;
}

export interface AddRunConceptsResult {
  /** Names that became concepts of the run with this call. */
  added: number;
  /** Names that already were concepts of the run (a repeated call adds nothing). */
  existing: number;
}

/** Longest concept name accepted; class names are words, not paragraphs. */
export const MAX_CONCEPT_NAME_LENGTH = 200;

/** Serialises id allocation between workers adding concepts at once (any constant works; this spells "IEcn"). */
const CONCEPT_ID_LOCK = 0x4945636e;

/** Trims, turns underscores into spaces (WordNet style) and collapses whitespace. */
export function normaliseConceptName(name: string): string {
  return name.replace(/_/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Normalised, deduplicated (case-insensitively, first spelling kept) names; a clear error for a bad one. */
export function cleanConceptNames(names: string[]): string[] {
  const out = new Map<string, string>();
  names.forEach((raw, i) => {
    if (typeof raw !== 'string') throw new Error(`concept name ${i} is not a string`);
    const name = normaliseConceptName(raw);
    if (!name) throw new Error(`concept name ${i} (${JSON.stringify(raw)}) is empty: give a word or short phrase`);
    if (name.length > MAX_CONCEPT_NAME_LENGTH) {
      throw new Error(
        `concept name ${i} is ${name.length} characters long; names are at most ${MAX_CONCEPT_NAME_LENGTH}`,
      );
    }
    const key = name.toLowerCase();
    if (!out.has(key)) out.set(key, name);
  });
  return [...out.values()];
}

/**
 * Makes `names` concepts of the run: a name that already is a concept (a WordNet lemma, or one another
 * run added) is reused — exact spelling first, then ignoring case — and any other becomes a new Concept
 * with the next free id after the WordNet rows. Idempotent: a repeated call adds nothing.
 * The new concepts' embeddings are appended by `ensureConceptFeatures` (run-embeddings.ts) when the GP needs them.
 */
export async function addRunConcepts(input: AddRunConceptsInput): Promise<AddRunConceptsResult> {
  const { runId, source } = input;
  if (source !== 'label' && source !== 'user') throw new Error(`source must be 'label' or 'user', got ${source}`);
  if (!Array.isArray(input.names)) throw new Error('names must be an array of concept names');
  const names = cleanConceptNames(input.names);
  const run = await db().run.findUnique({ where: { id: runId }, select: { id: true } });
  if (!run) throw new Error(`run ${runId} is not in the database: concepts can only be added to a prepared run`);
  await ensureConceptTable();

  const result = await db().$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CONCEPT_ID_LOCK})`;
    const exact = await tx.concept.findMany({ where: { name: { in: names } }, select: { id: true, name: true } });
    const idOf = new Map(exact.map((c) => [c.name, c.id]));
    const unmatched = names.filter((n) => !idOf.has(n));
    if (unmatched.length > 0) {
      const folded = await tx.$queryRaw<{ id: number; key: string }[]>`
        SELECT DISTINCT ON (lower(name)) id, lower(name) AS key FROM "Concept"
        WHERE lower(name) = ANY(${unmatched.map((n) => n.toLowerCase())}) ORDER BY lower(name), id`;
      const byKey = new Map(folded.map((c) => [c.key, c.id]));
      for (const name of unmatched) {
        const id = byKey.get(name.toLowerCase());
        if (id !== undefined) idOf.set(name, id);
      }
    }
    const fresh = names.filter((n) => !idOf.has(n));
    if (fresh.length > 0) {
      const max = await tx.concept.aggregate({ _max: { id: true } });
      const next = (max._max.id ?? -1) + 1;
      await tx.concept.createMany({ data: fresh.map((name, i) => ({ id: next + i, name, source })) });
      fresh.forEach((name, i) => idOf.set(name, next + i));
    }
    const ids = names.map((n) => idOf.get(n) as number);
    const before = await tx.runConcept.count({ where: { runId, conceptId: { in: ids } } });
    const created = await tx.runConcept.createMany({
      data: ids.map((conceptId) => ({ runId, conceptId, source })),
      skipDuplicates: true,
    });
    return { added: created.count, existing: before, newConcepts: fresh.length };
  });
  logger.info({ runId, source, names: names.length, ...result }, 'run concepts added');
  return { added: result.added, existing: result.existing };
}

/** A run's view of the concepts: every concept by id, and which of them the run explores. */
export interface RunVocabulary {
  /** Name of every concept by id (index = id): the WordNet nouns, then every concept runs added. */
  names: string[];
  /** Concepts 0 … wordnetCount-1 are the WordNet nouns, which every run explores. */
  wordnetCount: number;
  /** The run's own concepts (class names, user additions), in the order they were added. */
  own: { id: number; name: string; source: string }[];
  /** True for the concepts this run explores (WordNet + its own); others' added concepts are not. */
  member: Uint8Array;
  /** Ids of the concepts this run explores, ascending. */
  memberIds: number[];
}

/** The concepts a run explores; added concepts of other runs stay out of its sampling. */
export async function loadRunVocabulary(runId: string): Promise<RunVocabulary> {
  const wordnet = loadVocabulary();
  const extra = await db().concept.findMany({
    where: { id: { gte: wordnet.length } },
    orderBy: { id: 'asc' },
    select: { id: true, name: true },
  });
  extra.forEach((c, i) => {
    if (c.id !== wordnet.length + i) {
      throw new Error(`concept ids are not contiguous: expected ${wordnet.length + i}, found ${c.id} (${c.name})`);
    }
  });
  const names = [...wordnet, ...extra.map((c) => c.name)];
  const rows = await db().runConcept.findMany({
    where: { runId },
    orderBy: [{ addedAt: 'asc' }, { conceptId: 'asc' }],
  });
  const member = new Uint8Array(names.length);
  member.fill(1, 0, wordnet.length);
  const own = rows.map((r) => {
    if (r.conceptId >= names.length) throw new Error(`run ${runId} names concept ${r.conceptId}, which does not exist`);
    member[r.conceptId] = 1;
    return { id: r.conceptId, name: names[r.conceptId], source: r.source };
  });
  const memberIds: number[] = [];
  for (let id = 0; id < names.length; id++) if (member[id]) memberIds.push(id);
  return { names, wordnetCount: wordnet.length, own, member, memberIds };
}

/**
 * A distribution over every concept id with the run's non-members at zero, renormalised. Members the
 * distribution does not cover yet (added after it was computed) get the mean probability of the covered
 * members, so they can be drawn before the next update has seen them.
 */
export function restrictToRun(probs: ArrayLike<number>, vocabulary: RunVocabulary): Float64Array {
  const n = vocabulary.names.length;
  const out = new Float64Array(n);
  let covered = 0;
  let coveredSum = 0;
  for (let id = 0; id < Math.min(n, probs.length); id++) {
    if (!vocabulary.member[id]) continue;
    const p = probs[id];
    if (!(p >= 0)) throw new RangeError(`probability of concept ${id} is ${p}`);
    out[id] = p;
    covered++;
    coveredSum += p;
  }
  const fill = covered > 0 && coveredSum > 0 ? coveredSum / covered : 1;
  for (let id = probs.length; id < n; id++) if (vocabulary.member[id]) out[id] = fill;
  let sum = 0;
  for (let id = 0; id < n; id++) sum += out[id];
  if (!(sum > 0)) throw new RangeError('the distribution gives no probability to any concept of the run');
  for (let id = 0; id < n; id++) out[id] /= sum;
  return out;
}
