import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CorpusLabels,
  RelevanceError,
  corpusKeyOfUrl,
  loadCorpusClasses,
  matchTargetClasses,
  relevancePrecision,
} from '../../bench/learning/relevance';
import { datasetsDir } from '../../lib/paths';

const classes = loadCorpusClasses(path.join(datasetsDir(), 'classes.jsonl'));

describe('matchTargetClasses against the real classes.jsonl', () => {
  test('WordNet id folders, alone or followed by a name', () => {
    const m = matchTargetClasses(['n02085620', 'n02099601_golden_retriever', 'N02123045-tabby'], classes);
    expect(Object.fromEntries(m)).toEqual({
      n02085620: 'n02085620',
      n02099601_golden_retriever: 'n02099601',
      'N02123045-tabby': 'n02123045',
    });
  });

  test('class-name folders with spaces as underscores, case ignored', () => {
    const m = matchTargetClasses(['golden_retriever', 'Persian_cat', 'Yorkshire_terrier', 'school bus'], classes);
    expect(Object.fromEntries(m)).toEqual({
      golden_retriever: 'n02099601',
      Persian_cat: 'n02123394',
      Yorkshire_terrier: 'n02094433',
      'school bus': 'n04146614',
    });
  });

  test('both forms in one target (the pets layout and plain names)', () => {
    const m = matchTargetClasses(['n02085620_Chihuahua', 'tabby'], classes);
    expect([...m.values()]).toEqual(['n02085620', 'n02123045']);
  });

  test('an unknown wnid prefix falls back to the name after it', () => {
    expect(matchTargetClasses(['n99999999_golden_retriever'], classes).get('n99999999_golden_retriever')).toBe(
      'n02099601',
    );
  });

  test('a folder naming no class is an error that says how to name it', () => {
    expect(() => matchTargetClasses(['golden_retriever', 'my_holiday_photos'], classes)).toThrow(RelevanceError);
    expect(() => matchTargetClasses(['my_holiday_photos'], classes)).toThrow(
      /'my_holiday_photos' matches no corpus class.*WordNet id/,
    );
  });

  test('a name two classes share is an error asking for the wnid', () => {
    // ImageNet has two classes named "crane" (the bird and the machine).
    expect(() => matchTargetClasses(['crane'], classes)).toThrow(
      /names several corpus classes \(n02012849, n03126707\)/,
    );
  });
});

describe('corpus labels of downloaded URLs', () => {
  test('image and fault routes of the local engine map back to corpus keys', () => {
    expect(corpusKeyOfUrl('http://127.0.0.1:8600/images/tiny/n02085620_12.jpg')).toBe('tiny/n02085620_12');
    expect(corpusKeyOfUrl('http://localhost:1234/faults/slow/photo/n02085620.jpg')).toBe('photo/n02085620');
    expect(corpusKeyOfUrl('http://h/images/a%20b/c%2Fd.jpg')).toBe('a b/c/d');
    expect(corpusKeyOfUrl('https://example.org/cat.jpg')).toBeNull();
    expect(corpusKeyOfUrl('not a url')).toBeNull();
  });

  test('precision counts an image relevant when any URL that delivered it is of a target class', () => {
    const labels = CorpusLabels.fromEntries([
      ['tiny/a_1', 'n1'],
      ['tiny/b_1', 'n2'],
      ['tiny/c_1', 'n3'],
    ]);
    const r = relevancePrecision(
      [
        { sha256: 's1', urls: ['http://e/images/tiny/a_1.jpg'] },
        { sha256: 's2', urls: ['http://e/images/tiny/b_1.jpg', 'http://e/images/tiny/c_1.jpg'] },
        { sha256: 's3', urls: ['http://e/images/tiny/c_1.jpg'] },
        { sha256: 's4', urls: ['https://elsewhere.org/x.jpg'] },
      ],
      labels,
      new Set(['n1', 'n2']),
    );
    expect(r).toEqual({ downloaded: 4, relevant: 2, unlabelled: 1, precision: 0.5 });
    expect(relevancePrecision([], labels, new Set(['n1'])).precision).toBeNull();
  });

  test('labels load from a manifest, and a manifest without any is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-relevance-'));
    const good = path.join(dir, 'good.jsonl');
    const record = (key: string, wnid?: string) =>
      JSON.stringify({ key, caption: 'x', file: 'x.tar', offset: 0, size: 1, ...(wnid ? { meta: { wnid } } : {}) });
    fs.writeFileSync(good, [record('k1', 'n02085620'), record('k2', 'n01443537'), record('k3')].join('\n'));
    const labels = await CorpusLabels.load(good);
    expect(labels.size).toBe(2);
    expect(labels.classOfUrl('http://e/images/k1.jpg')).toBe('n02085620');
    expect(labels.classOfUrl('http://e/images/k3.jpg')).toBeNull();
    expect(labels.countClasses(['n02085620', 'n00000000'])).toBe(1);
    const bare = path.join(dir, 'bare.jsonl');
    fs.writeFileSync(bare, record('k3'));
    await expect(CorpusLabels.load(bare)).rejects.toThrow(/no class labels \(meta.wnid\)/);
  });
});
