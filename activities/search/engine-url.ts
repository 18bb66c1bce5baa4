/** Where the local search engine listens unless the run or $IE_ENGINE_URL says otherwise. */
export const DEFAULT_ENGINE_URL = 'http://127.0.0.1:8600';
