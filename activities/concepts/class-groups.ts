/**
 * Names grouped by what they are, for the distribution's points. Two kinds of WordNet names come in classes
 * of hundreds whose members the GP can hardly tell apart:
 *
 * - **Named individuals** (`concepts.instances`): 13,421 of the 117,798 noun lemmas name only individuals
 *   (synsets whose hypernym pointers are '@i': Lake Ladoga, the Ganges, Mount Everest), in 835 classes
 *   (770 writers, 746 cities, 352 rivers). Their taxonomy features share the whole ancestry of their class
 *   and differ in one leaf.
 * - **Taxonomic groups** (`concepts.taxa`): 10,761 name only taxa (synsets under "taxonomic group":
 *   "family Hirundinidae", "genus Canis", "Felidae"), in 90 classes (747 bird genera, 687 mammal genera, 586
 *   animal orders). Their text embeddings are those of "family" or "genus" with a Latin word the word vectors
 *   rarely know, and their taxonomy features those of their class.
 *
 * Evidence for one member thus raises its whole class, and a class of hundreds of names outnumbers every
 * kind of thing next to it: the distribution's top fills with "X river" or "family X" and its draws with
 * one kind of picture. Counted as one point of the distribution ('byClass'), each name's probability is
 * divided by its class's size, as for names whose embeddings coincide. Measured in docs/benchmarks.md.
 *
 * Cost: one pass over the vocabulary's lemmas (a WordNet lookup each, and a memoised walk up the hypernyms
 * for taxa), once per vocabulary and setting.
 */
import { loadNouns, type WordNetNouns } from '../../lib/wordnet';
import { yieldEvery } from '../../lib/yield';
import type { RunConfig } from '../../lib/config';
import { embeddingGroups, groupsByKey, type EmbeddingGroups } from './distribution';

/** WordNet's "taxonomic group, taxonomic category, taxon": every taxon lies under it. */
export const TAXONOMIC_GROUP = 'n07992450';

/** Which kinds of names share one point per class (`concepts.instances`, `concepts.taxa`). */
export type ClassGrouping = Pick<RunConfig['concepts'], 'instances' | 'taxa'>;

/**
 * The points the distribution shares its mass over (`conceptDistribution`'s `groups`): concepts on one
 * embedding, and the names of one class for each kind of name set to 'byClass'. `names` are the concepts of
 * the embedding rows, in order.
 */
export async function distributionGroups(
  rows: Float32Array,
  dim: number,
  names: readonly string[],
  grouping: ClassGrouping,
): Promise<EmbeddingGroups> {
  const groups = await embeddingGroups(rows, dim);
  const instances = grouping.instances === 'byClass';
  const taxa = grouping.taxa === 'byClass';
  if (!instances && !taxa) return groups;
  return mergeClasses(groups, await conceptClasses(names, loadNouns(), { instances, taxa }));
}

/**
 * For each name, the class (wnid) it belongs to when every sense of it is of a kind asked for (a named
 * individual, a taxon), else null: "Chihuahua" (a dog, a city and a state) and "family" (kin, and a taxon)
 * stay kinds of things. The class is the first hypernym of its most frequent sense. A name that is no
 * WordNet noun has no class.
 */
export async function conceptClasses(
  names: readonly string[],
  nouns: WordNetNouns,
  kinds: { instances: boolean; taxa: boolean },
): Promise<(string | null)[]> {
  const taxon = taxonTest(nouns);
  const out: (string | null)[] = [];
  for (let i = 0; i < names.length; i++) {
    // A lookup each: a fraction of a second over the whole vocabulary, so the heartbeat pump gets turns.
    await yieldEvery(i, 8192);
    const synsets = nouns.synsetsOfLemma(names[i]);
    const classed =
      synsets.length > 0 &&
      synsets.every((s) => s.hypernyms.length > 0) &&
      ((kinds.instances && synsets.every((s) => s.instance)) ||
        (kinds.taxa && synsets.every((s) => !s.instance && s.hypernyms.some(taxon))));
    out.push(classed ? synsets[0].hypernyms[0] : null);
  }
  return out;
}

/** Whether a synset is "taxonomic group" or lies under it, memoised over the hypernym graph. */
function taxonTest(nouns: WordNetNouns): (wnid: string) => boolean {
  const memo = new Map<string, boolean>();
  const test = (wnid: string): boolean => {
    let known = memo.get(wnid);
    if (known === undefined) {
      // Set before the walk, so a cycle in a damaged WordNet ends instead of recursing forever.
      memo.set(wnid, false);
      known = wnid === TAXONOMIC_GROUP || (nouns.synsets.get(wnid)?.hypernyms ?? []).some(test);
      memo.set(wnid, known);
    }
    return known;
  };
  return test;
}

/**
 * `groups` with the names of each class merged into one point: its multiplicity is the class's size (plus
 * any names already sharing an embedding with its members) and its representative its first name.
 */
export function mergeClasses(groups: EmbeddingGroups, classes: readonly (string | null)[]): Promise<EmbeddingGroups> {
  const n = groups.point.length;
  if (classes.length !== n) throw new RangeError(`${n} concepts but ${classes.length} classes`);
  return groupsByKey(n, (i) => (classes[i] === null ? `p${groups.point[i]}` : `c${classes[i]}`));
}
