import { ensureConceptTable } from '../../activities/concepts/concept-table';
import { closeDb } from '../../lib/db';
import { localDatabaseUrl, migrateDeploy, recreateDatabase } from '../../lib/services/postgres';
import { TEST_TEMPORAL_PORT } from './services';

/**
 * The database every test database is copied from (`CREATE DATABASE … TEMPLATE`, a file copy of about a
 * second): migrated with the committed migrations and holding the WordNet concept table, which each suite
 * would otherwise spend 15–30 s making. Suffixed by the stream's Temporal port, as the test databases are.
 */
export const TEMPLATE_DATABASE = `ie_test_template_${TEST_TEMPORAL_PORT}`;

/** The PostgreSQL server the suites use (IE_TEST_DATABASE_URL, else the local one). */
export function testServerUrl(): string {
  return process.env.IE_TEST_DATABASE_URL ?? localDatabaseUrl('postgres');
}

/** Makes the template afresh (global-setup.ts): the schema and the concept table of this checkout. */
export async function createTemplateDatabase(): Promise<void> {
  const url = await recreateDatabase(testServerUrl(), TEMPLATE_DATABASE);
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
