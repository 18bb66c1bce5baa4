import path from 'node:path';
import { stateDir } from '../../lib/paths';

/** The integration suites' Temporal dev server: in memory, headless, on its own port. */
export const TEST_TEMPORAL_PORT = Number(process.env.IE_TEST_TEMPORAL_PORT ?? 7299);
export const TEST_TEMPORAL_ADDRESS = `127.0.0.1:${TEST_TEMPORAL_PORT}`;
// Named by port so suites run at once on one machine (each with its own IE_TEST_TEMPORAL_PORT) stay apart.
export const TEST_TEMPORAL_NAME = `temporal-test-${TEST_TEMPORAL_PORT}`;
export const startedMarker = () => path.join(stateDir(), `test-services-${TEST_TEMPORAL_PORT}.json`);

/**
 * The suites' S3-compatible object store (SeaweedFS), shared by every stream of scripts/test.sh (made once by
 * scripts/test-services.ts up, else by the first suite's global setup). Each test uses its own prefix.
 */
export const TEST_S3_PORT = Number(process.env.IE_TEST_S3_PORT ?? 18333);
export const TEST_S3_NAME = `seaweedfs-test-${TEST_S3_PORT}`;
export const TEST_S3_ENDPOINT = `http://127.0.0.1:${TEST_S3_PORT}`;
export const TEST_BUCKET = 'ie-test';
