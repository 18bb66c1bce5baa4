import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { fetchBytes } from '../../activities/download/fetch';
import { fetchOptions } from '../../activities/stages/download';
import { ImageRejected, normaliseImage } from '../../activities/store/normalise';
import { parseRunConfig, type RunConfig } from '../../lib/config';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { FAULT_KINDS, type FaultKind, faultUrl, startEngine, type RunningEngine } from '../../engine/server';

// Every way the local engine can misbehave, through the whole per-URL path of the download stage
// (fetch with the run's options, then the header checks, filters and normalisation).
const EXPECTED: Record<FaultKind, string> = {
  not_found: 'http_404',
  server_error: 'http_500',
  unavailable: 'ok', // 503 twice, retried
  rate_limit: 'ok', // 429 with Retry-After, waited for
  slow_body: 'timeout',
  truncated: 'network_error:ECONNRESET',
  html_as_jpeg: 'not_an_image',
  jpeg_as_html: 'ok', // the bytes decide, not Content-Type
  corrupt_jpeg: 'decode_error',
  huge_image: 'too_many_pixels',
  oversize_body: 'too_large',
  endless_body: 'too_large',
  bomb_png: 'too_many_pixels',
  bomb_gif: 'too_many_pixels',
  redirect: 'ok',
  redirect_loopback: 'blocked_address',
  redirect_metadata: 'blocked_address',
  redirect_private: 'blocked_address',
  animated_gif: 'ok',
  cmyk_jpeg: 'ok',
  png16: 'ok',
  palette_png: 'ok',
  exif_rotated: 'ok',
};

let dir: string;
let engine: RunningEngine;
let config: RunConfig;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ie-download-faults-'));
  const manifestPath = await buildSampleCorpus(dir, { tinyClasses: ['n02099601'], perClass: 1 });
  engine = await startEngine({
    manifestPath,
    assetDir: path.join(dir, 'assets'),
    faults: {
      transientFailures: 2,
      rateLimitFailures: 1,
      retryAfterS: 1,
      slowBodyIntervalMs: 200,
      oversizeBytes: 3 * 1024 * 1024,
      endlessCapBytes: 8 * 1024 * 1024,
    },
  });
  // The engine is the run's local search engine, so its host:port is allowed; nothing else on loopback is.
  config = parseRunConfig({
    target: '/unused',
    search: { baseUrl: engine.url },
    download: { timeoutMs: 1500, maxBytes: 2 * 1024 * 1024, retries: 2, backoffMs: 20 },
  });
}, 60_000);

afterAll(async () => {
  await engine?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function outcome(url: string): Promise<{ reason: string; jpeg?: Buffer }> {
  const fetched = await fetchBytes(url, fetchOptions(config));
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
