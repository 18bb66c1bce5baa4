// Worker process: `node --import tsx workers/main.ts [roles]`, roles = all | workflows,io,score,train.
import { logger } from '../lib/logger';
import { parseRoles, runWorkers } from './create';

runWorkers(parseRoles(process.argv[2] ?? process.env.IE_WORKER_ROLES)).catch((error: unknown) => {
  logger.fatal({ err: error }, 'worker failed');
  process.exit(1);
});
