import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { PROJECT_ROOT, stateDir } from '../paths';
import { portOpen, waitFor } from './process';

const PG_BIN = process.env.IE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const LOCAL_PG_PORT = Number(process.env.IE_PG_PORT ?? 55432);
const LOCAL_USER = 'ie';

export function localDatabaseUrl(database = 'ie'): string {
  return `postgresql://${LOCAL_USER}@127.0.0.1:${LOCAL_PG_PORT}/${database}`;
}

/**
 * Where the local cluster lives: `.state/postgres`, unless we run as root and the server's `postgres`
 * user cannot reach that folder (e.g. a checkout under a private home): then a folder it owns, keyed
 * by the state folder so two checkouts never share a cluster.
 */
function pgRoot(): string {
  const preferred = path.join(stateDir(), 'postgres');
  if (process.env.IE_PG_ROOT) return process.env.IE_PG_ROOT;
  if (os.userInfo().uid !== 0) return preferred;
  fs.mkdirSync(stateDir(), { recursive: true });
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', 'test', '-x', stateDir()], { stdio: 'ignore' });
    return preferred;
  } catch {
    const key = createHash('sha256').update(stateDir()).digest('hex').slice(0, 12);
    return path.join('/var/lib/postgresql/internet-explorer', key);
  }
}

function dataDir(): string {
  return path.join(pgRoot(), 'data');
}

/** initdb refuses to run as root; as root, run the server as Debian's `postgres` user. */
function asServerUser(cmd: string, args: string[]): void {
  const root = os.userInfo().uid === 0;
  const [bin, argv] = root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  execFileSync(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function ensureOwnedByServerUser(dir: string): void {
  if (os.userInfo().uid === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
}

/** Starts (or reuses) the project-local PostgreSQL cluster. Returns whether this call started it. */
export async function ensureLocalPostgres(): Promise<{ started: boolean }> {
  if (await portOpen(LOCAL_PG_PORT)) return { started: false };
  if (!fs.existsSync(path.join(PG_BIN, 'initdb'))) {
    throw new Error(
      `PostgreSQL 15 server binaries not found in ${PG_BIN}: run scripts/setup.sh (apt-get install postgresql)`,
    );
  }
  const root = pgRoot();
  fs.mkdirSync(root, { recursive: true });
  ensureOwnedByServerUser(root);
  if (!fs.existsSync(path.join(dataDir(), 'PG_VERSION'))) {
    asServerUser(path.join(PG_BIN, 'initdb'), ['-D', dataDir(), '-U', LOCAL_USER, '--auth=trust', '-E', 'UTF8']);
  }
  const socketDir = path.join(root, 'run');
  fs.mkdirSync(socketDir, { recursive: true });
  ensureOwnedByServerUser(socketDir);
  const logFile = path.join(root, 'server.log');
  if (!fs.existsSync(logFile)) fs.writeFileSync(logFile, '');
  ensureOwnedByServerUser(logFile);
  asServerUser(path.join(PG_BIN, 'pg_ctl'), [
    '-D',
    dataDir(),
    '-l',
    logFile,
    '-w',
    '-o',
    `-p ${LOCAL_PG_PORT} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on`,
    'start',
  ]);
  await waitFor('PostgreSQL', () => portOpen(LOCAL_PG_PORT), 30_000, logFile);
  return { started: true };
}

export async function stopLocalPostgres(): Promise<boolean> {
  if (!fs.existsSync(path.join(dataDir(), 'postmaster.pid'))) return false;
  asServerUser(path.join(PG_BIN, 'pg_ctl'), ['-D', dataDir(), '-m', 'fast', '-w', 'stop']);
  return true;
}

/** Creates `database` on the server of `adminUrl` if it does not exist. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const database = url.pathname.replace(/^\//, '');
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** Applies the committed migrations (`prisma migrate deploy`): safe to run on every start. */
export function migrateDeploy(databaseUrl: string): void {
  try {
    execFileSync(path.join(PROJECT_ROOT, 'node_modules', '.bin', 'prisma'), ['migrate', 'deploy'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    const stdout = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`prisma migrate deploy failed for ${redactUrl(databaseUrl)}:\n${stdout}\n${stderr}`);
  }
}

export function redactUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}
