import { cachedSearch, dbSearchStore } from '../../activities/search/cache';
import { resetSearchHttpState } from '../../activities/search/http';
import { OpenverseProvider, clearOpenverseTokens } from '../../activities/search/openverse';
import { createProvider } from '../../activities/search/providers';
import { db } from '../../lib/db';
import { parseRunConfig } from '../../lib/config';
import { fixture, startFakeApi, type FakeApi } from '../fixtures/search/server';
import { flickrRecordedPage, openverseRecordedPage } from '../fixtures/search/pages';
import { useTestEnvironment } from './harness';

// The page cache in a real database, in front of the providers' real code over real HTTP, against local
// servers answering with recorded responses; every request the servers see is counted.

const RECORDED = fixture<{ results: { url: string }[] }>('openverse', 'images').results;

let openverse: FakeApi;
let flickr: FakeApi;

const pagesAsked = (api: FakeApi) => api.requests.map((r) => r.query.get('page'));

useTestEnvironment('search_cache');

beforeAll(async () => {
  [openverse, flickr] = await Promise.all([startFakeApi(), startFakeApi()]);
});

afterAll(async () => {
  await Promise.all([openverse?.close(), flickr?.close()]);
});

beforeEach(async () => {
  resetSearchHttpState();
  clearOpenverseTokens();
  openverse.requests.length = 0;
  flickr.requests.length = 0;
  openverse.handle(openverseRecordedPage);
  flickr.handle(flickrRecordedPage);
  await db().searchResponse.deleteMany({});
});

test('a repeated query costs nothing; a deeper one fetches only the pages it lacks; nothing past the last page', async () => {
  const provider = new OpenverseProvider({ baseUrl: openverse.url, pageSize: 2, requestsPerSecond: 1000 });

  const first = await cachedSearch(provider, 'dog', 3, dbSearchStore);
  expect(first.requests).toBe(2);
  expect(pagesAsked(openverse)).toEqual(['1', '2']);
  expect(first.hits.map((h) => h.url)).toEqual(RECORDED.slice(0, 3).map((r) => r.url));
  expect(first.hits.map((h) => h.rank)).toEqual([0, 1, 2]);

  const again = await cachedSearch(provider, 'dog', 3, dbSearchStore);
  expect(again.requests).toBe(0);
  expect(openverse.requests).toHaveLength(2);
  expect(again.hits).toEqual(first.hits.map((h) => ({ url: h.url, rank: h.rank, pageUrl: h.pageUrl, title: h.title })));

  // Shallower: still nothing.
  expect((await cachedSearch(provider, 'dog', 1, dbSearchStore)).requests).toBe(0);

  // Deeper: pages 3 and 4 only (the 4th is the last one the API has), then nothing more is asked.
  const deeper = await cachedSearch(provider, 'dog', 20, dbSearchStore);
  expect(deeper.requests).toBe(2);
  expect(pagesAsked(openverse)).toEqual(['1', '2', '3', '4']);
  expect(deeper.hits.map((h) => h.url)).toEqual(RECORDED.map((r) => r.url));
  expect((await cachedSearch(provider, 'dog', 50, dbSearchStore)).requests).toBe(0);
  expect(openverse.requests).toHaveLength(4);

  const rows = await db().searchResponse.findMany({
    where: { provider: 'openverse', query: 'dog' },
    orderBy: { page: 'asc' },
  });
  expect(rows.map((r) => [r.page, r.pageSize, r.total, r.last])).toEqual([
    [0, 2, 2, false],
    [1, 2, 2, false],
    [2, 2, 2, false],
    [3, 2, 2, true],
  ]);
  // The download stage reads results by rank from SearchResult: every rank is there once.
  const results = await db().searchResult.findMany({
    where: { provider: 'openverse', query: 'dog' },
    orderBy: { rank: 'asc' },
  });
  expect(results.map((r) => [r.page, r.rank])).toEqual(RECORDED.map((_, i) => [Math.floor(i / 2), i]));

  // Another query is cached on its own.
  expect((await cachedSearch(provider, 'cat', 2, dbSearchStore)).requests).toBe(1);
});

test('pages cached at another page size are fetched again at the new one', async () => {
  const small = new OpenverseProvider({ baseUrl: openverse.url, pageSize: 2, requestsPerSecond: 1000 });
  await cachedSearch(small, 'dog', 4, dbSearchStore);
  const big = new OpenverseProvider({ baseUrl: openverse.url, pageSize: 4, requestsPerSecond: 1000 });
  const result = await cachedSearch(big, 'dog', 4, dbSearchStore);
  expect(result.requests).toBe(1);
  expect(openverse.requests.at(-1)?.query.get('page_size')).toBe('4');
  expect(result.hits.map((h) => h.url)).toEqual(RECORDED.slice(0, 4).map((r) => r.url));
  const rows = await db().searchResponse.findMany({ where: { provider: 'openverse', query: 'dog' } });
  expect(rows.map((r) => [r.page, r.pageSize])).toEqual([[0, 4]]);
});

test('a response cached whole before pages existed serves what it covers and is replaced by pages beyond', async () => {
  await db().searchResponse.create({
    data: {
      provider: 'openverse',
      query: 'dog',
      total: 3,
      results: { create: RECORDED.slice(0, 3).map((r, rank) => ({ rank, url: r.url })) },
    },
  });
  const provider = new OpenverseProvider({ baseUrl: openverse.url, pageSize: 2, requestsPerSecond: 1000 });
  const covered = await cachedSearch(provider, 'dog', 3, dbSearchStore);
  expect(covered.requests).toBe(0);
  expect(covered.hits.map((h) => h.url)).toEqual(RECORDED.slice(0, 3).map((r) => r.url));
  expect(openverse.requests).toHaveLength(0);

  const deeper = await cachedSearch(provider, 'dog', 6, dbSearchStore);
  expect(deeper.requests).toBe(3);
  expect(deeper.hits.map((h) => h.url)).toEqual(RECORDED.slice(0, 6).map((r) => r.url));
  const rows = await db().searchResponse.findMany({
    where: { provider: 'openverse', query: 'dog' },
    orderBy: { page: 'asc' },
  });
  expect(rows.map((r) => [r.page, r.pageSize])).toEqual([
    [0, 2],
    [1, 2],
    [2, 2],
  ]);
});

test("combined search reuses each provider's cached pages; its merged list is cached under its own name", async () => {
  const config = parseRunConfig({
    target: '/tmp/unused',
    search: {
      providers: ['openverse', 'flickr'],
      combine: 'split',
      openverse: { baseUrl: openverse.url, requestsPerSecond: 1000 },
      flickr: { baseUrl: flickr.url, requestsPerSecond: 1000 },
    },
  });
  const combined = createProvider(config, { IE_FLICKR_API_KEY: 'key' }, dbSearchStore);
  expect(combined.name).toBe('split:openverse+flickr');

  const first = await cachedSearch(combined, 'dog', 6, dbSearchStore);
  expect(first.requests).toBe(1);
  // 3 + 3, of which one image is on both.
  expect(first.hits.map((h) => h.rank)).toEqual([0, 1, 2, 3, 4]);
  const [ov, fl] = [openverse.requests.length, flickr.requests.length];
  expect(ov).toBe(1);
  expect(fl).toBe(1);

  // Repeated: neither provider is asked.
  const again = await cachedSearch(combined, 'dog', 6, dbSearchStore);
  expect(again.requests).toBe(0);
  expect(again.hits.map((h) => h.url)).toEqual(first.hits.map((h) => h.url));
  expect([openverse.requests.length, flickr.requests.length]).toEqual([ov, fl]);
  // Which provider returned each hit survives the cache (the download stage allows the local engine by it).
  expect(new Set(first.hits.map((h) => h.source))).toEqual(new Set(['openverse', 'flickr']));
  expect(again.hits.map((h) => h.source)).toEqual(first.hits.map((h) => h.source));

  // Deeper: the merged list is rebuilt from the providers' cached pages (of 20 and 500 results, both the
  // last ones), so no provider is asked again; the first six stay first.
  const deeper = await cachedSearch(combined, 'dog', 12, dbSearchStore);
  expect(deeper.requests).toBe(1);
  expect([openverse.requests.length, flickr.requests.length]).toEqual([ov, fl]);
  expect(deeper.hits.slice(0, first.hits.length).map((h) => h.url)).toEqual(first.hits.map((h) => h.url));
  // The same lists as combined search without a cache.
  const uncached = createProvider(config, { IE_FLICKR_API_KEY: 'key' });
  expect(first.hits.map((h) => h.url)).toEqual((await uncached.search('dog', 6)).map((h) => h.url));
  expect(deeper.hits.map((h) => h.url)).toEqual((await uncached.search('dog', 12)).map((h) => h.url));

  const names = await db().searchResponse.findMany({ where: { query: 'dog' }, orderBy: { provider: 'asc' } });
  expect(names.map((r) => [r.provider, r.page, r.pageSize])).toEqual([
    ['flickr', 0, 500],
    ['openverse', 0, 20],
    ['split:openverse+flickr', 0, null],
  ]);
});
