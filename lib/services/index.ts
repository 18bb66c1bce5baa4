import { DEFAULT_CORPUS_FILES } from '../datasets/layout';
import { requireDatasets } from '../datasets/require';
import { logger } from '../logger';
import { ensureEngine, stopEngine } from './engine';
import {
  ensureDatabase,
  ensureLocalPostgres,
  localDatabaseUrl,
  migrateDeploy,
  redactUrl,
  stopLocalPostgres,
} from './postgres';
import { DEFAULT_UI_PORT, ensureTemporalDevServer, stopTemporalDevServer } from './temporal';
import { stopLocalWorkers } from './workers';
import path from 'node:path';
import { stateDir } from '../paths';

export interface Services {
  databaseUrl: string;
  temporalAddress: string;
  engineUrl: string;
  webUi: string | null;
  /** Which services this call started (and so may stop). */
  started: { postgres: boolean; temporal: boolean; engine: boolean };
}

/**
 * Brings up what a run needs: PostgreSQL (or DATABASE_URL) with migrations applied, a Temporal dev server
 * with SQLite persistence (or TEMPORAL_ADDRESS), and the local search engine (or IE_ENGINE_URL).
 * Reuses whatever is already running.
 */
export async function ensureServices(opts: { engine?: boolean } = {}): Promise<Services> {
  const log = logger.child({ component: 'services' });
  // The engine we would start serves the default corpus: without the datasets, say so before starting anything.
  if (!process.env.IE_ENGINE_URL && opts.engine !== false) requireDatasets(DEFAULT_CORPUS_FILES);
  let databaseUrl = process.env.DATABASE_URL;
  let pgStarted = false;
  if (!databaseUrl) {
    pgStarted = (await ensureLocalPostgres()).started;
    databaseUrl = localDatabaseUrl('ie');
    await ensureDatabase(databaseUrl);
  }
  migrateDeploy(databaseUrl);
  log.info({ database: redactUrl(databaseUrl), started: pgStarted }, 'PostgreSQL ready, migrations applied');

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let temporalStarted = false;
  let webUi: string | null = null;
  if (!temporalAddress) {
    const dev = await ensureTemporalDevServer({ dbFile: path.join(stateDir(), 'temporal', 'temporal.db') });
    temporalAddress = dev.address;
    temporalStarted = dev.started;
    webUi = `http://localhost:${DEFAULT_UI_PORT}`;
  }
  log.info({ address: temporalAddress, started: temporalStarted, webUi }, 'Temporal ready');

  let engineUrl = process.env.IE_ENGINE_URL ?? '';
  let engineStarted = false;
  if (!engineUrl && opts.engine !== false) {
    const engine = await ensureEngine();
    engineUrl = engine.url;
    engineStarted = engine.started;
    log.info({ url: engineUrl, started: engineStarted }, 'local search engine ready');
  }
  return {
    databaseUrl,
    temporalAddress,
    engineUrl,
    webUi,
    started: { postgres: pgStarted, temporal: temporalStarted, engine: engineStarted },
  };
}

/** Stops the local services (only those named, or all that our tooling runs, workers first). */
export async function stopServices(
  which: { workers?: boolean; postgres?: boolean; temporal?: boolean; engine?: boolean } = {},
): Promise<string[]> {
  const all = Object.keys(which).length === 0;
  const stopped: string[] = [];
  if ((all || which.workers) && (await stopLocalWorkers())) stopped.push('workers');
  if ((all || which.engine) && (await stopEngine())) stopped.push('engine');
  if ((all || which.temporal) && (await stopTemporalDevServer())) stopped.push('temporal');
  if ((all || which.postgres) && (await stopLocalPostgres())) stopped.push('postgres');
  return stopped;
}
