import fs from 'node:fs';
import { ensureLocalPostgres } from '../../lib/services/postgres';
import { ensureTemporalDevServer } from '../../lib/services/temporal';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { ensureConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import { TEST_TEMPORAL_NAME, TEST_TEMPORAL_PORT, startedMarker } from './services';

/** Starts what the integration suites need once: PostgreSQL (unless DATABASE_URL) and a Temporal dev server. */
export default async function globalSetup(): Promise<void> {
  const postgres = process.env.IE_TEST_DATABASE_URL ? { started: false } : await ensureLocalPostgres();
  const temporal = await ensureTemporalDevServer({ port: TEST_TEMPORAL_PORT, uiPort: 0, name: TEST_TEMPORAL_NAME });
  await ensureDefaultCorpus();
  await ensureConceptEmbeddings();
  fs.writeFileSync(startedMarker(), JSON.stringify({ postgres: postgres.started, temporal: temporal.started }));
}
