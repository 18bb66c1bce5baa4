import type { RunConfig } from '../../lib/config';
import { LocalEngineProvider } from './local';
import type { SearchProvider } from './provider';

export const DEFAULT_ENGINE_URL = 'http://127.0.0.1:8600';

/** The provider a run's config names. Credentials (for web APIs) come from the worker's environment. */
export function createProvider(config: RunConfig): SearchProvider {
  switch (config.search.provider) {
    case 'local':
      return new LocalEngineProvider({
        baseUrl: config.search.baseUrl ?? process.env.IE_ENGINE_URL ?? DEFAULT_ENGINE_URL,
      });
  }
}
