import fs from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

type PostgresModule = typeof import('../../lib/services/postgres');

/**
 * A PostgreSQL cluster of a test's own, started by the tools' code (lib/services/postgres.ts) on a free port
 * and in temporary folders: a test may stop and start it without touching the cluster other suites share.
 */
export interface IsolatedPostgres {
  port: number;
  /** The URL of `database` on this cluster, with its password. */
  url(database: string): string;
  /** A fresh database migrated with the committed migrations; its URL. */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m fast`: connected clients are cut off, new connections refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster and removes its folders. */
  remove(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts an isolated cluster. The module reads the port when it loads (a copy of its own, loaded with
 * IE_PG_PORT set), its folders and password file at each call: they are set around each call only, so the
 * rest of the test process (the content store, the corpus, the shared cluster) keeps its usual state folder.
 */
export async function startIsolatedPostgres(prefix: string): Promise<IsolatedPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  fs.chmodSync(dir, 0o755); // the server's user (postgres, when run as root) must reach its folder
  const port = await freePort();
  const env = { IE_STATE_DIR: path.join(dir, 'state'), IE_PG_ROOT: path.join(dir, 'pg'), IE_PG_PORT: String(port) };
  const withEnv = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      return await fn();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  };
  let pg: PostgresModule | undefined;
  await withEnv(() =>
    jest.isolateModulesAsync(async () => {
      pg = await import('../../lib/services/postgres');
    }),
  );
  const mod = pg as PostgresModule;
  await withEnv(() => mod.ensureLocalPostgres());
  const url = (database: string) => {
    const saved = process.env.IE_STATE_DIR;
    process.env.IE_STATE_DIR = env.IE_STATE_DIR;
    try {
      return mod.localDatabaseUrl(database);
    } finally {
      if (saved === undefined) delete process.env.IE_STATE_DIR;
      else process.env.IE_STATE_DIR = saved;
    }
  };
  return {
    port,
    url,
    async createDatabase(name) {
      const admin = new Client({ connectionString: url('postgres') });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE "${name}"`);
      } finally {
        await admin.end();
      }
      mod.migrateDeploy(url(name));
      return url(name);
    },
    async stop() {
      await withEnv(() => mod.stopLocalPostgres());
    },
    async start() {
      await withEnv(() => mod.ensureLocalPostgres());
    },
    async remove() {
      await withEnv(() => mod.stopLocalPostgres()).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
