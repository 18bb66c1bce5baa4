import { loadNouns } from '../../lib/wordnet';
import { embeddingGroups } from '../../activities/concepts/distribution';
import { conceptClasses, distributionGroups, mergeClasses } from '../../activities/concepts/class-groups';

describe('concept classes', () => {
  const nouns = loadNouns();

  /** Checks the class each name gets: a lemma of its class's synset, or null for no class. */
  async function expectClasses(
    kinds: { instances: boolean; taxa: boolean },
    expected: Record<string, string | null>,
  ): Promise<void> {
    const names = Object.keys(expected);
    const classes = await conceptClasses(names, nouns, kinds);
    const got = names.map((name, i) => [name, classes[i] === null ? null : nouns.synsets.get(classes[i]!)?.lemmas]);
    expect(got).toEqual(
      names.map((name) => [name, expected[name] === null ? null : expect.arrayContaining([expected[name]])]),
    );
  }

  it('names the class of a name whose every sense is a named individual, and nothing for kinds of things', async () => {
    await expectClasses(
      { instances: true, taxa: false },
      {
        'ganges river': 'river',
        'mount everest': 'mountain peak',
        'lake ladoga': 'lake',
        // A dog breed that is also a city and a state stays a kind of thing.
        chihuahua: null,
        river: null,
        'no such noun at all': null,
        // Taxa were not asked for.
        'genus canis': null,
      },
    );
  });

  it('names the class of a name whose every sense is a taxon, and nothing for words that are also kinds of things', async () => {
    await expectClasses(
      { instances: false, taxa: true },
      {
        'genus canis': 'mammal genus',
        'family hirundinidae': 'bird family',
        felidae: 'mammal family',
        // "family" is kin as well as a taxonomic rank, "order" a command as well: kinds of things.
        family: null,
        order: null,
        dog: null,
        // Instances were not asked for.
        'ganges river': null,
      },
    );
  });

  it('counts 13,421 instance-only and 10,761 taxon-only names in the vocabulary, in 835 and 90 classes', async () => {
    const names = nouns.lemmas;
    const instances = await conceptClasses(names, nouns, { instances: true, taxa: false });
    const taxa = await conceptClasses(names, nouns, { instances: false, taxa: true });
    const both = await conceptClasses(names, nouns, { instances: true, taxa: true });
    const counted = (classes: (string | null)[]): [number, number] => {
      const named = classes.filter((c): c is string => c !== null);
      return [named.length, new Set(named).size];
    };
    expect(counted(instances)).toEqual([13_421, 835]);
    expect(counted(taxa)).toEqual([10_761, 90]);
    // No name is both.
    expect(counted(both)).toEqual([13_421 + 10_761, 835 + 90]);
  });

  it('merges the names of one class into one point and leaves the other points as they were', async () => {
    // Five concepts, 2-d embeddings: 0 and 1 coincide; 2 and 3 are rivers; 4 is a river sharing 0's embedding.
    const vectors = Float32Array.from([1, 0, 1, 0, 0, 1, 0.5, 0.5, 1, 0]);
    const groups = await embeddingGroups(vectors, 2);
    expect(groups.representatives).toEqual([0, 2, 3]);
    const merged = await mergeClasses(groups, [null, null, 'n-river', 'n-river', 'n-river']);
    expect(merged.representatives).toEqual([0, 2]);
    expect([...merged.point]).toEqual([0, 0, 1, 1, 1]);
    expect([...merged.multiplicity]).toEqual([2, 2, 3, 3, 3]);
    expect(() => mergeClasses(groups, [null])).toThrow(/5 concepts but 1 classes/);
  });

  it("groups a run's concepts by embedding alone with 'each' and by class too with 'byClass'", async () => {
    // Three rivers, a lake and two bird genera on distinct embeddings, and a kind of thing.
    const names = ['ganges river', 'volga river', 'zaire river', 'lake ladoga', 'genus corvus', 'genus pica', 'river'];
    const rows = new Float32Array(names.length * 2).map((_, i) => i);
    const each = await distributionGroups(rows, 2, names, { instances: 'each', taxa: 'each' });
    expect([...each.multiplicity]).toEqual([1, 1, 1, 1, 1, 1, 1]);
    const instances = await distributionGroups(rows, 2, names, { instances: 'byClass', taxa: 'each' });
    expect([...instances.multiplicity]).toEqual([3, 3, 3, 1, 1, 1, 1]);
    expect(instances.representatives).toEqual([0, 3, 4, 5, 6]);
    const taxa = await distributionGroups(rows, 2, names, { instances: 'each', taxa: 'byClass' });
    expect([...taxa.multiplicity]).toEqual([1, 1, 1, 1, 2, 2, 1]);
    expect(taxa.representatives).toEqual([0, 1, 2, 3, 4, 6]);
    const both = await distributionGroups(rows, 2, names, { instances: 'byClass', taxa: 'byClass' });
    expect([...both.multiplicity]).toEqual([3, 3, 3, 1, 2, 2, 1]);
    expect(both.representatives).toEqual([0, 3, 4, 6]);
  });
});
