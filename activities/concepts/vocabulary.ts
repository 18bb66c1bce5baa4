import { loadNouns } from '../../lib/wordnet';

/**
 * The concept vocabulary: every unique WordNet 3.0 noun lemma (underscores → spaces).
 * A concept's id is its index in this array, so the order must stay fixed (index.noun file order).
 */
export function loadVocabulary(dir?: string): string[] {
  return loadNouns(dir).lemmas;
}

/** Definition of a lemma's most frequent noun sense, or undefined when WordNet has none. */
export function wordnetGloss(lemma: string, dir?: string): string | undefined {
  const gloss = loadNouns(dir).synsetsOfLemma(lemma)[0]?.gloss;
  return gloss ? gloss : undefined;
}
