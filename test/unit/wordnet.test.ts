import { hypernymChain, loadNouns, nearConcepts, synsetsWithin } from '../../lib/wordnet';

describe('WordNet noun reader', () => {
  it('parses all noun lemmas and memoises the result', () => {
    const nouns = loadNouns();
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

describe('nearness in the hypernym graph', () => {
  it('walks up and down: golden retriever is within 4 edges of dog and Labrador, not of canine or toy box', () => {
    const nouns = loadNouns();
    const golden = ['n02099601'];
    expect([...synsetsWithin(nouns, golden, 0)]).toEqual(['n02099601']);
    const one = synsetsWithin(nouns, golden, 1);
    expect(one).toEqual(new Set(['n02099601', ...nouns.synsets.get('n02099601')!.hypernyms]));
    const near = nearConcepts(nouns, golden);
    // golden retriever → retriever → sporting dog → hunting dog → dog: 4 edges; Labrador is a sibling.
    for (const c of ['golden retriever', 'retriever', 'Labrador retriever', 'cocker spaniel', 'dog'])
      expect(near(c)).toBe(true);
    // canine is 5 edges up; a toy box and a golden pea only share words.
    for (const c of ['canine', 'toy box', 'golden pea', 'no such lemma xyz']) expect(near(c)).toBe(false);
    expect(nearConcepts(nouns, golden, 5)('canine')).toBe(true);
  });

  it('any sense of a concept counts, and any of several targets', () => {
    const nouns = loadNouns();
    // "dog" has seven senses; its animal sense is near the Chihuahua (Chihuahua → toy dog → dog).
    expect(nearConcepts(nouns, ['n02085620'])('dog')).toBe(true);
    expect(nearConcepts(nouns, ['n02085620', 'n02123045'])('domestic cat')).toBe(true);
  });

  it('reads how often each sense was tagged, in the order of synsetsOfLemma', () => {
    const nouns = loadNouns();
    const counts = nouns.senseCounts('dog');
    expect(counts).toHaveLength(nouns.synsetsOfLemma('dog').length);
    expect(counts[0]).toBeGreaterThan(10);
    expect(counts.slice(1).every((c) => c < counts[0])).toBe(true);
    expect(nouns.senseCounts('Golden_Retriever')).toEqual([0]);
    expect(nouns.senseCounts('no such lemma xyz')).toEqual([]);
    expect(nouns.hyponyms('n02099601')).toEqual([]);
    expect(nouns.hyponyms(nouns.synsetsOfLemma('retriever')[0].wnid)).toContain('n02099601');
  });
});
