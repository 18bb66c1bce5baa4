import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ManifestRecord } from '../../engine/corpus';
import { openSearchIndex } from '../../engine/index-cache';
import type { SearchIndex } from '../../engine/search-index';

const CAPTIONS = [
  'a golden retriever on the grass',
  'golden retriever puppy',
  'a labrador retriever swimming',
  'goldfish in a bowl',
  'a red go-kart on a track',
  'a tabby cat asleep',
];

function recordsOf(captions: string[]): ManifestRecord[] {
  return captions.map((caption, i) => ({ key: `img-${i}`, caption, file: '/corpus.tar', offset: i * 10, size: 10 }));
}

const keysFor = (index: SearchIndex, query: string): string[] => index.search(query, 0, 10).records.map((r) => r.key);
const QUERIES = ['golden retriever', 'retriever', 'go-kart', 'cat', 'nothing here'];

describe('openSearchIndex', () => {
  let dir: string;
  const manifest = '/corpora/a/manifest.jsonl'; // only its name matters: the copies go to `dir`

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-index-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('builds once, then loads the kept copy, which ranks exactly as the built index', async () => {
    const records = recordsOf(CAPTIONS);
    const first = await openSearchIndex(manifest, records, dir);
    expect(first.loaded).toBe(false);
    expect(readdirSync(dir)).toHaveLength(1);
    const second = await openSearchIndex(manifest, records, dir);
    expect(second.loaded).toBe(true);
    for (const q of QUERIES) expect(keysFor(second.index, q)).toEqual(keysFor(first.index, q));
    expect(keysFor(second.index, 'golden retriever').slice(0, 2).sort()).toEqual(['img-0', 'img-1']);
  });

  it('builds again when a caption changes, and the manifest keeps only its newest copy', async () => {
    await openSearchIndex(manifest, recordsOf(CAPTIONS), dir);
    const [old] = readdirSync(dir);
    const changed = CAPTIONS.map((c) => c.replace('tabby cat', 'siamese cat'));
    const rebuilt = await openSearchIndex(manifest, recordsOf(changed), dir);
    expect(rebuilt.loaded).toBe(false);
    expect(keysFor(rebuilt.index, 'siamese')).toEqual(['img-5']);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain(old);
    // Another manifest's copy is its own, and stays; so does a copy another process is still writing.
    await openSearchIndex('/corpora/a/other.jsonl', recordsOf(CAPTIONS), dir);
    const writing = `${readdirSync(dir).find((f) => f.startsWith('manifest.jsonl.'))}.4242.a1b2c3.tmp`;
    writeFileSync(path.join(dir, writing), '');
    await openSearchIndex(manifest, recordsOf(CAPTIONS), dir);
    expect(readdirSync(dir)).toHaveLength(3);
    expect(readdirSync(dir)).toContain(writing);
  });

  it('keeps the copy beside its manifest by default', async () => {
    const manifestPath = path.join(dir, 'corpus.jsonl');
    await openSearchIndex(manifestPath, recordsOf(CAPTIONS));
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^corpus\.jsonl\.search-index-[0-9a-f]{16}\.json$/)]);
    expect((await openSearchIndex(manifestPath, recordsOf(CAPTIONS))).loaded).toBe(true);
  });

  it('rebuilds a kept copy that cannot be read back, and replaces it', async () => {
    const records = recordsOf(CAPTIONS);
    await openSearchIndex(manifest, records, dir);
    const [file] = readdirSync(dir);
    writeFileSync(path.join(dir, file), '{"documentCount": 6, "truncated');
    const reopened = await openSearchIndex(manifest, records, dir);
    expect(reopened.loaded).toBe(false);
    expect(keysFor(reopened.index, 'goldfish')).toEqual(['img-3']);
    expect((await openSearchIndex(manifest, records, dir)).loaded).toBe(true);
  });
});
