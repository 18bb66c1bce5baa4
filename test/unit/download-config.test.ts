import { parseRunConfig } from '../../lib/config';
import { downloadAllowHosts, downloadUserAgent, localEngineHost } from '../../activities/download/policy';

describe('download config', () => {
  test('defaults: polite per-host limits, filters that admit the 32 px corpus, robots tag respected', () => {
    const { download } = parseRunConfig({ target: '/t' });
    expect(download).toMatchObject({
      concurrency: 16,
      perHostConcurrency: 4,
      perHostRps: 10,
      timeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      maxRedirects: 5,
      retries: 2,
      maxAttempts: 3,
      minSide: 32,
      maxAspectRatio: 4,
      respectRobotsTag: true,
      allowHosts: [],
      nearDuplicateDistance: 5,
      writeShards: false,
    });
  });

  test('misspelt download keys are refused', () => {
    expect(() => parseRunConfig({ target: '/t', download: { allowHost: ['x'] } })).toThrow(/download.allowHost/);
  });

  test('the local engine of the run is allowlisted automatically, next to download.allowHosts', () => {
    const config = parseRunConfig({
      target: '/t',
      search: { baseUrl: 'http://127.0.0.1:8611' },
      download: { allowHosts: ['10.1.2.3:9000'] },
    });
    expect(localEngineHost(config)).toBe('127.0.0.1:8611');
    expect(downloadAllowHosts(config)).toEqual(['10.1.2.3:9000', '127.0.0.1:8611']);
  });

  test('with several providers, the local engine is allowed only when it is one of them', () => {
    const both = parseRunConfig({
      target: '/t',
      search: { providers: ['openverse', 'local'], local: { baseUrl: 'http://10.0.0.5:8600' } },
    });
    expect(downloadAllowHosts(both)).toEqual(['10.0.0.5:8600']);
    const webOnly = parseRunConfig({ target: '/t', search: { provider: 'openverse' } });
    expect(downloadAllowHosts(webOnly)).toEqual([]);
  });

  test('without a baseUrl the engine is IE_ENGINE_URL or the default', () => {
    const saved = process.env.IE_ENGINE_URL;
    try {
      process.env.IE_ENGINE_URL = 'http://localhost:9999';
      expect(localEngineHost(parseRunConfig({ target: '/t' }))).toBe('localhost:9999');
      delete process.env.IE_ENGINE_URL;
      expect(localEngineHost(parseRunConfig({ target: '/t' }))).toBe('127.0.0.1:8600');
    } finally {
      if (saved === undefined) delete process.env.IE_ENGINE_URL;
      else process.env.IE_ENGINE_URL = saved;
    }
  });

  test('the User-Agent is the configured one, else IE_USER_AGENT, else the project one with a contact', () => {
    const saved = process.env.IE_USER_AGENT;
    try {
      delete process.env.IE_USER_AGENT;
      expect(downloadUserAgent(parseRunConfig({ target: '/t' }))).toMatch(/^InternetExplorerBot\/.*\+https:\/\//);
      process.env.IE_USER_AGENT = 'EnvBot/1 (+mailto:ops@example.org)';
      expect(downloadUserAgent(parseRunConfig({ target: '/t' }))).toBe('EnvBot/1 (+mailto:ops@example.org)');
      const config = parseRunConfig({ target: '/t', download: { userAgent: 'MyBot/2 (+https://x.example)' } });
      expect(downloadUserAgent(config)).toBe('MyBot/2 (+https://x.example)');
    } finally {
      if (saved === undefined) delete process.env.IE_USER_AGENT;
      else process.env.IE_USER_AGENT = saved;
    }
  });
});
