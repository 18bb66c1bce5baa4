import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { Pool, type PoolConfig } from 'pg';

/**
 * Prisma 6.19's WebAssembly schema engine migrates through a driver adapter, which lets `prisma migrate`
 * work without downloading a native engine. `@prisma/adapter-pg` 6.19.3 needs four corrections for that:
 * catalog columns of type `name`/`"char"`, the shadow database's connection settings, the order of
 * closing and dropping the shadow database, and scripts that must not be split on `;`.
 */

// pg_catalog types the adapter cannot map; their values arrive as text, so describe them as text.
const CATALOG_TEXT_OIDS = new Set([18 /* char */, 19 /* name */, 24 /* regproc */, 194 /* pg_node_tree */, 2205]);
const CATALOG_TEXT_ARRAY_OIDS = new Set([1002 /* _char */, 1003 /* _name */]);
const TEXT_OID = 25;
const TEXT_ARRAY_OID = 1009;

interface PgQueryableInternals {
  client: { query(sql: string): Promise<unknown> };
  performIO(query: unknown): Promise<{ fields: { dataTypeID: number }[] }>;
  onError(error: unknown): never;
}

function patchAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const internals = adapter as unknown as PgQueryableInternals;
  const performIO = internals.performIO.bind(internals);
  internals.performIO = async (query) => {
    const result = await performIO(query);
    for (const field of result.fields) {
      if (CATALOG_TEXT_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
      else if (CATALOG_TEXT_ARRAY_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_ARRAY_OID;
    }
    return result;
  };
  // Migrations may hold `$$` function bodies: send each script whole.
  adapter.executeScript = async (script: string) => {
    try {
      await internals.client.query(script);
    } catch (error) {
      internals.onError(error);
    }
  };
  return adapter;
}

/** Discrete connection fields, so that the shadow database's name is not overridden by a URL. */
export function poolConfigFromUrl(databaseUrl: string): PoolConfig {
  const url = new URL(databaseUrl);
  return {
    host: decodeURIComponent(url.hostname) || url.searchParams.get('host') || 'localhost',
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
  };
}

export class OfflinePgAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres' as const;
  readonly adapterName = '@prisma/adapter-pg';
  private readonly inner: PrismaPg;

  constructor(private readonly config: PoolConfig) {
    this.inner = new PrismaPg(config);
  }

  async connect(): Promise<SqlDriverAdapter> {
    return patchAdapter(await this.inner.connect());
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const admin = await this.connect();
    const database = `prisma_migrate_shadow_db_${globalThis.crypto.randomUUID().replace(/-/g, '')}`;
    await admin.executeScript(`CREATE DATABASE "${database}"`);
    const pool = new Pool({ ...this.config, database });
    const shadow = patchAdapter(await new PrismaPg(pool).connect());
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      await pool.end();
      await admin.executeScript(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.dispose();
    };
    return shadow;
  }
}
