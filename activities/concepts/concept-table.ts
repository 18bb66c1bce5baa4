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
  // Prisma builds and sends each insert on the event loop: 5,000 rows held it for half a second.
  const chunk = 1000;
  for (let start = 0; start < vocabulary.length; start += chunk) {
    await db().concept.createMany({
      data: vocabulary.slice(start, start + chunk).map((name, i) => ({ id: start + i, name })),
      skipDuplicates: true,
    });
  }
  return vocabulary.length;
}
