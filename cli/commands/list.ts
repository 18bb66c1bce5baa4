import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { db, closeDb } from '../../lib/db';
import { pct } from '../../lib/format';
import { RUN_WORKFLOW } from '../../lib/contract';
import { connectClient } from '../../lib/client/connect';
import { ServiceUnavailableError, UsageError, isUnreachable, unreachableReason } from '../../lib/errors';

export interface RunListing {
  id: string;
  mode: string;
  /** The database's status (running, completed, failed, stopped), or 'preparing' for a run only Temporal knows. */
  status: string;
  /** Temporal's status of the run's latest execution, where it was asked. */
  temporal: string | null;
  iterationsDone: number;
  iterations: number | null;
  lastKnn: number | null;
  createdAt: string | null;
}

interface RunRow {
  id: string;
  mode: string;
  status: string;
  createdAt: Date;
  iterations: string | null;
  done: bigint;
  knn: number | null;
}

async function runsFromDatabase(limit: number): Promise<RunListing[]> {
  let rows: RunRow[];
  try {
    rows = await db().$queryRaw<RunRow[]>`
      SELECT r.id, r.mode::text AS mode, r.status::text AS status, r."createdAt", r.config->>'iterations' AS iterations,
        (SELECT count(*) FROM "Iteration" i WHERE i."runId" = r.id AND i.status = 'completed') AS done,
        (SELECT i."knnAccuracy" FROM "Iteration" i WHERE i."runId" = r.id AND i."knnAccuracy" IS NOT NULL
          ORDER BY i.index DESC LIMIT 1) AS knn
      FROM "Run" r ORDER BY r."createdAt" DESC LIMIT ${limit}`;
  } catch (error) {
    if (isUnreachable(error))
      throw new ServiceUnavailableError(`PostgreSQL is not reachable (DATABASE_URL): ${unreachableReason(error)}`);
    throw error;
  }
  return rows.map((r) => ({
    id: r.id,
    mode: r.mode,
    status: r.status,
    temporal: null,
    iterationsDone: Number(r.done),
    iterations: r.iterations === null ? null : Number(r.iterations),
    lastKnn: r.knn,
    createdAt: r.createdAt.toISOString(),
  }));
}

/**
 * Adds Temporal's view: the live status of runs the database calls running (a terminated workflow never
 * updates its row), and runs still preparing (started, not yet in the database).
 */
async function addTemporalStatus(client: Client, runs: RunListing[]): Promise<RunListing[]> {
  for (const run of runs.filter((r) => r.status === 'running')) {
    try {
      run.temporal = (await client.workflow.getHandle(run.id).describe()).status.name;
    } catch {
      run.temporal = 'NOT_FOUND';
    }
  }
  const known = new Set(runs.map((r) => r.id));
  const preparing: RunListing[] = [];
  for await (const wf of client.workflow.list({
    query: `WorkflowType = '${RUN_WORKFLOW}' AND ExecutionStatus = 'Running'`,
  })) {
    if (known.has(wf.workflowId)) continue;
    known.add(wf.workflowId);
    preparing.push({
      id: wf.workflowId,
      mode: '?',
      status: 'preparing',
      temporal: wf.status.name,
      iterationsDone: 0,
      iterations: null,
      lastKnn: null,
      createdAt: wf.startTime.toISOString(),
    });
  }
  return [...preparing, ...runs];
}

function table(runs: RunListing[]): string {
  const head = ['RUN', 'MODE', 'STATUS', 'ITERATIONS', 'LAST kNN', 'STARTED'];
  const rows = runs.map((r) => [
    r.id,
    r.mode,
    r.temporal && r.temporal.toLowerCase() !== r.status ? `${r.status} (Temporal: ${r.temporal})` : r.status,
    `${r.iterationsDone}/${r.iterations ?? '?'}`,
    pct(r.lastKnn),
    r.createdAt ? r.createdAt.replace('T', ' ').slice(0, 19) : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('runs, newest first: id, status, iterations done/configured, last kNN accuracy')
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--no-temporal', 'only the database (skip asking Temporal for live statuses)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nReads DATABASE_URL (and TEMPORAL_ADDRESS). Exit codes: 0 listed, 3 PostgreSQL is not reachable.',
    )
    .action(async (opts: { limit: string; temporal: boolean; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError(`--limit must be a positive integer, got '${opts.limit}'`);
      let runs = await runsFromDatabase(limit).finally(closeDb);
      if (opts.temporal) {
        try {
          const client = await connectClient();
          try {
            runs = await addTemporalStatus(client, runs);
          } finally {
            await client.connection.close();
          }
        } catch (error) {
          process.stderr.write(`note: statuses from the database only: ${(error as Error).message}\n`);
        }
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      else process.stdout.write(`${runs.length ? table(runs) : 'no runs yet (ie run --target DIR starts one)'}\n`);
    });
}
