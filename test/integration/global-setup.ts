import fs from 'node:fs';
import { ensureLocalPostgres } from '../../lib/services/postgres';
import { ensureTemporalDevServer } from '../../lib/services/temporal';
import { ensureSeaweedFs } from '../../lib/services/seaweedfs';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { ensureConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import {
  TEST_BUCKET,
  TEST_S3_NAME,
  TEST_S3_PORT,
  TEST_TEMPORAL_NAME,
  TEST_TEMPORAL_PORT,
  startedMarker,
} from './services';
import { createTemplateDatabase } from './template-database';

/**
 * Starts what the integration suites need once: PostgreSQL (unless DATABASE_URL), a Temporal dev server and
 * SeaweedFS (the object store of the multi-host tests; built the first time, about 4 minutes), and the database
 * every suite's database is copied from.
 */
export default async function globalSetup(): Promise<void> {
  const postgres = process.env.IE_TEST_DATABASE_URL ? { started: false } : await ensureLocalPostgres();
  const temporal = await ensureTemporalDevServer({ port: TEST_TEMPORAL_PORT, uiPort: 0, name: TEST_TEMPORAL_NAME });
  await ensureDefaultCorpus();
  await ensureConceptEmbeddings();
  await createTemplateDatabase();
  const s3 = await ensureSeaweedFs({ s3Port: TEST_S3_PORT, name: TEST_S3_NAME, buckets: [TEST_BUCKET] });
  fs.writeFileSync(
    startedMarker(),
    JSON.stringify({ postgres: postgres.started, temporal: temporal.started, s3: s3.started }),
  );
}
