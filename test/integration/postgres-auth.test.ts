import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

// The local cluster the tools start, on a port and in folders of its own (not the suites' shared one).
jest.setTimeout(5 * 60_000);

type PostgresModule = typeof import('../../lib/services/postgres');
const PG_BIN = process.env.IE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const saved = {
  IE_STATE_DIR: process.env.IE_STATE_DIR,
  IE_PG_ROOT: process.env.IE_PG_ROOT,
  IE_PG_PORT: process.env.IE_PG_PORT,
};
let dir: string;
let pgRoot: string;
let port: number;
let pg: PostgresModule;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = server.address() as { port: number };
      server.close(() => resolve(found));
    });
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-pg-auth-'));
  fs.chmodSync(dir, 0o755); // the server's user (postgres, when run as root) must reach its folder
  pgRoot = path.join(dir, 'pg');
  port = await freePort();
  process.env.IE_STATE_DIR = path.join(dir, 'state');
  process.env.IE_PG_ROOT = pgRoot;
  process.env.IE_PG_PORT = String(port);
  // The port is read when the module loads: a copy of its own.
  await jest.isolateModulesAsync(async () => {
    pg = await import('../../lib/services/postgres');
  });
});

afterAll(async () => {
  await pg?.stopLocalPostgres().catch(() => undefined);
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const withoutPassword = (database: string) => `postgresql://ie@127.0.0.1:${port}/${database}`;
const hba = () => fs.readFileSync(path.join(pgRoot, 'data', 'pg_hba.conf'), 'utf8');
const rules = () =>
  hba()
    .split('\n')
    .filter((l) => /^\s*(local|host)/.test(l));

async function expectPasswordRequired(): Promise<void> {
  const password = fs.readFileSync(pg.localPasswordFile(), 'utf8').trim();
  expect(password).toMatch(/^[0-9a-f]{48}$/);
  expect(fs.statSync(pg.localPasswordFile()).mode & 0o777).toBe(0o600);
  expect(pg.localDatabaseUrl('postgres')).toBe(`postgresql://ie:${password}@127.0.0.1:${port}/postgres`);
  expect(await query(pg.localDatabaseUrl('postgres'), 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  await expect(query(withoutPassword('postgres'), 'SELECT 1')).rejects.toThrow(/password/);
  await expect(query(`postgresql://ie:guess@127.0.0.1:${port}/postgres`, 'SELECT 1')).rejects.toThrow(
    /password authentication failed/,
  );
  expect(rules().length).toBeGreaterThan(0);
  expect(rules().every((l) => /\sscram-sha-256\s*$/.test(l))).toBe(true);
}

test('a cluster the tools initialise requires the password (0600 in the state folder) that the local URL carries', async () => {
  expect(await pg.ensureLocalPostgres()).toEqual({ started: true });
  await expectPasswordRequired();
  // Reused while it runs; started again, it keeps its password.
  expect(await pg.ensureLocalPostgres()).toEqual({ started: false });
  await pg.stopLocalPostgres();
  expect(await pg.ensureLocalPostgres()).toEqual({ started: true });
  await expectPasswordRequired();
});

test('a cluster that was initialised with trust requires the password from its next start, keeping its data', async () => {
  await pg.stopLocalPostgres();
  fs.rmSync(pgRoot, { recursive: true, force: true });
  fs.rmSync(pg.localPasswordFile(), { force: true });
  // As the tools used to make it.
  fs.mkdirSync(pgRoot, { recursive: true });
  const root = os.userInfo().uid === 0;
  if (root) execFileSync('chown', ['-R', 'postgres:postgres', pgRoot]);
  const initdb = [
    path.join(PG_BIN, 'initdb'),
    '-D',
    path.join(pgRoot, 'data'),
    '-U',
    'ie',
    '--auth=trust',
    '-E',
    'UTF8',
  ];
  execFileSync(root ? 'runuser' : initdb[0], root ? ['-u', 'postgres', '--', ...initdb] : initdb.slice(1), {
    stdio: 'pipe',
  });
  expect(rules().every((l) => /\strust\s*$/.test(l))).toBe(true);

  expect(await pg.ensureLocalPostgres()).toEqual({ started: true });
  await expectPasswordRequired();
  await query(pg.localDatabaseUrl('postgres'), 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)');
  await pg.stopLocalPostgres();
  expect(await pg.ensureLocalPostgres()).toEqual({ started: true });
  expect(await query(pg.localDatabaseUrl('postgres'), 'SELECT x FROM kept')).toEqual([{ x: 7 }]);
});

test('a cluster that requires a password whose file is gone is not started blind: the error says what to do', async () => {
  await pg.stopLocalPostgres();
  const file = pg.localPasswordFile();
  const password = fs.readFileSync(file, 'utf8');
  fs.rmSync(file);
  await expect(pg.ensureLocalPostgres()).rejects.toThrow(
    `requires a password, but ${file} is missing: restore that file, or remove ${pgRoot} to start a fresh cluster`,
  );
  fs.writeFileSync(file, password, { mode: 0o600 });
  expect(await pg.ensureLocalPostgres()).toEqual({ started: true });
});
