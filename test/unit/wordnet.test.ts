import { hypernymChain, loadNouns } from '../../lib/wordnet';

describe('WordNet noun reader', () => {
  it('parses all noun lemmas quickly and memoises the result', () => {
    const started = Date.now();
    const nouns = loadNouns();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(nouns.lemmas).toHaveLength(117_798);
    expect(new Set(nouns.lemmas).size).toBe(117_798);
    expect(nouns.lemmas.some((l) => l.includes('_'))).toBe(false);
    expect(nouns.synsets.size).toBe(82_115);
    expect(loadNouns()).toBe(nouns);
  });

  it('reads golden retriever with its gloss and a hypernym chain up to animal and entity', () => {
    const nouns = loadNouns();
    const golden = nouns.synsets.get('n02099601');
    expect(golden?.lemmas).toContain('golden retriever');
    expect(golden?.gloss).toBe('an English breed having a long silky golden coat');
    const ancestors = hypernymChain('n02099601').flatMap((s) => s.lemmas);
    expect(ancestors).toEqual(expect.arrayContaining(['retriever', 'dog', 'animal', 'entity']));
    expect(ancestors).not.toContain('golden retriever');
    const ids = nouns.hypernymChain('n02099601').map((s) => s.wnid);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps original case, drops usage examples and follows instance hypernyms', () => {
    const nouns = loadNouns();
    const dog = nouns.synsets.get('n02084071');
    expect(dog?.lemmas).toEqual(['dog', 'domestic dog', 'Canis familiaris']);
    expect(dog?.gloss).not.toContain('"');
    expect(dog?.gloss).toMatch(/occurs in many breeds$/);
    // Instance nouns (e.g. a person) reach their class through '@i'.
    const einstein = nouns.synsetsOfLemma('Einstein')[0];
    expect(einstein.hypernyms.length).toBeGreaterThan(0);
    expect(nouns.hypernymChain(einstein.wnid).flatMap((s) => s.lemmas)).toContain('person');
  });

  it('looks lemmas up case- and underscore-insensitively, most frequent sense first', () => {
    const nouns = loadNouns();
    expect(nouns.synsetsOfLemma('Golden_Retriever').map((s) => s.wnid)).toEqual(['n02099601']);
    expect(nouns.synsetsOfLemma('dog')[0].wnid).toBe('n02084071');
    expect(nouns.synsetsOfLemma('no such lemma xyz')).toEqual([]);
  });
});
