import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { captionTitle } from '../../engine/captions';
import { loadManifest, type ManifestRecord } from '../../engine/corpus';
import { datasetsDir } from '../../lib/paths';

function slice(record: ManifestRecord): Buffer {
  return readFileSync(record.file).subarray(record.offset, record.offset + record.size);
}

describe('default corpus', () => {
  let state: string;
  let records: ManifestRecord[];
  let manifestPath: string;

  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), 'ie-corpus-'));
    manifestPath = await ensureDefaultCorpus({ stateDir: state });
    records = await loadManifest(manifestPath);
    // Building the corpus from the datasets takes ~15 s on a quiet 2-core host and four times that beside a
    // training run; the hook's allowance is headroom, not a measurement.
  }, 300_000);

  afterAll(() => rmSync(state, { recursive: true, force: true }));

  it('holds Tiny ImageNet train plus the full-size photos, never val or test', () => {
    expect(records).toHaveLength(101_000);
    expect(records.filter((r) => r.key.startsWith('tiny/'))).toHaveLength(100_000);
    expect(records.filter((r) => r.key.startsWith('photo/'))).toHaveLength(1000);
    expect(records.some((r) => /val|test/.test(r.key))).toBe(false);
    expect(new Set(records.map((r) => r.key)).size).toBe(records.length);
  });

  it('points at bytes identical to the dataset', () => {
    const tinyTar = gunzipSync(readFileSync(path.join(datasetsDir(), 'tiny-imagenet-200-32px', 'train.tar.gz')));
    const tiny = records.find((r) => r.key === 'tiny/n01443537_0');
    expect(tiny).toBeDefined();
    expect(slice(tiny!).equals(tinyTar.subarray(512, 512 + 881))).toBe(true);

    const photo = records.find((r) => r.key === 'photo/n01443537');
    const shard = readFileSync(path.join(datasetsDir(), 'imagenet-1k-samples', 'images-00.tar'));
    expect(slice(photo!).equals(shard.subarray(101_888, 101_888 + 36_973))).toBe(true);
    expect(photo).toMatchObject({ width: 376, height: 263, meta: { wnid: 'n01443537' } });
  });

  it('captions an image with its class names, gloss and broader names', () => {
    const golden = records.find((r) => r.key === 'photo/n02099601')!;
    expect(captionTitle(golden.caption)).toBe('golden retriever');
    expect(golden.caption).toContain('long silky golden coat');
    expect(golden.caption).toMatch(/\bdog\b/);
    expect(golden.caption).toMatch(/\banimal\b/);
    // The caption is text a page would show, not the label id.
    expect(golden.caption).not.toContain('n02099601');
  });

  it('is idempotent: a second call reuses the files', async () => {
    const tar = path.join(state, 'corpus', 'tiny-imagenet-train.tar');
    const before = [statSync(manifestPath).mtimeMs, statSync(tar).mtimeMs];
    expect(await ensureDefaultCorpus({ stateDir: state })).toBe(manifestPath);
    expect([statSync(manifestPath).mtimeMs, statSync(tar).mtimeMs]).toEqual(before);
  });
});

describe('loadManifest', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'ie-manifest-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves relative files against the manifest folder', async () => {
    const file = path.join(dir, 'm.jsonl');
    writeFileSync(file, JSON.stringify({ key: 'a', caption: 'cat', file: 'blob.bin', offset: 0, size: 3 }) + '\n\n');
    expect(await loadManifest(file)).toEqual([
      { key: 'a', caption: 'cat', file: path.join(dir, 'blob.bin'), offset: 0, size: 3 },
    ]);
  });

  it('rejects invalid records and duplicate keys with the line number', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    writeFileSync(bad, JSON.stringify({ key: 'a', caption: 'cat', file: 'x', offset: -1, size: 3 }) + '\n');
    await expect(loadManifest(bad)).rejects.toThrow(/bad\.jsonl:1: invalid manifest record/);
    const dup = path.join(dir, 'dup.jsonl');
    const line = JSON.stringify({ key: 'a', caption: 'cat', file: 'x', offset: 0, size: 3 }) + '\n';
    writeFileSync(dup, line + line);
    await expect(loadManifest(dup)).rejects.toThrow(/dup\.jsonl:2: duplicate key a/);
    const cut = path.join(dir, 'cut.jsonl');
    writeFileSync(cut, line + line.slice(0, 20) + '\n');
    await expect(loadManifest(cut)).rejects.toThrow(/cut\.jsonl:2: not valid JSON .*rebuild the corpus/);
  });
});
