import { loadNouns } from '../../lib/wordnet';
import { embeddingGroups } from '../../activities/concepts/distribution';
import { distributionGroups, instanceClasses, mergeInstanceClasses } from '../../activities/concepts/instance-groups';

describe('instance classes', () => {
  const nouns = loadNouns();

  it('names the class of a name whose every sense is a named individual, and nothing for kinds of things', async () => {
    const [ganges, everest, ladoga, chihuahua, river, made] = await instanceClasses(
      ['ganges river', 'mount everest', 'lake ladoga', 'chihuahua', 'river', 'no such noun at all'],
      nouns,
    );
    expect(nouns.synsets.get(ganges!)?.lemmas).toContain('river');
    expect(nouns.synsets.get(everest!)?.lemmas).toContain('mountain peak');
    expect(nouns.synsets.get(ladoga!)?.lemmas).toContain('lake');
    // A dog breed that is also a city and a state stays a kind of thing.
    expect(chihuahua).toBeNull();
    expect(river).toBeNull();
    expect(made).toBeNull();
  });

  it('merges the names of one class into one point and leaves the other points as they were', async () => {
    // Five concepts, 2-d embeddings: 0 and 1 coincide; 2 and 3 are rivers; 4 is a river sharing 0's embedding.
    const vectors = Float32Array.from([1, 0, 1, 0, 0, 1, 0.5, 0.5, 1, 0]);
    const groups = await embeddingGroups(vectors, 2);
    expect(groups.representatives).toEqual([0, 2, 3]);
    const merged = await mergeInstanceClasses(groups, [null, null, 'n-river', 'n-river', 'n-river']);
    expect(merged.representatives).toEqual([0, 2]);
    expect([...merged.point]).toEqual([0, 0, 1, 1, 1]);
    expect([...merged.multiplicity]).toEqual([2, 2, 3, 3, 3]);
    expect(() => mergeInstanceClasses(groups, [null])).toThrow(/5 concepts but 1 instance classes/);
  });

  it("groups a run's concepts by embedding alone with 'each' and by instance class too with 'byClass'", async () => {
    // Three rivers and a lake on distinct embeddings, and a kind of thing.
    const names = ['ganges river', 'volga river', 'zaire river', 'lake ladoga', 'river'];
    const rows = new Float32Array(names.length * 2).map((_, i) => i);
    const each = await distributionGroups(rows, 2, names, 'each');
    expect([...each.multiplicity]).toEqual([1, 1, 1, 1, 1]);
    const byClass = await distributionGroups(rows, 2, names, 'byClass');
    expect([...byClass.multiplicity]).toEqual([3, 3, 3, 1, 1]);
    expect(byClass.representatives).toEqual([0, 3, 4]);
  });
});
