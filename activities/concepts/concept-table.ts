import { db } from '../../lib/db';
import { loadVocabulary } from './vocabulary';

/**
 * Fills the Concept table with the WordNet vocabulary once (id = row of the embedding matrix). Concepts
 * runs add come after these rows, so they are not counted here.
 */
export async function ensureConceptTable(): Promise<number> {
  const vocabulary = loadVocabulary();
  const count = await db().concept.count({ where: { id: { lt: vocabulary.length } } });
  if (count === vocabulary.length) return count;
  // Rows go as two arrays per statement, which PostgreSQL unnests: Prisma's createMany builds every row on
  // the event loop (17 s of CPU for the vocabulary, 0.5 s blocked per 5,000 rows); this costs a second.
  const chunk = 20_000;
  for (let start = 0; start < vocabulary.length; start += chunk) {
    const names = vocabulary.slice(start, start + chunk);
    const ids = names.map((_, i) => start + i);
    await db().$executeRaw`
      INSERT INTO "Concept" (id, name) SELECT * FROM unnest(${ids}::int[], ${names}::text[])
      ON CONFLICT DO NOTHING`;
  }
  return vocabulary.length;
}
