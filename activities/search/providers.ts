import type { RunConfig } from '../../lib/config';
import { BraveImagesProvider } from './brave';
import { CombinedProvider } from './combined';
import { FlickrProvider } from './flickr';
import { LocalEngineProvider } from './local';
import { OpenverseProvider } from './openverse';
import type { PagedSearchProvider, SearchProvider } from './provider';
import { CachedProvider, type SearchStore } from './cache';
import { WikimediaCommonsProvider } from './wikimedia';
import { DEFAULT_ENGINE_URL } from './engine-url';

type SearchConfig = RunConfig['search'];
type ProviderKind = SearchConfig['provider'];

/**
 * Defaults per provider, from each API's published limits: Openverse anonymous ~200 calls/day at 1/s (an
 * OAuth2 application 10,000/day); Flickr 3,600 calls/hour; Wikimedia asks for few concurrent requests;
 * Brave's free plan allows 1 request/s.
 */
const DEFAULT_RATES: Record<Exclude<ProviderKind, 'local'>, { requestsPerSecond: number; dailyQuota?: number }> = {
  openverse: { requestsPerSecond: 1, dailyQuota: 200 },
  wikimedia: { requestsPerSecond: 2 },
  flickr: { requestsPerSecond: 1 },
  brave: { requestsPerSecond: 1 },
};
const OPENVERSE_AUTHENTICATED = { requestsPerSecond: 1.5, dailyQuota: 10_000 };

/**
 * The provider a run's config names, or several combined. API keys, client secrets and tokens come from
 * the worker's environment (never from the run config, which is stored with the run):
 * IE_OPENVERSE_CLIENT_ID / IE_OPENVERSE_CLIENT_SECRET (optional), IE_WIKIMEDIA_USER_AGENT,
 * IE_FLICKR_API_KEY, IE_BRAVE_TOKEN.
 */
export function createProvider(
  config: RunConfig,
  env: NodeJS.ProcessEnv = process.env,
  /** With several providers, each one's pages go through this cache before they are combined. */
  cache?: SearchStore,
): SearchProvider {
  const search = config.search;
  const kinds = search.providers ?? [search.provider];
  const providers = kinds.map((kind) => createOne(kind, search, env, kinds.length === 1));
  if (providers.length === 1) return providers[0];
  return new CombinedProvider(cache ? providers.map((p) => new CachedProvider(p, cache)) : providers, search.combine);
}

/** The name the configured provider caches under (e.g. 'openverse', 'split:openverse+flickr'). */
export function searchProviderName(config: RunConfig): string {
  const kinds = config.search.providers ?? [config.search.provider];
  return kinds.length === 1 ? kinds[0] : `${config.search.combine}:${kinds.join('+')}`;
}

function createOne(
  kind: ProviderKind,
  search: SearchConfig,
  env: NodeJS.ProcessEnv,
  only: boolean,
): PagedSearchProvider {
  const own = search[kind] ?? {};
  // The top-level baseUrl belongs to the single provider `provider` names (historically the local engine).
  const baseUrl = own.baseUrl ?? (only || kind === search.provider ? search.baseUrl : undefined);
  if (kind === 'local') {
    return new LocalEngineProvider({ baseUrl: baseUrl ?? env.IE_ENGINE_URL ?? DEFAULT_ENGINE_URL });
  }
  const common = { baseUrl, maxRetries: own.maxRetries };
  const rates = (defaults: { requestsPerSecond: number; dailyQuota?: number }) => ({
    requestsPerSecond: own.requestsPerSecond ?? defaults.requestsPerSecond,
    dailyQuota: own.dailyQuota ?? defaults.dailyQuota,
  });
  switch (kind) {
    case 'openverse': {
      const clientId = env.IE_OPENVERSE_CLIENT_ID || undefined;
      const clientSecret = env.IE_OPENVERSE_CLIENT_SECRET || undefined;
      const defaults = clientId && clientSecret ? OPENVERSE_AUTHENTICATED : DEFAULT_RATES.openverse;
      return new OpenverseProvider({ ...common, ...rates(defaults), clientId, clientSecret });
    }
    case 'wikimedia':
      return new WikimediaCommonsProvider({
        ...common,
        ...rates(DEFAULT_RATES.wikimedia),
        userAgent: own.userAgent ?? env.IE_WIKIMEDIA_USER_AGENT ?? '',
      });
    case 'flickr':
      return new FlickrProvider({ ...common, ...rates(DEFAULT_RATES.flickr), apiKey: env.IE_FLICKR_API_KEY ?? '' });
    case 'brave':
      return new BraveImagesProvider({ ...common, ...rates(DEFAULT_RATES.brave), token: env.IE_BRAVE_TOKEN ?? '' });
  }
}
