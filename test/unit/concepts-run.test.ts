import { cleanConceptNames, restrictToRun, type RunVocabulary } from '../../activities/concepts/run-concepts';

/** 4 WordNet concepts (0-3), then 6 and 7 added by other runs, 4 and 5 by this one. */
function vocabulary(): RunVocabulary {
  const names = ['dog', 'cat', 'fox', 'owl', 'Abyssinian', 'Bengal', 'Robot dog', 'Sphynx'];
  const member = Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0]);
  return {
    names,
    wordnetCount: 4,
    own: [
      { id: 4, name: 'Abyssinian', source: 'label' },
      { id: 5, name: 'Bengal', source: 'user' },
    ],
    member,
    memberIds: [0, 1, 2, 3, 4, 5],
  };
}

describe('cleanConceptNames', () => {
  test('normalises spaces and underscores, drops case-insensitive repeats keeping the first spelling', () => {
    expect(
      cleanConceptNames(['golden_retriever', '  Golden   retriever ', 'Maine Coon', 'maine coon', 'tabby']),
    ).toEqual(['golden retriever', 'Maine Coon', 'tabby']);
  });

  test('names the bad entry', () => {
    expect(() => cleanConceptNames(['ok', ' _ '])).toThrow(/concept name 1 \(" _ "\) is empty/);
    expect(() => cleanConceptNames(['x'.repeat(201)])).toThrow(/concept name 0 is 201 characters long/);
    expect(() => cleanConceptNames([42 as unknown as string])).toThrow(/concept name 0 is not a string/);
  });
});

describe('restrictToRun', () => {
  test("zeroes other runs' concepts and renormalises", () => {
    const probs = [0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1];
    const out = restrictToRun(probs, vocabulary());
    expect(out[6]).toBe(0);
    expect(out[7]).toBe(0);
    expect(out[4]).toBeCloseTo(0.25, 12);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  test('members added after the distribution get the mean probability of the covered members', () => {
    const out = restrictToRun([0.4, 0.3, 0.2, 0.1], vocabulary());
    // covered mean 0.25; the two new members get 0.25 each before normalising (total 1.5)
    expect(out[4]).toBeCloseTo(0.25 / 1.5, 12);
    expect(out[5]).toBeCloseTo(0.25 / 1.5, 12);
    expect(out[0]).toBeCloseTo(0.4 / 1.5, 12);
    expect(out[6]).toBe(0);
  });

  test('refuses a distribution that is not one', () => {
    expect(() => restrictToRun([0, 0, 0, 0, 0, 0, 1, 1], vocabulary())).toThrow(/no probability to any concept/);
    expect(() => restrictToRun([NaN, 0, 0, 0], vocabulary())).toThrow(/probability of concept 0 is NaN/);
  });
});
