import { Client as PgClient } from 'pg';
import { ensureConceptTable } from '../../activities/concepts/concept-table';
import { closeDb } from '../../lib/db';
import { localDatabaseUrl, migrateDeploy } from '../../lib/services/postgres';
import { TEST_TEMPORAL_PORT } from './services';

/**
 * The database every test database is copied from (`CREATE DATABASE … TEMPLATE`, a file copy of about a
 * second): migrated with the committed migrations and holding the WordNet concept table, which each suite
 * would otherwise spend 15–30 s making. Suffixed by the stream's Temporal port, as the test databases are.
 */
export const TEMPLATE_DATABASE = `ie_test_template_${TEST_TEMPORAL_PORT}`;

/** The PostgreSQL server the suites use (IE_TEST_DATABASE_URL, else the local one), as its `postgres` database. */
export function testServerUrl(): string {
  return process.env.IE_TEST_DATABASE_URL ?? localDatabaseUrl('postgres');
}

/** `database` on the test server, as a connection URL. */
export function testDatabaseUrl(database: string): string {
  const url = new URL(testServerUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs `fn` with an admin connection to the test server. */
export async function withAdmin<T>(fn: (admin: PgClient) => Promise<T>): Promise<T> {
  const admin = new PgClient({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Makes the template afresh (global-setup.ts): the schema and the concept table of this checkout. */
export async function createTemplateDatabase(): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS "${TEMPLATE_DATABASE}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${TEMPLATE_DATABASE}"`);
  });
  const url = testDatabaseUrl(TEMPLATE_DATABASE);
  migrateDeploy(url);
  const previous = process.env.DATABASE_URL;
  process.env.DATABASE_URL = url;
  try {
    await ensureConceptTable();
  } finally {
    // A template may have no open connection when it is copied.
    await closeDb();
    if (previous === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = previous;
  }
}
