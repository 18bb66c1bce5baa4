import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { logger } from '../logger';
import { PROJECT_ROOT, stateDir } from '../paths';
import { portOpen, waitFor } from './process';

const PG_BIN = process.env.IE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const LOCAL_PG_PORT = Number(process.env.IE_PG_PORT ?? 55432);
const LOCAL_USER = 'ie';
const log = logger.child({ component: 'postgres' });

/**
 * The URL of a database on the local cluster, with the password of its `ie` user (none while the cluster
 * has not been given one: a cluster that `ie` has not started since it began requiring one).
 */
export function localDatabaseUrl(database = 'ie'): string {
  const password = readLocalPassword();
  const user = password ? `${LOCAL_USER}:${encodeURIComponent(password)}` : LOCAL_USER;
  return `postgresql://${user}@127.0.0.1:${LOCAL_PG_PORT}/${database}`;
}

/** Where the local cluster's password lives: in the state folder, readable by its owner only. */
export function localPasswordFile(): string {
  return path.join(stateDir(), 'postgres-password');
}

function readLocalPassword(): string | undefined {
  try {
    return fs.readFileSync(localPasswordFile(), 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The password, generated on first use; concurrent callers all end up with the one that was written first. */
function ensureLocalPassword(): string {
  const existing = readLocalPassword();
  if (existing) return existing;
  const file = localPasswordFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  try {
    fs.linkSync(tmp, file); // fails if another process got there first: use theirs
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return readLocalPassword() as string;
}

/** pg_hba.conf lines (not comments) whose method is `trust`: anyone on the machine connects as anyone. */
function trustLines(hba: string): number {
  return hba.split('\n').filter((line) => /^\s*(local|host\w*)\s/.test(line) && /\strust\s*$/.test(line)).length;
}

function hbaFile(): string {
  return path.join(dataDir(), 'pg_hba.conf');
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
  if (await portOpen(LOCAL_PG_PORT)) {
    // Left as it is while it runs: processes connected without a password would fail their next connection.
    if (fs.existsSync(path.join(dataDir(), 'postmaster.pid')) && trustLines(readHba()) > 0)
      log.warn(
        { dataDir: dataDir() },
        'the running local PostgreSQL accepts connections without a password (trust); it will require one from its ' +
          'next start (ie down, then ie up)',
      );
    return { started: false };
  }
  if (!fs.existsSync(path.join(PG_BIN, 'initdb'))) {
    throw new Error(
      `PostgreSQL 15 server binaries not found in ${PG_BIN}: run scripts/setup.sh (apt-get install postgresql)`,
    );
  }
  const root = pgRoot();
  fs.mkdirSync(root, { recursive: true });
  ensureOwnedByServerUser(root);
  const initialised = fs.existsSync(path.join(dataDir(), 'PG_VERSION'));
  if (initialised && !readLocalPassword() && trustLines(readHba()) === 0)
    throw new Error(
      `the local PostgreSQL cluster in ${dataDir()} requires a password, but ${localPasswordFile()} is missing: ` +
        `restore that file, or remove ${pgRoot()} to start a fresh cluster (its data is lost)`,
    );
  const password = ensureLocalPassword();
  if (!initialised) {
    // The server user reads the password from a file it owns, removed right after.
    const pwfile = path.join(root, `initdb-password.${process.pid}`);
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    ensureOwnedByServerUser(pwfile);
    try {
      asServerUser(path.join(PG_BIN, 'initdb'), [
        '-D',
        dataDir(),
        '-U',
        LOCAL_USER,
        '--auth=scram-sha-256',
        `--pwfile=${pwfile}`,
        '-E',
        'UTF8',
      ]);
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
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
  if (trustLines(readHba()) > 0) await requirePassword(password);
  return { started: true };
}

function readHba(): string {
  try {
    return fs.readFileSync(hbaFile(), 'utf8');
  } catch {
    return '';
  }
}

/**
 * A cluster made when the tools started it with `trust` (anyone on the machine connects as anyone): its `ie`
 * user gets the password and every `trust` line becomes `scram-sha-256`, then the server reloads its rules.
 */
async function requirePassword(password: string): Promise<void> {
  const url = `postgresql://${LOCAL_USER}@127.0.0.1:${LOCAL_PG_PORT}/postgres`;
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    // The password is hex: nothing to quote.
    await client.query(`ALTER ROLE "${LOCAL_USER}" WITH PASSWORD '${password}'`);
    const hba = readHba();
    const rewritten = hba
      .split('\n')
      .map((line) => (/^\s*(local|host\w*)\s/.test(line) ? line.replace(/\strust(\s*)$/, ' scram-sha-256$1') : line))
      .join('\n');
    fs.writeFileSync(hbaFile(), rewritten);
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
  log.warn(
    { dataDir: dataDir(), passwordFile: localPasswordFile() },
    'the local PostgreSQL accepted connections without a password (trust); it now requires the password in ' +
      `${localPasswordFile()} (scram-sha-256), which the local DATABASE_URL carries`,
  );
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

/**
 * Drops `database` on the server of `serverUrl` (any database URL on that server) and creates it afresh: empty,
 * or a copy of `template` (which nobody may be connected to). Returns the new database's URL.
 */
export async function recreateDatabase(
  serverUrl: string,
  database: string,
  options: { template?: string } = {},
): Promise<string> {
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${database}"${options.template ? ` TEMPLATE "${options.template}"` : ''}`);
  } finally {
    await client.end();
  }
  url.pathname = `/${database}`;
  return url.toString();
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
