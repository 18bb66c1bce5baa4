import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadManifest } from '../../engine/corpus';
import { encodeKey, startEngine, type SearchResponse } from '../../engine/server';
import { buildWebdatasetManifest, ensureWebdatasetManifest, listTar } from '../../engine/webdataset-corpus';

interface Sample {
  key: string;
  caption: string;
  jpeg: Buffer;
  width: number;
  height: number;
}

const CAPTIONS = [
  'a red fox sleeping in the snow',
  'an old lighthouse on a rocky coast',
  'a bowl of ramen with a soft boiled egg',
  'a vintage red bicycle against a brick wall',
  'a humpback whale breaching at sunset',
];

/** Writes img2dataset-style shards: `<key>.jpg`, `<key>.txt`, `<key>.json` per sample, in that order. */
function writeShard(dir: string, shard: string, samples: Sample[], format: 'ustar' | 'pax'): void {
  const staging = path.join(dir, `staging-${shard}`);
  mkdirSync(staging, { recursive: true });
  const members: string[] = [];
  for (const s of samples) {
    writeFileSync(path.join(staging, `${s.key}.jpg`), s.jpeg);
    writeFileSync(path.join(staging, `${s.key}.txt`), s.caption);
    const meta = {
      url: `https://example.org/${s.key}.jpg`,
      key: s.key,
      status: 'success',
      width: s.width,
      height: s.height,
    };
    writeFileSync(path.join(staging, `${s.key}.json`), JSON.stringify(meta));
    members.push(`${s.key}.jpg`, `${s.key}.txt`, `${s.key}.json`);
  }
  execFileSync('tar', [`--format=${format}`, '-cf', path.join(dir, 'wds', `${shard}.tar`), '-C', staging, ...members]);
}

describe('webdataset corpus', () => {
  let dir: string;
  let samples: Sample[];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-wds-'));
    mkdirSync(path.join(dir, 'wds'));
    samples = await Promise.all(
      CAPTIONS.map(async (caption, i) => {
        const width = 40 + 8 * i;
        const height = 30 + 4 * i;
        const jpeg = await sharp({
          create: { width, height, channels: 3, background: { r: 50 * i, g: 200 - 30 * i, b: 90 } },
        })
          .jpeg()
          .toBuffer();
        // The last key is long enough to need a pax extended header.
        const key = i === 4 ? `00001${'x'.repeat(120)}0004` : `0000${Math.floor(i / 3)}000${i}`;
        return { key, caption, jpeg, width, height };
      }),
    );
    writeShard(dir, '00000', samples.slice(0, 3), 'ustar');
    writeShard(dir, '00001', samples.slice(3), 'pax');
    writeFileSync(path.join(dir, 'wds', '00000_stats.json'), '{}');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists tar members with their data offsets, long pax names included', async () => {
    const members = await listTar(path.join(dir, 'wds', '00001.tar'));
    expect(members.map((m) => m.name)).toEqual(
      samples.slice(3).flatMap((s) => [`${s.key}.jpg`, `${s.key}.txt`, `${s.key}.json`]),
    );
    expect(members[0].offset % 512).toBe(0);
    expect(members[0].size).toBe(samples[3].jpeg.length);
  });

  it('indexes every sample, then serves its bytes and finds it by caption', async () => {
    const manifestPath = path.join(dir, 'out', 'manifest.jsonl');
    const build = await buildWebdatasetManifest(path.join(dir, 'wds'), manifestPath);
    expect(build).toMatchObject({ shards: 2, samples: 5, skipped: 0 });
    const records = await loadManifest(manifestPath);
    expect(records.map((r) => [r.key, r.caption, r.width, r.height])).toEqual(
      samples.map((s) => [s.key, s.caption, s.width, s.height]),
    );
    expect(records[0].file).toBe(path.join(dir, 'wds', '00000.tar'));
    expect(records[0].meta).toMatchObject({ url: `https://example.org/${samples[0].key}.jpg`, shard: '00000.tar' });

    const engine = await startEngine({ manifestPath });
    try {
      for (const s of samples) {
        const res = await fetch(`${engine.url}/images/${encodeKey(s.key)}.jpg`);
        expect(res.headers.get('content-type')).toBe('image/jpeg');
        expect(Buffer.from(await res.arrayBuffer()).equals(s.jpeg)).toBe(true);
      }
      const found = (await (await fetch(`${engine.url}/search?q=lighthouse+coast`)).json()) as SearchResponse;
      expect(found.total).toBe(1);
      expect(found.results[0].url).toBe(`${engine.url}/images/${encodeKey(samples[1].key)}.jpg`);
      expect([found.results[0].width, found.results[0].height]).toEqual([samples[1].width, samples[1].height]);
      const bytes = Buffer.from(await (await fetch(found.results[0].url)).arrayBuffer());
      expect(bytes.equals(samples[1].jpeg)).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it('builds into the state folder once, and again when a shard changes', async () => {
    const state = path.join(dir, 'state');
    const first = await ensureWebdatasetManifest(path.join(dir, 'wds'), state);
    const builtAt = statSync(first).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await ensureWebdatasetManifest(path.join(dir, 'wds'), state)).toBe(first);
    expect(statSync(first).mtimeMs).toBe(builtAt);

    writeShard(dir, '00001', samples.slice(3, 4), 'pax');
    await ensureWebdatasetManifest(path.join(dir, 'wds'), state);
    expect((await loadManifest(first)).map((r) => r.key)).toEqual(samples.slice(0, 4).map((s) => s.key));
  });

  it('refuses a folder with no uncompressed shards', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, '00000.tar.gz'), 'x');
    await expect(buildWebdatasetManifest(empty, path.join(dir, 'never.jsonl'))).rejects.toThrow(/no \.tar shards/);
  });
});
