import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadManifest, type ManifestRecord } from '../../engine/corpus';
import { FAULT_KINDS, type FaultKind, faultForKey, faultUrl, parseFaultConfig } from '../../engine/faults';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { encodeKey, startEngine, type RunningEngine, type SearchResponse } from '../../engine/server';

const GOLDEN = 'n02099601';
const PHOTO = 'photo/n02099601';

/**
 * One raw GET that follows nothing and tolerates a connection cut mid-body, with a total deadline (an
 * idle-socket timeout never fires on a body that trickles a byte at a time).
 */
function rawGet(
  url: string,
  deadlineMs = 5000,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; error?: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const req = request(url, (res) => {
      let settled = false;
      const done = (error?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e.message));
      res.on('aborted', () => done('aborted'));
      res.on('close', () => done(res.complete ? undefined : 'closed'));
      clearTimeout(timer);
      timer = setTimeout(() => {
        done('timeout');
        req.destroy();
      }, deadlineMs);
    });
    timer = setTimeout(() => req.destroy(new Error('no response before the deadline')), deadlineMs);
    req.on('error', reject);
    req.end();
  });
}

describe('engine faults', () => {
  let dir: string;
  let engine: RunningEngine;
  let records: ManifestRecord[];
  const key = 'tiny/n01443537_3';
  const bytesOf = async (k: string): Promise<Buffer> =>
    Buffer.from(await (await fetch(`${engine.url}/images/${encodeKey(k)}.jpg?fault=none`)).arrayBuffer());

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-faults-'));
    const manifestPath = await buildSampleCorpus(dir, {
      tinyClasses: [GOLDEN, 'n01443537', 'n03444034'],
      perClass: 10,
      photoClasses: [GOLDEN],
    });
    records = await loadManifest(manifestPath);
    engine = await startEngine({
      manifestPath,
      assetDir: path.join(dir, 'assets'),
      faults: {
        seed: 7,
        rates: { not_found: 0.2, rate_limit: 0.2 },
        rateLimitFailures: 2,
        retryAfterS: 3,
        slowBodyIntervalMs: 200,
        oversizeBytes: 3 * 1024 * 1024,
        endlessCapBytes: 4 * 1024 * 1024,
        redirectHops: 3,
      },
    });
  }, 30_000);

  afterAll(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every fault kind', async () => {
    const body = (await (await fetch(`${engine.url}/faults`)).json()) as { kinds: string[] };
    expect(body.kinds).toEqual([...FAULT_KINDS]);
  });

  it('assigns random faults by a seeded hash of the key, as faultForKey predicts', async () => {
    const config = parseFaultConfig({ seed: 7, rates: { not_found: 0.2, rate_limit: 0.2 } });
    const tiny = records.filter((r) => r.key.startsWith('tiny/'));
    const predicted = tiny.map((r) => faultForKey(r.key, config));
    expect(predicted.filter((f) => f === 'not_found').length).toBeGreaterThan(0);
    expect(predicted.filter((f) => f === undefined).length).toBeGreaterThan(0);
    for (const [i, r] of tiny.entries()) {
      const res = await fetch(`${engine.url}/images/${encodeKey(r.key)}.jpg`);
      await res.arrayBuffer();
      const expected = predicted[i] === 'not_found' ? 404 : predicted[i] === 'rate_limit' ? 429 : 200;
      expect(res.status).toBe(expected);
    }
    // Another seed picks other keys.
    const other = tiny.map((r) => faultForKey(r.key, { ...config, seed: 8 }));
    expect(other).not.toEqual(predicted);
  });

  it('429 with Retry-After for the first N GETs, then the image; /_stats counts every try', async () => {
    const url = faultUrl(engine.url, 'rate_limit', key);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url);
      statuses.push(res.status);
      if (res.status === 429) expect(res.headers.get('retry-after')).toBe('3');
      else expect(Buffer.from(await res.arrayBuffer()).equals(await bytesOf(key))).toBe(true);
    }
    expect(statuses).toEqual([429, 429, 200]);
    const stats = (await (await fetch(`${engine.url}/_stats`)).json()) as {
      imageRequests: Record<string, number>;
      faultRequests: Record<string, number>;
    };
    expect(stats.imageRequests[key]).toBeGreaterThanOrEqual(3);
    expect(stats.faultRequests.rate_limit).toBeGreaterThanOrEqual(3);
  });

  it('503 for the first N GETs, then the image, via the query parameter', async () => {
    const url = `${engine.url}/images/${encodeKey(key)}.jpg?fault=unavailable`;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await rawGet(url)).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it.each<[FaultKind, number]>([
    ['not_found', 404],
    ['server_error', 500],
  ])('%s answers %d', async (kind, status) => {
    expect((await rawGet(faultUrl(engine.url, kind, key))).status).toBe(status);
  });

  it('rejects an unknown fault', async () => {
    expect((await rawGet(`${engine.url}/images/${encodeKey(key)}.jpg?fault=nope`)).status).toBe(400);
    expect((await rawGet(`${engine.url}/faults/nope/${encodeKey(key)}.jpg`)).status).toBe(404);
  });

  it('slow_body trickles past a client deadline', async () => {
    const started = Date.now();
    const res = await rawGet(faultUrl(engine.url, 'slow_body', key), 700);
    expect(res.status).toBe(200);
    expect(res.error).toBe('timeout');
    expect(Number(res.headers['content-length'])).toBe((await bytesOf(key)).length);
    expect(res.body.length).toBeLessThan(10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
  });

  it('truncated promises more bytes than it sends, then closes', async () => {
    const res = await rawGet(faultUrl(engine.url, 'truncated', PHOTO));
    const full = await bytesOf(PHOTO);
    expect(Number(res.headers['content-length'])).toBe(full.length);
    expect(res.error).toBeDefined();
    expect(res.body.length).toBeLessThan(full.length);
  });

  it('serves HTML as image/jpeg and a JPEG as text/html', async () => {
    const html = await rawGet(faultUrl(engine.url, 'html_as_jpeg', key));
    expect(html.headers['content-type']).toBe('image/jpeg');
    expect(html.body.toString('utf8')).toMatch(/^<!doctype html>/);
    const jpeg = await rawGet(faultUrl(engine.url, 'jpeg_as_html', key));
    expect(jpeg.headers['content-type']).toMatch(/^text\/html/);
    expect(jpeg.body.equals(await bytesOf(key))).toBe(true);
  });

  // Note: libjpeg only warns on bad scan data, so sharp's default failOn 'error' decodes it as grey noise.
  it('corrupt_jpeg keeps a readable header over undecodable data', async () => {
    const res = await rawGet(faultUrl(engine.url, 'corrupt_jpeg', PHOTO));
    const record = records.find((r) => r.key === PHOTO);
    expect(res.body.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
    const meta = await sharp(res.body).metadata();
    expect([meta.width, meta.height]).toEqual([record?.width, record?.height]);
    await expect(sharp(res.body, { failOn: 'warning' }).raw().toBuffer()).rejects.toThrow(/corrupt jpeg/i);
    expect(res.body.equals(await bytesOf(PHOTO))).toBe(false);
  });

  it('bomb_png and bomb_gif are small but claim 50000×50000 pixels', async () => {
    for (const kind of ['bomb_png', 'bomb_gif'] as const) {
      const res = await rawGet(faultUrl(engine.url, kind, key));
      expect(res.status).toBe(200);
      expect(res.body.length).toBeLessThan(1024 * 1024);
      if (kind === 'bomb_png') {
        expect([res.body.readUInt32BE(16), res.body.readUInt32BE(20)]).toEqual([50000, 50000]);
      } else {
        expect([res.body.readUInt16LE(6), res.body.readUInt16LE(8)]).toEqual([50000, 50000]);
      }
      const meta = await sharp(res.body, { limitInputPixels: false }).metadata();
      expect([meta.width, meta.height]).toEqual([50000, 50000]);
      // A decoder with a pixel limit refuses it before decoding.
      await expect(sharp(res.body, { limitInputPixels: 64e6 }).toBuffer()).rejects.toThrow(/pixel limit/i);
    }
  });

  it('huge_image is a valid 12000×12000 PNG', async () => {
    const res = await rawGet(faultUrl(engine.url, 'huge_image', key), 20_000);
    expect(res.headers['content-type']).toBe('image/png');
    const meta = await sharp(res.body, { limitInputPixels: false }).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 12000, 12000]);
  }, 20_000);

  it('oversize_body declares and sends more than maxBytes; endless_body has no length', async () => {
    const big = await rawGet(faultUrl(engine.url, 'oversize_body', key));
    expect(Number(big.headers['content-length'])).toBe(3 * 1024 * 1024);
    expect(big.body.length).toBe(3 * 1024 * 1024);
    const endless = await rawGet(faultUrl(engine.url, 'endless_body', key));
    expect(endless.headers['content-length']).toBeUndefined();
    expect(endless.body.length).toBe(4 * 1024 * 1024);
  });

  it.each<[FaultKind, string]>([
    ['redirect_loopback', 'http://127.0.0.1:9/latest/secret.jpg'],
    ['redirect_metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['redirect_private', 'http://10.0.0.1/admin.jpg'],
  ])('%s: a 302 chain whose last Location is %s (never contacted)', async (kind, target) => {
    let url = faultUrl(engine.url, kind, key);
    const chain: string[] = [];
    for (let hop = 0; hop < 3; hop++) {
      // Never follow the last hop: only the engine is contacted.
      expect(url.startsWith(engine.url)).toBe(true);
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status).toBe(302);
      url = res.headers.get('location') ?? '';
      chain.push(url);
    }
    expect(chain[2]).toBe(target);
  });

  it('a benign redirect chain ends at the image', async () => {
    const res = await fetch(faultUrl(engine.url, 'redirect', key));
    expect(res.redirected).toBe(true);
    expect(Buffer.from(await res.arrayBuffer()).equals(await bytesOf(key))).toBe(true);
  });

  it('serves animated GIF, CMYK JPEG, 16-bit PNG, palette PNG and EXIF-rotated variants', async () => {
    const original = await sharp(await bytesOf(PHOTO)).metadata();
    const meta = async (kind: FaultKind) => {
      const res = await rawGet(faultUrl(engine.url, kind, PHOTO));
      expect(res.status).toBe(200);
      return sharp(res.body).metadata();
    };
    const gif = await meta('animated_gif');
    expect([gif.format, gif.pages]).toEqual(['gif', 3]);
    const cmyk = await meta('cmyk_jpeg');
    expect([cmyk.format, cmyk.space]).toEqual(['jpeg', 'cmyk']);
    const png16 = await meta('png16');
    expect([png16.format, png16.depth]).toEqual(['png', 'ushort']);
    const palette = await meta('palette_png');
    expect([palette.format, palette.isPalette]).toEqual(['png', true]);
    const rotated = await meta('exif_rotated');
    expect([rotated.orientation, rotated.width, rotated.height]).toEqual([6, original.height, original.width]);
  }, 20_000);

  it('HEAD of a fault is not counted as a GET', async () => {
    const before = engine.stats().imageRequests['tiny/n03444034_0'] ?? 0;
    const res = await fetch(faultUrl(engine.url, 'server_error', 'tiny/n03444034_0'), { method: 'HEAD' });
    expect(res.status).toBe(500);
    expect(engine.stats().imageRequests['tiny/n03444034_0'] ?? 0).toBe(before);
  });
});

describe('engine result noise and latency', () => {
  let dir: string;
  let clean: RunningEngine;
  let noisy: RunningEngine;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-noise-'));
    const manifestPath = await buildSampleCorpus(dir, {
      tinyClasses: [GOLDEN, 'n01443537', 'n03444034', 'n01629819', 'n01641577'],
      perClass: 20,
    });
    clean = await startEngine({ manifestPath });
    noisy = await startEngine({ manifestPath, faults: { seed: 3, noise: 0.5, searchLatencyMs: 150 } });
  }, 30_000);

  afterAll(async () => {
    await clean.close();
    await noisy.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const search = async (engine: RunningEngine, q: string): Promise<string[]> => {
    const body = (await (await fetch(`${engine.url}/search?q=${q}&per_page=20`)).json()) as SearchResponse;
    return body.results.map((r) => new URL(r.url).pathname);
  };

  it('replaces about the noise fraction of results, the same way every time, after the search latency', async () => {
    const truth = await search(clean, 'golden+retriever');
    const started = Date.now();
    const first = await search(noisy, 'golden+retriever');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(await search(noisy, 'golden+retriever')).toEqual(first);
    const replaced = first.filter((u, i) => u !== truth[i]).length;
    expect(replaced).toBeGreaterThanOrEqual(4);
    expect(replaced).toBeLessThanOrEqual(16);
    expect(first.filter((u) => !truth.includes(u)).length).toBeGreaterThan(0);
  });
});
