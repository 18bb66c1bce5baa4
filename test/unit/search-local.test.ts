import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSampleCorpus } from '../../engine/sample-corpus';
import { startEngine, type RunningEngine, type SearchResponse } from '../../engine/server';
import { LocalEngineProvider } from '../../activities/search/local';
import { normaliseQuery } from '../../activities/search/provider';

describe('LocalEngineProvider against a started engine', () => {
  let dir: string;
  let engine: RunningEngine;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ie-provider-'));
    const manifestPath = await buildSampleCorpus(dir, {
      tinyClasses: ['n02099601', 'n02099712', 'n01443537'],
      perClass: 15,
      photoClasses: ['n02099601'],
    });
    engine = await startEngine({ manifestPath });
  });

  afterAll(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function engineTop(query: string, n: number): Promise<string[]> {
    const res = await fetch(`${engine.url}/search?q=${encodeURIComponent(query)}&per_page=${n}`);
    return ((await res.json()) as SearchResponse).results.map((r) => r.url);
  }

  it('pages through the engine until the limit, keeping the engine order and 0-based ranks', async () => {
    const provider = new LocalEngineProvider({ baseUrl: engine.url, perPage: 7 });
    const before = engine.stats().searchRequests;
    const hits = await provider.search('retriever', 20);
    expect(engine.stats().searchRequests - before).toBe(3);
    expect(hits.map((h) => h.rank)).toEqual([...Array(20).keys()]);
    expect(hits.map((h) => h.url)).toEqual(await engineTop('retriever', 20));
    expect(hits[0]).toMatchObject({ pageUrl: expect.stringContaining('/pages/'), width: expect.any(Number) });
    expect(provider.name).toBe('local');
  });

  it('stops when the engine has no more results', async () => {
    const provider = new LocalEngineProvider({ baseUrl: engine.url, perPage: 10 });
    const before = engine.stats().searchRequests;
    const hits = await provider.search('retriever', 100);
    expect(hits).toHaveLength(31);
    expect(new Set(hits.map((h) => h.url)).size).toBe(31);
    expect(engine.stats().searchRequests - before).toBe(4);
    expect(await provider.search('zzqx plorbit', 100)).toEqual([]);
    expect(await provider.search('retriever', 0)).toEqual([]);
  });

  it('fetches a 100-result query in one request by default', async () => {
    const provider = new LocalEngineProvider({ baseUrl: `${engine.url}/` });
    const before = engine.stats().searchRequests;
    expect(await provider.search('retriever', 100)).toHaveLength(31);
    expect(engine.stats().searchRequests - before).toBe(1);
  });

  it('fails with the URL and status on HTTP errors and unreachable engines', async () => {
    const provider = new LocalEngineProvider({ baseUrl: engine.url });
    await expect(provider.search('   ', 10)).rejects.toThrow(
      new RegExp(`${engine.url}/search .*HTTP 400: missing query parameter q`),
    );
    const dead = new LocalEngineProvider({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    await expect(dead.search('dog', 10)).rejects.toThrow(/http:\/\/127\.0\.0\.1:1\/search .*failed: ECONNREFUSED/);
  });

  it('honours an abort signal', async () => {
    const provider = new LocalEngineProvider({ baseUrl: engine.url });
    const controller = new AbortController();
    controller.abort();
    await expect(provider.search('dog', 10, controller.signal)).rejects.toThrow(/failed/);
  });
});

describe('normaliseQuery', () => {
  it('trims, lowercases and collapses whitespace', () => {
    expect(normaliseQuery('  Golden \t Retriever\n')).toBe('golden retriever');
  });
});
