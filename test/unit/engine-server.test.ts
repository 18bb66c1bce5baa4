import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadManifest, type ManifestRecord } from '../../engine/corpus';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { publicBaseUrl, startEngine, type RunningEngine, type SearchResponse } from '../../engine/server';

const GOLDEN = 'n02099601';

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: (await res.json()) as T };
}

describe('engine HTTP API over a sample corpus', () => {
  let dir: string;
  let engine: RunningEngine;
  let byKey: Map<string, ManifestRecord>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-engine-'));
    const manifestPath = await buildSampleCorpus(dir, {
      tinyClasses: [GOLDEN, 'n01443537', 'n03444034'],
      perClass: 10,
      photoClasses: [GOLDEN, 'n01440764'],
    });
    byKey = new Map((await loadManifest(manifestPath)).map((r) => [r.key, r]));
    engine = await startEngine({ manifestPath });
  });

  afterAll(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keyOf = (url: string): string => decodeURIComponent(new URL(url).pathname.replace(/^\/images\/|\.jpg$/g, ''));

  it('answers a search with absolute image and page URLs, best match first', async () => {
    const { status, body } = await getJson<SearchResponse>(`${engine.url}/search?q=golden+retriever&per_page=5`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ query: 'golden retriever', page: 1, per_page: 5, total: 11 + 10 });
    expect(body.results).toHaveLength(5);
    for (const r of body.results) {
      expect(r.url.startsWith(`${engine.url}/images/`)).toBe(true);
      expect(byKey.get(keyOf(r.url))?.meta?.wnid).toBe(GOLDEN);
      expect(r.title).toBe('golden retriever');
      const page = await fetch(r.page_url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('long silky golden coat');
    }
  });

  it('pages with disjoint consecutive results and defaults to 20 per page', async () => {
    const all = (await getJson<SearchResponse>(`${engine.url}/search?q=golden&per_page=100`)).body;
    const p1 = (await getJson<SearchResponse>(`${engine.url}/search?q=golden&per_page=8&page=1`)).body;
    const p2 = (await getJson<SearchResponse>(`${engine.url}/search?q=golden&per_page=8&page=2`)).body;
    const p3 = (await getJson<SearchResponse>(`${engine.url}/search?q=golden&per_page=8&page=3`)).body;
    expect([...p1.results, ...p2.results, ...p3.results].map((r) => r.url)).toEqual(all.results.map((r) => r.url));
    expect(p3.results.length).toBe(all.total - 16);
    expect((await getJson<SearchResponse>(`${engine.url}/search?q=golden`)).body.per_page).toBe(20);
  });

  it('returns total 0 for a nonsense query', async () => {
    const { status, body } = await getJson<SearchResponse>(`${engine.url}/search?q=zzqx+plorbit`);
    expect(status).toBe(200);
    expect(body.total).toBe(0);
    expect(body.results).toEqual([]);
  });

  it.each(['', '?q=', '?q=dog&page=0', '?q=dog&per_page=101', '?q=dog&per_page=abc', '?q=dog&page=1.5'])(
    'rejects bad parameters %p with 400 JSON',
    async (qs) => {
      const { status, body } = await getJson<{ error: string }>(`${engine.url}/search${qs}`);
      expect(status).toBe(400);
      expect(typeof body.error).toBe('string');
    },
  );

  it('serves the exact corpus bytes as JPEG and counts each fetch', async () => {
    const before = engine.stats();
    for (const key of ['photo/n02099601', 'tiny/n01443537_3']) {
      const record = byKey.get(key)!;
      const res = await fetch(`${engine.url}/images/${key}.jpg`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      expect(Number(res.headers.get('content-length'))).toBe(record.size);
      const bytes = Buffer.from(await res.arrayBuffer());
      const expected = readFileSync(record.file).subarray(record.offset, record.offset + record.size);
      expect(bytes.equals(expected)).toBe(true);
      expect(bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
    }
    await fetch(`${engine.url}/images/photo/n02099601.jpg`);
    const { body } = await getJson<{ imageRequests: Record<string, number>; searchRequests: number }>(
      `${engine.url}/_stats`,
    );
    expect(body.imageRequests['photo/n02099601']).toBe((before.imageRequests['photo/n02099601'] ?? 0) + 2);
    expect(body.imageRequests['tiny/n01443537_3']).toBe(1);
    expect(body).toEqual(engine.stats());
    expect(body.searchRequests).toBeGreaterThan(0);
  });

  it('404s unknown images, pages and routes; reports health', async () => {
    for (const p of ['/images/tiny/nope.jpg', '/pages/nope', '/nothing']) {
      const { status, body } = await getJson<{ error: string }>(`${engine.url}${p}`);
      expect(status).toBe(404);
      expect(body.error).toBeTruthy();
    }
    expect(engine.stats().imageRequests['tiny/nope']).toBeUndefined();
    expect((await getJson(`${engine.url}/health`)).body).toEqual({ ok: true, images: byKey.size });
  });

  it('never reflects the Host header: links name its own base URL', async () => {
    const evil = 'evil.example"><script>alert(1)</script>';
    const search = await getWithHost(`${engine.url}/search?q=golden&per_page=3`, evil);
    const { results } = JSON.parse(search) as SearchResponse;
    expect(results).toHaveLength(3);
    for (const r of results) {
      expect(r.url.startsWith(`${engine.publicUrl}/images/`)).toBe(true);
      expect(r.page_url.startsWith(`${engine.publicUrl}/pages/`)).toBe(true);
    }
    const page = await getWithHost(results[0].page_url, evil);
    expect(page).toContain(`<img src="${engine.publicUrl}/images/`);
    expect(search + page).not.toMatch(/evil|<script/);
    expect(engine.publicUrl).toBe(engine.url);
  });
});

describe('engine with a public URL', () => {
  it('names the configured base in its links, whatever the Host; bound to every interface, loopback', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ie-engine-public-'));
    const manifestPath = await buildSampleCorpus(dir, { tinyClasses: [GOLDEN], perClass: 2 });
    const engine = await startEngine({ manifestPath, publicUrl: 'http://engine.lab:8600/ignored/path' });
    try {
      expect(engine.publicUrl).toBe('http://engine.lab:8600');
      const body = JSON.parse(await getWithHost(`${engine.url}/search?q=golden`, 'other.example')) as SearchResponse;
      expect(body.results.map((r) => new URL(r.url).origin)).toEqual([
        'http://engine.lab:8600',
        'http://engine.lab:8600',
      ]);
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(publicBaseUrl(undefined, '0.0.0.0', 8600)).toBe('http://127.0.0.1:8600');
    expect(publicBaseUrl(undefined, '::1', 8600)).toBe('http://[::1]:8600');
  });
});

/** GET with a Host header of our choosing (fetch does not let a caller set it). */
function getWithHost(url: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers: { Host: host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
  });
}

describe('engine over the full default corpus', () => {
  it('finds golden retrievers for "golden retriever" among 101k images', async () => {
    const engine = await startEngine();
    try {
      const { body } = await getJson<SearchResponse>(`${engine.url}/search?q=golden%20retriever&per_page=50`);
      expect(body.total).toBeGreaterThan(500);
      expect(body.results).toHaveLength(50);
      for (const r of body.results) expect(new URL(r.url).pathname).toMatch(/^\/images\/(tiny|photo)\/n02099601/);
      const health = await getJson<{ images: number }>(`${engine.url}/health`);
      expect(health.body.images).toBe(101_000);
    } finally {
      await engine.close();
    }
  });
});
