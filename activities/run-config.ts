import { parseRunConfig, type RunConfig } from '../lib/config';
import { db } from '../lib/db';

export interface StoredRun {
  id: string;
  config: RunConfig;
  hasLabels: boolean;
  labelNames: string[];
}

/** The effective config stored with the run (activities read it rather than carrying it in payloads). */
export async function loadRun(runId: string): Promise<StoredRun> {
  const run = await db().run.findUnique({ where: { id: runId } });
  if (!run)
    throw new Error(`run ${runId} is not in the database: was it prepared (prepareRun) against this DATABASE_URL?`);
  return { id: run.id, config: parseRunConfig(run.config), hasLabels: run.hasLabels, labelNames: run.labelNames };
}
