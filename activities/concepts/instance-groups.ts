/**
 * Named individuals grouped by what they are. Of WordNet's 117,798 noun lemmas, 13,421 name only individuals
 * (synsets whose hypernym pointers are '@i': Lake Ladoga, the Ganges, Mount Everest), in 835 classes of up to
 * several hundred (770 writers, 746 cities, 352 rivers). To the GP they are near twins: their taxonomy
 * features share the whole ancestry of their class and differ in one leaf. Evidence for one instance thus
 * raises its whole class, and a class of hundreds of names outnumbers every kind of thing next to it: the
 * distribution's top fills with "X river" and its draws with one kind of picture. Counted as one point of
 * the distribution (`concepts.instances` 'byClass'), each name's probability is divided by its class's size,
 * as for names whose embeddings coincide. That moves a name less than the calibrated τ separates the
 * best-predicted names from the rest, and in benchmarks it did not raise explore's precision
 * (docs/benchmarks.md), so every name is its own point by default.
 *
 * Cost: one pass over the vocabulary's lemmas (a WordNet lookup each), once per vocabulary.
 */
import { loadNouns, type WordNetNouns } from '../../lib/wordnet';
import { yieldEvery } from '../../lib/yield';
import type { RunConfig } from '../../lib/config';
import { embeddingGroups, groupsByKey, type EmbeddingGroups } from './distribution';

/**
 * The points the distribution shares its mass over (`conceptDistribution`'s `groups`): concepts on one
 * embedding, and with `concepts.instances` 'byClass' the names of one instance class. `names` are the
 * concepts of the embedding rows, in order.
 */
export async function distributionGroups(
  rows: Float32Array,
  dim: number,
  names: readonly string[],
  instances: RunConfig['concepts']['instances'],
): Promise<EmbeddingGroups> {
  const groups = await embeddingGroups(rows, dim);
  if (instances === 'each') return groups;
  return mergeInstanceClasses(groups, await instanceClasses(names, loadNouns()));
}

/**
 * For each name, the class (wnid) it is an instance of when every sense of it is a named individual, else
 * null: "Chihuahua" (a dog, a city, a state) stays a kind of thing. The class is that of its most frequent
 * sense. A name that is no WordNet noun is no instance.
 */
export async function instanceClasses(names: readonly string[], nouns: WordNetNouns): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let i = 0; i < names.length; i++) {
    // A lookup each: about 0.15 s over the whole vocabulary, so the heartbeat pump gets turns.
    await yieldEvery(i, 8192);
    const synsets = nouns.synsetsOfLemma(names[i]);
    const named = synsets.length > 0 && synsets.every((s) => s.instance && s.hypernyms.length > 0);
    out.push(named ? synsets[0].hypernyms[0] : null);
  }
  return out;
}

/**
 * `groups` with the names of each instance class merged into one point: its multiplicity is the class's
 * size (plus any names already sharing an embedding with its members) and its representative its first name.
 */
export function mergeInstanceClasses(
  groups: EmbeddingGroups,
  classes: readonly (string | null)[],
): Promise<EmbeddingGroups> {
  const n = groups.point.length;
  if (classes.length !== n) throw new RangeError(`${n} concepts but ${classes.length} instance classes`);
  return groupsByKey(n, (i) => (classes[i] === null ? `p${groups.point[i]}` : `c${classes[i]}`));
}
