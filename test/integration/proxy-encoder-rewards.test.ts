import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ManifestRecord } from '../../engine/corpus';
import { encoderRewards } from '../../bench/learning/encoder-rewards';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';
import { smallPetsTarget } from './harness';

jest.setTimeout(5 * 60_000);

let dir: string;
let checkpoint: string;
let records: ManifestRecord[];
let targetImages: string[];

// A real checkpoint of the CPU preset (random weights), and a corpus of 30 target images and 12 others
// packed into one file as the default corpus packs its tar.
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-proxy-rewards-'));
  const fixture = JSON.parse(
    execFileSync(
      pythonExecutable(),
      ['-m', 'ietrainer.score_fixture', '--out', dir, '--preset', 'cpu-small', '--images', '12', '--synthetic'],
      { cwd: path.join(PROJECT_ROOT, 'trainer'), encoding: 'utf8' },
    ),
  ) as { checkpoint: string; images: string[] };
  checkpoint = fixture.checkpoint;
  const target = smallPetsTarget();
  targetImages = fs
    .readdirSync(target)
    .filter((d) => !d.startsWith('.'))
    .flatMap((cls) => fs.readdirSync(path.join(target, cls)).map((f) => path.join(target, cls, f)));
  const pack = path.join(dir, 'corpus.bin');
  let offset = 0;
  records = [...targetImages, ...fixture.images].map((file, i) => {
    const bytes = fs.readFileSync(file);
    fs.appendFileSync(pack, bytes);
    const record = { key: `img/${i}`, caption: '', file: pack, offset, size: bytes.length };
    offset += bytes.length;
    return record;
  });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('with k = 1 and plain similarity, a corpus image that is a target image scores 1 and no other does', async () => {
  const rewards = await encoderRewards({
    checkpoint,
    records,
    targetImages,
    reward: 'similarity',
    k: 1,
    webSample: 8,
    dir: path.join(dir, 'cache'),
  });
  expect([...rewards.keys()]).toEqual(records.map((r) => r.key));
  const own = records.slice(0, targetImages.length).map((r) => rewards.get(r.key)!);
  const others = records.slice(targetImages.length).map((r) => rewards.get(r.key)!);
  for (const value of own) expect(value).toBeCloseTo(1, 4);
  for (const value of others) expect(value).toBeLessThan(0.9999);
});

test('web-relative rewards are the similarity less that to the web sample, from cached embeddings', async () => {
  const cache = path.join(dir, 'cache');
  const embedded = fs.readdirSync(cache).filter((f) => f.endsWith('.f32'));
  const plain = await encoderRewards({
    checkpoint,
    records,
    targetImages,
    reward: 'similarity',
    k: 3,
    webSample: 8,
    dir: cache,
  });
  const relative = await encoderRewards({
    checkpoint,
    records,
    targetImages,
    reward: 'web-relative',
    k: 3,
    webSample: 8,
    dir: cache,
  });
  // Nothing embedded again: the corpus and target embeddings of the first test were reused.
  expect(fs.readdirSync(cache).filter((f) => f.endsWith('.f32'))).toEqual(embedded);
  for (const r of records) {
    expect(Number.isFinite(relative.get(r.key))).toBe(true);
    // Pooled features after a ReLU are non-negative, so the similarity to the web is positive and the
    // relative reward lower.
    expect(relative.get(r.key)!).toBeLessThan(plain.get(r.key)!);
  }
});
