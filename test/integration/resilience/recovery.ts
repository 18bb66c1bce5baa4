// What each fault test measured, for the table in docs/reliability.md: whether the run survived, rows lost
// against the uninterrupted run, and the time the fault cost it. Each test writes its own record under
// <state>/resilience/ when it has its figures; `npx tsx scripts/resilience-table.ts` prints the table.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startRun } from '../../../lib/client';
import type { RunConfigInput } from '../../../lib/config';
import { stateDir } from '../../../lib/paths';
import { startWorker, stopWorker } from '../worker-process';

export interface Recovery {
  /** The fault, as the table names it. */
  fault: string;
  /** The run completed by itself (or, where a person is asked to act, after that one action). */
  survived: boolean;
  /** Rows of the uninterrupted run, by natural key, that the faulted run lacks (null: not compared). */
  rowsLost: number | null;
  /** Wall time of the uninterrupted run and of the faulted one, from start to result. */
  referenceMs: number | null;
  faultedMs: number;
  /** How long the fault itself lasted (a service stopped, a process frozen), when it has a length. */
  outageMs?: number;
}

export const recoveryDir = () => path.join(stateDir(), 'resilience');

/** Writes the record (one file per fault, replaced by the next measurement). */
export function recordRecovery(recovery: Recovery): void {
  fs.mkdirSync(recoveryDir(), { recursive: true });
  const file = path.join(recoveryDir(), `${recovery.fault.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...recovery, measuredAt: new Date().toISOString() }, null, 2) + '\n');
}

/** How many of `expected`'s rows (by natural key, table by table, duplicates counted) `actual` lacks. */
export function rowsLost(expected: Record<string, string[]>, actual: Record<string, string[]>): number {
  let lost = 0;
  for (const [table, rows] of Object.entries(expected)) {
    const have = new Map<string, number>();
    for (const row of actual[table] ?? []) have.set(row, (have.get(row) ?? 0) + 1);
    for (const row of rows) {
      const n = have.get(row) ?? 0;
      if (n > 0) have.set(row, n - 1);
      else lost++;
    }
  }
  return lost;
}

/** Runs `fn` and returns its result with the wall time it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

/**
 * The uninterrupted run a fault test compares with: `config` under `runId` (the id seeds the run's draws), on
 * `databaseUrl` (a database of its own), served by one worker process of every role. Returns its wall time.
 */
export async function referenceRun(
  client: Client,
  runId: string,
  config: RunConfigInput,
  databaseUrl: string,
): Promise<number> {
  const worker = startWorker(`${runId}-reference`, databaseUrl);
  try {
    const { value, ms } = await timed(async () => (await startRun(client, runId, config)).result());
    expect(value.status).toBe('completed');
    return ms;
  } finally {
    await stopWorker(worker);
  }
}
