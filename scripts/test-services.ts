// The services (PostgreSQL, SeaweedFS) and caches every Jest stream of scripts/test.sh shares, made once before the streams start
// (two streams starting a fresh PostgreSQL cluster or building the corpus at once would race), and stopped
// after they end if this script started them. `up` records what it started in the state folder; `down` reads it.
//   npx tsx scripts/test-services.ts up|down
import fs from 'node:fs';
import path from 'node:path';
import { ensureConceptEmbeddings } from '../activities/concepts/embeddings-cache';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { stateDir } from '../lib/paths';
import { ensureLocalPostgres, stopLocalPostgres } from '../lib/services/postgres';
import { ensureSeaweedFs, stopSeaweedFs } from '../lib/services/seaweedfs';
import { TEST_BUCKET, TEST_S3_NAME, TEST_S3_PORT } from '../test/integration/services';

const marker = path.join(stateDir(), 'test-services-shared.json');

async function main(command: string | undefined): Promise<void> {
  if (command === 'up') {
    const postgres = process.env.IE_TEST_DATABASE_URL ? { started: false } : await ensureLocalPostgres();
    await ensureDefaultCorpus();
    await ensureConceptEmbeddings();
    const s3 = await ensureSeaweedFs({ s3Port: TEST_S3_PORT, name: TEST_S3_NAME, buckets: [TEST_BUCKET] });
    fs.writeFileSync(marker, JSON.stringify({ postgres: postgres.started, s3: s3.started }));
  } else if (command === 'down') {
    if (!fs.existsSync(marker)) return;
    const started = JSON.parse(fs.readFileSync(marker, 'utf8')) as { postgres: boolean; s3?: boolean };
    if (started.s3) await stopSeaweedFs(TEST_S3_NAME);
    if (started.postgres) await stopLocalPostgres();
    fs.rmSync(marker, { force: true });
  } else {
    console.error('usage: npx tsx scripts/test-services.ts up|down');
    process.exit(2);
  }
}

main(process.argv[2]).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
