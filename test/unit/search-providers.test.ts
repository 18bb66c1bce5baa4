import { BraveImagesProvider } from '../../activities/search/brave';
import { FlickrProvider } from '../../activities/search/flickr';
import { QuotaExhaustedError, parseRetryAfter, resetSearchHttpState } from '../../activities/search/http';
import { OpenverseProvider, clearOpenverseTokens } from '../../activities/search/openverse';
import { WikimediaCommonsProvider } from '../../activities/search/wikimedia';
import { fixture, startFakeApi, type FakeApi, type SeenRequest } from '../fixtures/search/server';

// Each provider's real code, over real HTTP, against a local server answering with recorded responses.

const FAST = { retryBaseMs: 20 };

interface OpenverseImage {
  url: string;
}
interface OpenversePage {
  result_count: number;
  page_count: number;
  page_size: number;
  page: number;
  results: OpenverseImage[];
}

let api: FakeApi;

beforeAll(async () => {
  api = await startFakeApi();
});
afterAll(async () => {
  await api.close();
});
beforeEach(() => {
  resetSearchHttpState();
  clearOpenverseTokens();
});

/** Serves the recorded Openverse results page by page, as the API does (page depth 20). */
function openversePage(req: SeenRequest) {
  const all = fixture<OpenversePage>('openverse', 'images');
  const size = Number(req.query.get('page_size') ?? 20);
  const page = Number(req.query.get('page') ?? 1);
  const pageCount = Math.min(20, Math.ceil(all.results.length / size));
  return {
    json: {
      ...all,
      page_size: size,
      page,
      page_count: pageCount,
      results: all.results.slice((page - 1) * size, page * size),
    },
  };
}

describe('OpenverseProvider', () => {
  it('pages anonymously up to the limit and maps the fields', async () => {
    api.handle(openversePage);
    const provider = new OpenverseProvider({ baseUrl: api.url, pageSize: 3, ...FAST });
    const hits = await provider.search('golden retriever', 7);
    expect(provider.name).toBe('openverse');
    expect(api.requests.map((r) => [r.path, r.query.get('q'), r.query.get('page_size'), r.query.get('page')])).toEqual(
      [1, 2, 3].map((p) => ['/v1/images/', 'golden retriever', '3', String(p)]),
    );
    expect(api.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(hits.map((h) => h.rank)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const recorded = fixture<OpenversePage>('openverse', 'images').results;
    expect(hits.map((h) => h.url)).toEqual(recorded.slice(0, 7).map((r) => r.url));
    expect(hits[0]).toEqual({
      url: 'https://live.staticflickr.com/65535/52000000001_a1b2c3d4e5_b.jpg',
      pageUrl: 'https://www.flickr.com/photos/12345678@N00/52000000001',
      title: 'Golden retriever in the park',
      rank: 0,
      width: 1024,
      height: 768,
      license: 'CC BY-SA 2.0',
      creator: 'Jan Novak',
    });
    expect(hits[2].license).toBe('CC0 1.0');
    expect(hits[3].creator).toBeUndefined();
  });

  it('stops at the last page and caps anonymous pages at 20 results', async () => {
    api.handle(openversePage);
    const hits = await new OpenverseProvider({ baseUrl: api.url, pageSize: 500 }).search('dog', 100);
    expect(hits).toHaveLength(8);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0].query.get('page_size')).toBe('20');
  });

  it('fetches an OAuth2 token once, reuses it across searches and instances, and renews it on 401', async () => {
    const token = fixture<{ access_token: string }>('openverse', 'token');
    let issued = 0;
    let rejectNext = false;
    api.handle((req) => {
      if (req.path === '/v1/auth_tokens/token/') {
        issued++;
        return { json: { ...token, access_token: `${token.access_token}-${issued}` } };
      }
      if (rejectNext) {
        rejectNext = false;
        return { status: 401, json: fixture('openverse', 'unauthorized') };
      }
      return openversePage(req);
    });
    const options = { baseUrl: api.url, clientId: 'ie-client', clientSecret: 'sup3r-s3cret-value', ...FAST };
    const provider = new OpenverseProvider(options);
    await Promise.all([provider.search('dog', 8), provider.search('cat', 8)]);
    await new OpenverseProvider(options).search('bird', 8);
    const tokenRequests = api.requests.filter((r) => r.path === '/v1/auth_tokens/token/');
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0].method).toBe('POST');
    expect(tokenRequests[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(tokenRequests[0].body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'ie-client',
      client_secret: 'sup3r-s3cret-value',
    });
    const searches = api.requests.filter((r) => r.path === '/v1/images/');
    expect(searches).toHaveLength(3);
    expect(new Set(searches.map((r) => r.headers.authorization))).toEqual(new Set([`Bearer ${token.access_token}-1`]));
    // Authenticated pages may hold up to 500 results: one request for 8.
    expect(searches[0].query.get('page_size')).toBe('8');

    rejectNext = true;
    expect(await provider.search('fish', 8)).toHaveLength(8);
    const last = api.requests.slice(-3).map((r) => [r.path, r.headers.authorization]);
    expect(last).toEqual([
      ['/v1/images/', `Bearer ${token.access_token}-1`],
      ['/v1/auth_tokens/token/', undefined],
      ['/v1/images/', `Bearer ${token.access_token}-2`],
    ]);
  });

  it('keeps the client secret out of error messages', async () => {
    const secret = 'sup3r-s3cret-value';
    api.handle(() => ({
      status: 401,
      // A hostile or careless API echoing the credentials back.
      json: { ...fixture<object>('openverse', 'token-invalid-client'), error_description: `bad secret ${secret}` },
    }));
    const provider = new OpenverseProvider({ baseUrl: api.url, clientId: 'ie-client', clientSecret: secret, ...FAST });
    const err = (await provider.search('dog', 5).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^openverse POST http:\/\/127\.0\.0\.1:\d+\/v1\/auth_tokens\/token\/ failed: HTTP 401/);
    expect(err.message).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
  });

  it('honours Retry-After (seconds) on 429 and retries', async () => {
    let throttled = 0;
    api.handle((req) => {
      if (throttled++ === 0)
        return { status: 429, headers: { 'Retry-After': '1' }, json: fixture('openverse', 'throttled') };
      return openversePage(req);
    });
    const hits = await new OpenverseProvider({ baseUrl: api.url, ...FAST }).search('dog', 5);
    expect(hits).toHaveLength(5);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[1].at - api.requests[0].at).toBeGreaterThanOrEqual(950);
  });

  it('treats a day-long Retry-After as an exhausted quota: no retries, later searches refused locally', async () => {
    api.handle(() => ({
      status: 429,
      headers: { 'Retry-After': '86000' },
      json: fixture('openverse', 'throttled-daily'),
    }));
    const provider = new OpenverseProvider({ baseUrl: api.url, maxRetries: 5, ...FAST });
    const err = (await provider.search('dog', 5).catch((e: unknown) => e)) as QuotaExhaustedError;
    expect(err).toBeInstanceOf(QuotaExhaustedError);
    expect(err.name).toBe('QuotaExhaustedError');
    expect(err.provider).toBe('openverse');
    expect(err.resetsAt!.getTime()).toBeGreaterThan(Date.now() + 85_000_000);
    expect(err.message).toMatch(
      /openverse search quota exhausted .*HTTP 429.*resets at \d{4}-.*IE_OPENVERSE_CLIENT_ID/,
    );
    expect(api.requests).toHaveLength(1);
    await expect(new OpenverseProvider({ baseUrl: api.url }).search('cat', 5)).rejects.toThrow(QuotaExhaustedError);
    expect(api.requests).toHaveLength(1);
  });

  it('enforces the local daily quota without sending the request', async () => {
    api.handle(openversePage);
    const provider = new OpenverseProvider({ baseUrl: api.url, pageSize: 3, dailyQuota: 2, ...FAST });
    const err = (await provider.search('dog', 8).catch((e: unknown) => e)) as QuotaExhaustedError;
    expect(err.name).toBe('QuotaExhaustedError');
    expect(err.message).toMatch(/daily quota of 2 requests/);
    expect(err.resetsAt!.toISOString()).toMatch(/T00:00:00\.000Z$/);
    expect(api.requests).toHaveLength(2);
  });

  it('spaces requests by requestsPerSecond (token bucket)', async () => {
    api.handle(openversePage);
    const provider = new OpenverseProvider({ baseUrl: api.url, pageSize: 2, requestsPerSecond: 4 });
    await provider.search('dog', 8); // 4 pages: a burst of 4, then ...
    await provider.search('cat', 4); // ... 2 more at 4/s
    const times = api.requests.map((r) => r.at);
    expect(times).toHaveLength(6);
    expect(times[5] - times[0]).toBeGreaterThanOrEqual(400);
  });

  it('retries 5xx with backoff, then fails naming the provider, request and status', async () => {
    let calls = 0;
    api.handle((req) => (calls++ < 2 ? { status: 503, text: 'upstream unavailable' } : openversePage(req)));
    expect(await new OpenverseProvider({ baseUrl: api.url, ...FAST }).search('dog', 3)).toHaveLength(3);
    expect(api.requests).toHaveLength(3);

    api.handle(() => ({ status: 502, text: 'bad gateway' }));
    await expect(new OpenverseProvider({ baseUrl: api.url, maxRetries: 2, ...FAST }).search('dog', 3)).rejects.toThrow(
      /^openverse GET http:\/\/127\.0\.0\.1:\d+\/v1\/images\/\?q=dog&page_size=3&page=1 failed: HTTP 502: bad gateway \(after 3 attempts\)$/,
    );
    expect(api.requests).toHaveLength(3);
  });
});

interface WikiPage {
  index: number;
  imageinfo: { url: string }[];
}

/** Serves the recorded generator=search response in gsrlimit-sized batches with `continue.gsroffset`. */
function wikimediaBatch(req: SeenRequest) {
  const recorded = fixture<{ query: { pages: Record<string, WikiPage> } }>('wikimedia', 'search');
  const all = Object.entries(recorded.query.pages).sort(([, a], [, b]) => a.index - b.index);
  const offset = Number(req.query.get('gsroffset') ?? 0);
  const limit = Number(req.query.get('gsrlimit') ?? 10);
  const batch = all.slice(offset, offset + limit).map(([id, p]) => [id, { ...p, index: p.index }]);
  const more = offset + limit < all.length;
  return {
    json: {
      batchcomplete: '',
      ...(more ? { continue: { gsroffset: offset + limit, continue: 'gsroffset||' } } : {}),
      query: { pages: Object.fromEntries(batch) },
    },
  };
}

describe('WikimediaCommonsProvider', () => {
  const userAgent = 'InternetExplorerTest/0.1 (https://example.org/ie; ops@example.org)';

  it('follows continue.gsroffset up to the limit, sends the User-Agent and maps extmetadata', async () => {
    api.handle(wikimediaBatch);
    const provider = new WikimediaCommonsProvider({ baseUrl: api.url, userAgent, batchSize: 2, ...FAST });
    const hits = await provider.search('golden retriever', 5);
    expect(provider.name).toBe('wikimedia');
    expect(api.requests.map((r) => [r.query.get('gsroffset'), r.query.get('gsrlimit')])).toEqual([
      ['0', '2'],
      ['2', '2'],
      ['4', '1'],
    ]);
    const first = api.requests[0];
    expect(first.path).toBe('/w/api.php');
    expect(first.headers['user-agent']).toBe(userAgent);
    expect(Object.fromEntries(first.query)).toMatchObject({
      action: 'query',
      generator: 'search',
      gsrsearch: 'golden retriever filetype:bitmap',
      gsrnamespace: '6',
      prop: 'imageinfo',
      iiprop: 'url|size|extmetadata|mime',
      format: 'json',
    });
    expect(api.requests[1].query.get('continue')).toBe('gsroffset||');
    // Ranked by the search's `index`, not by the page-id keys.
    expect(hits.map((h) => h.url)).toEqual([
      'https://upload.wikimedia.org/wikipedia/commons/9/93/Golden_Retriever_Dukedestiny01_drvd.jpg',
      'https://upload.wikimedia.org/wikipedia/commons/c/cd/Golden_retriever_eating_pigs_foot.jpg',
      'https://upload.wikimedia.org/wikipedia/commons/a/a1/Golden_Retriever_9-year-old.jpg',
      'https://upload.wikimedia.org/wikipedia/commons/b/b2/Retriever_puppy.png',
      'https://upload.wikimedia.org/wikipedia/commons/d/d4/Golden_retriever_head.jpg',
    ]);
    expect(hits.map((h) => h.rank)).toEqual([0, 1, 2, 3, 4]);
    expect(hits[0]).toEqual({
      url: 'https://upload.wikimedia.org/wikipedia/commons/9/93/Golden_Retriever_Dukedestiny01_drvd.jpg',
      pageUrl: 'https://commons.wikimedia.org/wiki/File:Golden_Retriever_Dukedestiny01_drvd.jpg',
      title: 'Golden Retriever Dukedestiny01',
      rank: 0,
      width: 2592,
      height: 1944,
      license: 'CC BY-SA 3.0',
      creator: 'Dukedestiny',
    });
    expect(hits[1]).toMatchObject({ title: 'Golden retriever eating pigs foot.jpg', creator: 'Ed & Jo' });
  });

  it('stops when there is no continuation', async () => {
    api.handle(wikimediaBatch);
    const hits = await new WikimediaCommonsProvider({ baseUrl: api.url, userAgent }).search('dog', 100);
    expect(hits).toHaveLength(5);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0].query.get('gsrlimit')).toBe('50');
  });

  it('requires a contactable User-Agent', () => {
    expect(() => new WikimediaCommonsProvider({ baseUrl: api.url, userAgent: '' })).toThrow(/IE_WIKIMEDIA_USER_AGENT/);
  });

  it('reports MediaWiki error bodies and retries "ratelimited" after Retry-After', async () => {
    api.handle(() => ({ json: fixture('wikimedia', 'error-badvalue') }));
    await expect(
      new WikimediaCommonsProvider({ baseUrl: api.url, userAgent, ...FAST }).search('dog', 5),
    ).rejects.toThrow(
      /^wikimedia GET .*\/w\/api\.php\?.*failed: HTTP 200: badvalue: Unrecognized value for parameter "gsrnamespace"/,
    );
    expect(api.requests).toHaveLength(1);

    let calls = 0;
    api.handle((req) =>
      calls++ === 0
        ? {
            status: 429,
            headers: { 'Retry-After': new Date(Date.now() + 1000).toUTCString() },
            json: fixture('wikimedia', 'error-ratelimited'),
          }
        : wikimediaBatch(req),
    );
    expect(await new WikimediaCommonsProvider({ baseUrl: api.url, userAgent, ...FAST }).search('dog', 5)).toHaveLength(
      5,
    );
    expect(api.requests).toHaveLength(2);
  });
});

interface FlickrPhoto {
  id: string;
}

/** Serves flickr.photos.search pages from the recorded photos (or `total` synthetic ones). */
function flickrPage(total?: number) {
  return (req: SeenRequest) => {
    const recorded = fixture<{ photos: { photo: FlickrPhoto[] } }>('flickr', 'search').photos.photo;
    const count = total ?? recorded.length;
    const perPage = Number(req.query.get('per_page') ?? 100);
    const page = Number(req.query.get('page') ?? 1);
    const photo = [];
    for (let i = (page - 1) * perPage; i < Math.min(count, page * perPage); i++) {
      const base = recorded[i % recorded.length];
      photo.push(total ? { ...base, id: String(i), url_o: `https://live.staticflickr.com/65535/${i}_o.jpg` } : base);
    }
    // Flickr reports `total` as a string in some responses.
    return {
      json: {
        photos: { page, pages: Math.ceil(count / perPage), perpage: perPage, total: String(count), photo },
        stat: 'ok',
      },
    };
  };
}

describe('FlickrProvider', () => {
  const apiKey = 'f1ickr-key-0123456789abcdef';

  it('pages up to the limit, sends the key and maps sizes, owner and license', async () => {
    api.handle(flickrPage());
    const provider = new FlickrProvider({ baseUrl: api.url, apiKey, perPage: 2, ...FAST });
    const hits = await provider.search('golden retriever', 5);
    expect(provider.name).toBe('flickr');
    expect(api.requests.map((r) => r.query.get('page'))).toEqual(['1', '2', '3']);
    expect(Object.fromEntries(api.requests[0].query)).toEqual({
      method: 'flickr.photos.search',
      api_key: apiKey,
      text: 'golden retriever',
      sort: 'relevance',
      media: 'photos',
      per_page: '2',
      page: '1',
      extras: 'url_o,url_l,url_c,owner_name,license',
      format: 'json',
      nojsoncallback: '1',
    });
    expect(hits.map((h) => h.rank)).toEqual([0, 1, 2, 3, 4]);
    expect(hits[0]).toEqual({
      url: 'https://live.staticflickr.com/65535/52000000001_a1b2c3d4e5_b.jpg',
      pageUrl: 'https://www.flickr.com/photos/44444444@N00/53000000000',
      title: 'Golden retriever',
      rank: 0,
      width: 4000,
      height: 3000,
      license: 'CC BY 2.0',
      creator: 'Sam Lee',
    });
    // No url_o/url_l: the medium size.
    expect(hits[1]).toMatchObject({
      url: expect.stringMatching(/_c\.jpg$/),
      width: 800,
      license: 'All Rights Reserved',
    });
    expect(hits[2]).toMatchObject({ url: expect.stringMatching(/_b\.jpg$/), title: undefined, license: 'CC0 1.0' });
  });

  it('never asks past the 4,000-results-per-query cap', async () => {
    api.handle(flickrPage(100_000));
    const hits = await new FlickrProvider({ baseUrl: api.url, apiKey }).search('dog', 10_000);
    expect(hits).toHaveLength(4000);
    expect(api.requests.map((r) => r.query.get('page'))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(api.requests.every((r) => r.query.get('per_page') === '500')).toBe(true);
  });

  it('maps stat "fail" to an error without the API key, and retries code 105', async () => {
    api.handle(() => ({ json: fixture('flickr', 'error-invalid-key') }));
    const err = (await new FlickrProvider({ baseUrl: api.url, apiKey, ...FAST })
      .search('dog', 5)
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /^flickr GET http:\/\/127\.0\.0\.1:\d+\/services\/rest\/\?.*api_key=\*\*\*.* failed: HTTP 200: Flickr error 100: Invalid API Key/,
    );
    expect(err.message).not.toContain(apiKey);
    expect(api.requests).toHaveLength(1);

    let calls = 0;
    api.handle((req) => (calls++ === 0 ? { json: fixture('flickr', 'error-unavailable') } : flickrPage()(req)));
    expect(await new FlickrProvider({ baseUrl: api.url, apiKey, ...FAST }).search('dog', 5)).toHaveLength(5);
    expect(api.requests).toHaveLength(2);
  });

  it('keeps the key out of network error messages', async () => {
    const dead = new FlickrProvider({ baseUrl: 'http://127.0.0.1:1', apiKey, maxRetries: 1, ...FAST });
    const err = (await dead.search('dog', 5).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^flickr GET .* failed: ECONNREFUSED \(after 2 attempts\)$/);
    expect(err.message).not.toContain(apiKey);
  });
});

describe('BraveImagesProvider', () => {
  const token = 'BSA-brave-token-0123456789';
  const quotaHeaders = (second: number, month: number, monthReset = 1_000_000) => ({
    'X-RateLimit-Limit': '1, 2000',
    'X-RateLimit-Policy': '1;w=1, 2000;w=2592000',
    'X-RateLimit-Remaining': `${second}, ${month}`,
    'X-RateLimit-Reset': `1, ${monthReset}`,
  });

  it('sends the subscription token and count, and maps image properties', async () => {
    api.handle(() => ({ headers: quotaHeaders(1, 1500), json: fixture('brave', 'images') }));
    const provider = new BraveImagesProvider({ baseUrl: api.url, token, ...FAST });
    const hits = await provider.search('golden retriever', 300);
    expect(provider.name).toBe('brave');
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0].path).toBe('/res/v1/images/search');
    expect(api.requests[0].headers['x-subscription-token']).toBe(token);
    expect(Object.fromEntries(api.requests[0].query)).toEqual({ q: 'golden retriever', count: '200' });
    expect(hits).toHaveLength(4);
    expect(hits[0]).toEqual({
      url: 'https://upload.wikimedia.org/wikipedia/commons/1/1a/Golden_Retriever_puppy.jpg',
      pageUrl: 'https://en.wikipedia.org/wiki/Golden_Retriever',
      title: 'Golden Retriever - Wikipedia',
      rank: 0,
      width: 1600,
      height: 1200,
    });
    expect(await provider.search('dog', 2)).toHaveLength(2);
    expect(api.requests[1].query.get('count')).toBe('2');
  });

  it('waits for the per-second window on 429 RATE_LIMITED, then retries', async () => {
    let calls = 0;
    api.handle(() =>
      calls++ === 0
        ? { status: 429, headers: quotaHeaders(0, 1500), json: fixture('brave', 'rate-limited') }
        : { headers: quotaHeaders(1, 1499), json: fixture('brave', 'images') },
    );
    expect(await new BraveImagesProvider({ baseUrl: api.url, token, ...FAST }).search('dog', 10)).toHaveLength(4);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[1].at - api.requests[0].at).toBeGreaterThanOrEqual(950);
  });

  it('raises QuotaExhaustedError without retrying when the monthly quota is spent', async () => {
    api.handle(() => ({ status: 429, headers: quotaHeaders(0, 0, 3600), json: fixture('brave', 'quota-exceeded') }));
    const err = (await new BraveImagesProvider({ baseUrl: api.url, token, maxRetries: 5, ...FAST })
      .search('dog', 10)
      .catch((e: unknown) => e)) as QuotaExhaustedError;
    expect(err.name).toBe('QuotaExhaustedError');
    expect(err.message).toMatch(/^brave search quota exhausted .*HTTP 429.*Request rate limit exceeded for plan/);
    expect(err.resetsAt!.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect(err.message).not.toContain(token);
    expect(api.requests).toHaveLength(1);
  });

  it('stops before the next request once a response says the quota is spent', async () => {
    api.handle(() => ({ headers: quotaHeaders(1, 0), json: fixture('brave', 'images') }));
    const provider = new BraveImagesProvider({ baseUrl: api.url, token, ...FAST });
    expect(await provider.search('dog', 10)).toHaveLength(4);
    await expect(provider.search('cat', 10)).rejects.toThrow(QuotaExhaustedError);
    expect(api.requests).toHaveLength(1);
  });

  it('reports an invalid token without revealing it', async () => {
    api.handle((req) => ({
      status: 422,
      json: { ...fixture<object>('brave', 'invalid-token'), echoed: req.headers['x-subscription-token'] },
    }));
    const err = (await new BraveImagesProvider({ baseUrl: api.url, token, ...FAST })
      .search('dog', 10)
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /^brave GET .*\/res\/v1\/images\/search\?q=dog&count=10 failed: HTTP 422: The provided subscription token is invalid\.$/,
    );
    expect(err.message).not.toContain(token);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
