import type { RunConfig } from '../../lib/config';
import { DEFAULT_ENGINE_URL } from '../search/engine-url';
import type { FetchOptions } from './fetch';
import { AddressGuard, HostAllowlist, hostPortOf } from './guard';
import { HostLimiter } from './hosts';

export const DEFAULT_USER_AGENT =
  'InternetExplorerBot/0.1 (+https://github.com/internet-explorer/internet-explorer; research crawler)';

/** The User-Agent downloads send: the run's `download.userAgent`, else $IE_USER_AGENT, else the project's. */
export function downloadUserAgent(config: RunConfig): string {
  return config.download.userAgent ?? process.env.IE_USER_AGENT ?? DEFAULT_USER_AGENT;
}

/** The provider name of the local search engine (activities/search/local.ts), as SearchResult rows record it. */
export const LOCAL_PROVIDER = 'local';

/**
 * host:port of the run's own search engine when it is the local one: its image URLs point at it, it is
 * usually on a private address, and it is ours (exempt from the address guard and per-host limits).
 */
export function localEngineHost(config: RunConfig): string | undefined {
  // Read loosely: the search block grows (several providers, per-provider options).
  const search = config.search as unknown as {
    provider: string;
    providers?: string[];
    baseUrl?: string;
    local?: { baseUrl?: string };
  };
  const kinds = search.providers ?? [search.provider];
  if (!kinds.includes(LOCAL_PROVIDER)) return undefined;
  // The top-level baseUrl is the local engine's when it is the only provider or the one `provider` names.
  const topLevel = kinds.length === 1 || search.provider === LOCAL_PROVIDER ? search.baseUrl : undefined;
  return hostPortOf(search.local?.baseUrl ?? topLevel ?? process.env.IE_ENGINE_URL ?? DEFAULT_ENGINE_URL);
}

/**
 * Every destination a run may download from despite the private-address guard, for URLs its local search
 * engine returned: `download.allowHosts` and the engine. URLs of every other provider (and the redirects they
 * lead to) get `download.allowHosts` only: another provider's result cannot reach the local engine.
 */
export function downloadAllowHosts(config: RunConfig): string[] {
  const engine = localEngineHost(config);
  return [...config.download.allowHosts, ...(engine ? [engine] : [])];
}

/** The request options of a run's download stage, by where a URL came from. Both share the per-host limits. */
export interface FetchPolicy {
  /** For URLs the local provider returned: its engine is allowed (and exempt from per-host limits). */
  local: FetchOptions;
  /** For URLs any other provider returned: only `download.allowHosts` pass the address guard. */
  web: FetchOptions;
}

/** What every request of a run's download stage shares: limits, the address guard, per-host politeness. */
export function fetchPolicy(config: RunConfig, signal?: AbortSignal): FetchPolicy {
  const d = config.download;
  const engine = localEngineHost(config);
  const common = {
    timeoutMs: d.timeoutMs,
    connectTimeoutMs: d.connectTimeoutMs,
    maxBytes: d.maxBytes,
    maxRedirects: d.maxRedirects,
    retries: d.retries,
    backoffMs: d.backoffMs,
    maxRetryAfterMs: d.maxRetryAfterMs,
    respectRobotsTag: d.respectRobotsTag,
    userAgent: downloadUserAgent(config),
    hosts: new HostLimiter({ concurrency: d.perHostConcurrency, rps: d.perHostRps }, new Set(engine ? [engine] : [])),
    signal,
  };
  return {
    local: { ...common, guard: new AddressGuard(new HostAllowlist(downloadAllowHosts(config))) },
    web: { ...common, guard: new AddressGuard(new HostAllowlist(d.allowHosts)) },
  };
}
