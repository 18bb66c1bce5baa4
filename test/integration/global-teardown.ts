import fs from 'node:fs';
import { stopLocalPostgres } from '../../lib/services/postgres';
import { stopTemporalDevServer } from '../../lib/services/temporal';
import { stopSeaweedFs } from '../../lib/services/seaweedfs';
import { TEST_S3_NAME, TEST_TEMPORAL_NAME, startedMarker } from './services';

/** Stops only what global-setup started. */
export default async function globalTeardown(): Promise<void> {
  const started = JSON.parse(fs.readFileSync(startedMarker(), 'utf8')) as {
    postgres: boolean;
    temporal: boolean;
    s3?: boolean;
  };
  if (started.temporal) await stopTemporalDevServer(TEST_TEMPORAL_NAME);
  if (started.s3) await stopSeaweedFs(TEST_S3_NAME);
  if (started.postgres) await stopLocalPostgres();
  fs.rmSync(startedMarker(), { force: true });
}
