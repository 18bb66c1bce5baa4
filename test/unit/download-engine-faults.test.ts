import axios from 'axios';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { fetchBytes } from '../../activities/download/fetch';
import { fetchPolicy } from '../../activities/download/policy';
import { ImageRejected, normaliseImage } from '../../activities/store/normalise';
import { parseRunConfig, type RunConfig } from '../../lib/config';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { FAULT_KINDS, faultUrl, startEngine, type RunningEngine } from '../../engine/server';
import { EXPECTED, FAULT_DOWNLOAD, FAULT_OPTIONS } from '../fault-outcomes';

// Every way the local engine can misbehave, through the whole per-URL path of the download stage
// (fetch with the run's options, then the header checks, filters and normalisation).

let dir: string;
let engine: RunningEngine;
let config: RunConfig;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ie-download-faults-'));
  const manifestPath = await buildSampleCorpus(dir, { tinyClasses: ['n02099601'], perClass: 1 });
  engine = await startEngine({
    manifestPath,
    assetDir: path.join(dir, 'assets'),
    faults: FAULT_OPTIONS,
  });
  // Make the huge image once now (it takes seconds), so that the timed fetches below don't race it.
  await axios.get(faultUrl(engine.url, 'huge_image', 'tiny/n02099601_0'), {
    responseType: 'arraybuffer',
    timeout: 120_000,
  });
  // The engine is the run's local search engine, so its host:port is allowed; nothing else on loopback is.
  config = parseRunConfig({
    target: '/unused',
    search: { baseUrl: engine.url },
    download: FAULT_DOWNLOAD,
  });
}, 60_000);

afterAll(async () => {
  await engine?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function outcome(url: string): Promise<{ reason: string; jpeg?: Buffer }> {
  const fetched = await fetchBytes(url, fetchPolicy(config).local);
  if (!fetched.ok) return { reason: fetched.reason };
  try {
    const { jpeg } = await normaliseImage(fetched.bytes, config.download, config.download);
    return { reason: 'ok', jpeg };
  } catch (error) {
    if (error instanceof ImageRejected) return { reason: error.reason };
    throw error;
  }
}

test('each engine fault ends in the expected outcome; the odd images come out as plain RGB JPEG', async () => {
  const key = 'tiny/n02099601_0';
  const results = await Promise.all(
    FAULT_KINDS.map(async (kind) => [kind, await outcome(faultUrl(engine.url, kind, key))] as const),
  );
  expect(Object.fromEntries(results.map(([kind, r]) => [kind, r.reason]))).toEqual(EXPECTED);
  for (const [, r] of results) {
    if (!r.jpeg) continue;
    const meta = await sharp(r.jpeg).metadata();
    expect([meta.format, meta.space, meta.channels, meta.depth]).toEqual(['jpeg', 'srgb', 3, 'uchar']);
  }
});
