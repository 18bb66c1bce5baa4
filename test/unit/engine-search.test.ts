import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadManifest, type ManifestRecord } from '../../engine/corpus';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { SearchIndex } from '../../engine/search-index';

const GOLDEN = 'n02099601';
const LABRADOR = 'n02099712';
const GOLDFISH = 'n01443537';
const GO_KART = 'n03444034';

describe('SearchIndex', () => {
  let dir: string;
  let records: ManifestRecord[];
  let index: SearchIndex;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-search-'));
    const manifest = await buildSampleCorpus(dir, {
      tinyClasses: [GOLDEN, LABRADOR, GOLDFISH, GO_KART],
      perClass: 12,
      photoClasses: [GOLDEN, GOLDFISH, 'n01440764'],
    });
    records = await loadManifest(manifest);
    index = SearchIndex.build(records);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const wnids = (page: { records: ManifestRecord[] }): (string | undefined)[] => page.records.map((r) => r.meta?.wnid);

  it('ranks the named class first', () => {
    const page = index.search('golden retriever', 0, 13);
    expect(wnids(page)).toEqual(Array(13).fill(GOLDEN));
    // 'retriever' also matches Labradors and 'golden' the goldfish gloss: OR semantics.
    expect(page.total).toBe(13 + 12 + 13);
    expect(wnids(index.search('Go-Kart', 0, 12))).toEqual(Array(12).fill(GO_KART));
  });

  it('returns nothing for nonsense, stop words only, or near misses (no fuzzy or prefix matching)', () => {
    for (const q of ['qwzxv blorf', 'the of', 'retriev', 'goldfishes']) {
      expect(index.search(q, 0, 10)).toEqual({ total: 0, records: [] });
    }
  });

  it('pages through one ranking with disjoint consecutive pages', () => {
    const all = index.search('dog', 0, 1000);
    expect(all.total).toBe(12 + 12 + 1);
    const pages = [0, 7, 14, 21].map((offset) => index.search('dog', offset, 7));
    const keys = pages.flatMap((p) => p.records.map((r) => r.key));
    expect(keys).toEqual(all.records.map((r) => r.key));
    expect(new Set(keys).size).toBe(keys.length);
    expect(pages.every((p) => p.total === all.total)).toBe(true);
  });

  it('breaks ties by query and key only: deterministic, independent of record order and meta', () => {
    const q = 'retriever';
    const keys = index.search(q, 0, 100).records.map((r) => r.key);
    const shuffled = [...records].reverse().map(({ meta: _meta, ...rest }) => rest);
    expect(
      SearchIndex.build(shuffled)
        .search(q, 0, 100)
        .records.map((r) => r.key),
    ).toEqual(keys);
    // Same query modulo case and spacing → same order.
    expect(index.search('  RETRIEVER ', 0, 100).records.map((r) => r.key)).toEqual(keys);
    // Tied images are spread differently for a different query.
    const goldenKeys = (q2: string): string[] =>
      index
        .search(q2, 0, 100)
        .records.filter((r) => r.meta?.wnid === GOLDEN)
        .map((r) => r.key);
    expect(goldenKeys('golden retriever')).not.toEqual(goldenKeys('golden retriever dog'));
  });
});
