import { CombinedProvider, interleave } from '../../activities/search/combined';
import { FlickrProvider } from '../../activities/search/flickr';
import { QuotaExhaustedError, resetSearchHttpState } from '../../activities/search/http';
import { LocalEngineProvider } from '../../activities/search/local';
import { OpenverseProvider, clearOpenverseTokens } from '../../activities/search/openverse';
import { createProvider, searchProviderName } from '../../activities/search/providers';
import { WikimediaCommonsProvider } from '../../activities/search/wikimedia';
import { BraveImagesProvider } from '../../activities/search/brave';
import { ConfigError, parseRunConfig } from '../../lib/config';
import { fixture, startFakeApi, type FakeApi } from '../fixtures/search/server';
import { flickrRecordedPage, openverseRecordedPage } from '../fixtures/search/pages';

let openverse: FakeApi;
let flickr: FakeApi;

beforeAll(async () => {
  [openverse, flickr] = await Promise.all([startFakeApi(), startFakeApi()]);
});
afterAll(async () => {
  await Promise.all([openverse.close(), flickr.close()]);
});
beforeEach(() => {
  resetSearchHttpState();
  clearOpenverseTokens();
  openverse.handle(openverseRecordedPage);
  flickr.handle(flickrRecordedPage);
});

const makeOpenverse = (extra = {}) => new OpenverseProvider({ baseUrl: openverse.url, retryBaseMs: 10, ...extra });
const makeFlickr = () => new FlickrProvider({ baseUrl: flickr.url, apiKey: 'k3y-for-tests', retryBaseMs: 10 });

describe('CombinedProvider round-robin', () => {
  it('sends query i to provider i mod n', async () => {
    const combined = new CombinedProvider([makeOpenverse(), makeFlickr()], 'round-robin');
    expect(combined.name).toBe('round-robin:openverse+flickr');
    const results = [];
    for (const q of ['a', 'b', 'c', 'd', 'e']) results.push(await combined.search(q, 3));
    expect(openverse.requests.map((r) => r.query.get('q'))).toEqual(['a', 'c', 'e']);
    expect(flickr.requests.map((r) => r.query.get('text'))).toEqual(['b', 'd']);
    expect(results[0][0].url).toContain('52000000001');
    expect(results[1][1].pageUrl).toContain('flickr.com/photos/');
    // Each hit names the provider that returned it (only the local one's may reach the local engine).
    expect(results.map((hits) => [...new Set(hits.map((h) => h.source))])).toEqual([
      ['openverse'],
      ['flickr'],
      ['openverse'],
      ['flickr'],
      ['openverse'],
    ]);
  });

  it('passes a query on when a provider has no quota left, and fails only when all are spent', async () => {
    const combined = new CombinedProvider([makeOpenverse({ dailyQuota: 1 }), makeFlickr()], 'round-robin');
    await combined.search('a', 3); // openverse: its one request
    await combined.search('b', 3); // flickr
    const hits = await combined.search('c', 3); // openverse is spent: flickr answers
    expect(hits).toHaveLength(3);
    expect(openverse.requests).toHaveLength(1);
    expect(flickr.requests.map((r) => r.query.get('text'))).toEqual(['b', 'c']);

    flickr.handle(() => ({ status: 429, headers: { 'Retry-After': '7200' }, text: 'slow down' }));
    await expect(combined.search('d', 3)).rejects.toThrow(QuotaExhaustedError);
  });

  it('does not swallow other errors', async () => {
    flickr.handle(() => ({ json: fixture('flickr', 'error-invalid-key') }));
    const combined = new CombinedProvider([makeFlickr(), makeOpenverse()], 'round-robin');
    await expect(combined.search('a', 3)).rejects.toThrow(/Flickr error 100/);
    expect(openverse.requests).toHaveLength(0);
  });
});

describe('CombinedProvider split', () => {
  it('divides the limit, interleaves, deduplicates by URL and re-ranks', async () => {
    const combined = new CombinedProvider([makeOpenverse(), makeFlickr()], 'split');
    expect(combined.name).toBe('split:openverse+flickr');
    const hits = await combined.search('golden retriever', 7);
    expect(openverse.requests.map((r) => r.query.get('page_size'))).toEqual(['4']);
    expect(flickr.requests.map((r) => r.query.get('per_page'))).toEqual(['3']);
    // Openverse's first image is also Flickr's first (the same Flickr photo): it appears once.
    const ov = fixture<{ results: { url: string }[] }>('openverse', 'images').results.map((r) => r.url);
    expect(hits.map((h) => h.url)).toEqual([
      ov[0],
      ov[1],
      'https://live.staticflickr.com/65535/53000000001_ab1cd1ef10_c.jpg',
      ov[2],
      'https://live.staticflickr.com/65535/53000000002_ab2cd2ef20_b.jpg',
      ov[3],
    ]);
    expect(hits.map((h) => h.rank)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(hits.map((h) => h.source)).toEqual(['openverse', 'openverse', 'flickr', 'openverse', 'flickr', 'openverse']);
  });

  it('keeps the other providers’ results when one has no quota, fails on other errors', async () => {
    openverse.handle(() => ({ status: 429, headers: { 'Retry-After': '86400' }, text: 'throttled' }));
    const combined = new CombinedProvider([makeOpenverse(), makeFlickr()], 'split');
    expect((await combined.search('dog', 6)).map((h) => h.url)).toHaveLength(3);

    openverse.handle(() => ({ status: 400, json: { detail: 'Invalid page.' } }));
    resetSearchHttpState();
    const fresh = new CombinedProvider([makeOpenverse(), makeFlickr()], 'split');
    await expect(fresh.search('dog', 6)).rejects.toThrow(/openverse GET .* HTTP 400: Invalid page\./);
  });

  it('interleave stops at the limit', () => {
    const hit = (url: string, rank: number) => ({ url, rank });
    expect(interleave([[hit('a', 0), hit('b', 1)], [hit('c', 0)], []], 2)).toEqual([hit('a', 0), hit('c', 1)]);
  });
});

describe('createProvider from the run config and the worker environment', () => {
  const env = {
    IE_ENGINE_URL: 'http://127.0.0.1:8600',
    IE_OPENVERSE_CLIENT_ID: 'id',
    IE_OPENVERSE_CLIENT_SECRET: 'secret-value',
    IE_FLICKR_API_KEY: 'flickr-key',
    IE_BRAVE_TOKEN: 'brave-token',
    IE_WIKIMEDIA_USER_AGENT: 'IE/0.1 (ops@example.org)',
  };

  it('keeps local as the default and the old keys working', () => {
    const config = parseRunConfig({ target: '/t' });
    expect(config.search).toMatchObject({ provider: 'local', combine: 'round-robin' });
    expect(createProvider(config, env)).toBeInstanceOf(LocalEngineProvider);
    expect(searchProviderName(config)).toBe('local');
    const old = parseRunConfig({ target: '/t', search: { provider: 'local', baseUrl: 'http://engine:1' } });
    expect(createProvider(old, env).name).toBe('local');
  });

  it('builds each web provider with its secrets from the environment', () => {
    const make = (provider: string) => createProvider(parseRunConfig({ target: '/t', search: { provider } }), env);
    expect(make('openverse')).toBeInstanceOf(OpenverseProvider);
    expect(make('wikimedia')).toBeInstanceOf(WikimediaCommonsProvider);
    expect(make('flickr')).toBeInstanceOf(FlickrProvider);
    expect(make('brave')).toBeInstanceOf(BraveImagesProvider);
    expect(() => createProvider(parseRunConfig({ target: '/t', search: { provider: 'flickr' } }), {})).toThrow(
      /IE_FLICKR_API_KEY/,
    );
    expect(() => createProvider(parseRunConfig({ target: '/t', search: { provider: 'brave' } }), {})).toThrow(
      /IE_BRAVE_TOKEN/,
    );
    expect(() => createProvider(parseRunConfig({ target: '/t', search: { provider: 'wikimedia' } }), {})).toThrow(
      /IE_WIKIMEDIA_USER_AGENT/,
    );
    // Openverse works anonymously.
    expect(createProvider(parseRunConfig({ target: '/t', search: { provider: 'openverse' } }), {}).name).toBe(
      'openverse',
    );
  });

  it('combines several providers with per-provider options', async () => {
    const config = parseRunConfig({
      target: '/t',
      search: {
        providers: ['openverse', 'flickr'],
        combine: 'split',
        openverse: { baseUrl: openverse.url, requestsPerSecond: 50, dailyQuota: 1000 },
        flickr: { baseUrl: flickr.url, maxRetries: 0 },
      },
    });
    const provider = createProvider(config, { IE_FLICKR_API_KEY: 'k' });
    expect(provider.name).toBe('split:openverse+flickr');
    expect(searchProviderName(config)).toBe('split:openverse+flickr');
    // 2 + 2, of which one image is on both.
    expect(await provider.search('dog', 4)).toHaveLength(3);
    expect(openverse.requests).toHaveLength(1);
    expect(flickr.requests).toHaveLength(1);
  });

  it('rejects secrets and unknown keys in the run config, and contradictory providers', () => {
    expect(() => parseRunConfig({ target: '/t', search: { provider: 'flickr', flickr: { apiKey: 'x' } } })).toThrow(
      /unknown key 'search\.flickr\.apiKey'/,
    );
    expect(() => parseRunConfig({ target: '/t', search: { provider: 'google' } })).toThrow(ConfigError);
    expect(() => parseRunConfig({ target: '/t', search: { provider: 'brave', providers: ['openverse'] } })).toThrow(
      /search\.provider must be one of search\.providers/,
    );
    expect(() => parseRunConfig({ target: '/t', search: { providers: ['flickr', 'flickr'] } })).toThrow(/listed once/);
  });
});
