import path from 'node:path';
import { stateDir } from '../../lib/paths';

/** The integration suites' Temporal dev server: in memory, headless, on its own port. */
export const TEST_TEMPORAL_PORT = Number(process.env.IE_TEST_TEMPORAL_PORT ?? 7299);
export const TEST_TEMPORAL_ADDRESS = `127.0.0.1:${TEST_TEMPORAL_PORT}`;
// Named by port so suites run at once on one machine (each with its own IE_TEST_TEMPORAL_PORT) stay apart.
export const TEST_TEMPORAL_NAME = `temporal-test-${TEST_TEMPORAL_PORT}`;
export const startedMarker = () => path.join(stateDir(), `test-services-${TEST_TEMPORAL_PORT}.json`);
