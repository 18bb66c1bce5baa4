// Killing a run's processes at chosen moments: a worker process whose log lines the test reads as they are
// written (so it can be killed the moment a stage starts), and the figures of a finished run that two runs
// of the same config and seed must share within a tolerance.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { db } from '../../../lib/db';
import { PROJECT_ROOT } from '../../../lib/paths';
import { float32FromBytes } from '../../../lib/bytes';
import { iterationWorkflowId } from '../../../lib/contract';
import { TEST_TEMPORAL_ADDRESS } from '../services';
import type { WorkerProcess } from '../worker-process';

/** One JSON log line of a worker (pino): `msg` and whatever the line binds (runId, iteration, stage, attempt). */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface WatchedWorker extends WorkerProcess {
  /** Resolves with the first line (already written or still to come) that `match` accepts. */
  waitForLine(what: string, match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Every line so far. */
  lines(): LogLine[];
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-kill-'));

export interface WatchedWorkerOptions {
  /** Roles to poll (default all). */
  roles?: string;
  /** Environment on top of this process's (a host's own IE_STATE_DIR, its object store). */
  env?: NodeJS.ProcessEnv;
  /** In a process group of its own, so killing the group takes its children (a trainer) with it. */
  group?: boolean;
  /** The command line that runs the worker's (e.g. inside a network namespace: test/integration/netns.ts). */
  command?: (argv: string[]) => { command: string; args: string[] };
}

/**
 * Starts `workers/main.ts all` (as `ie worker` does) on the suites' Temporal server and `databaseUrl`, its
 * output piped to this process: each line is kept, appended to `<tmp>/ie-kill-*\/<name>.log` and offered to
 * the waiters at once, so a test can act within milliseconds of a stage saying it started.
 */
export function startWatchedWorker(
  name: string,
  databaseUrl: string,
  options: WatchedWorkerOptions = {},
): WatchedWorker {
  const log = path.join(logDir, `${name}.log`);
  fs.writeFileSync(log, '');
  const main = path.join(PROJECT_ROOT, 'workers', 'main.ts');
  const argv = [process.execPath, '--import', 'tsx', main, options.roles ?? 'all'];
  const { command, args } = options.command?.(argv) ?? { command: argv[0], args: argv.slice(1) };
  const proc = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
    env: {
      ...process.env,
      ...options.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: TEST_TEMPORAL_ADDRESS,
      IE_LOG_LEVEL: 'info',
    },
  });
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  const onText = (() => {
    let partial = '';
    return (chunk: Buffer) => {
      fs.appendFileSync(log, chunk);
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { msg: text };
        }
        lines.push(line);
        for (const waiter of [...waiters]) waiter(line);
      }
    };
  })();
  proc.stdout?.on('data', onText);
  proc.stderr?.on('data', onText);
  return {
    proc,
    log,
    lines: () => lines,
    waitForLine(what, match, timeoutMs = 300_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = () => {
          waiters.delete(waiter);
          clearTimeout(timer);
          proc.off('exit', exited);
        };
        const waiter = (line: LogLine) => {
          if (!match(line)) return;
          done();
          resolve(line);
        };
        const exited = () => {
          done();
          reject(new Error(`worker ${name} exited before ${what} (log: ${log})`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${what} (log: ${log})`));
        }, timeoutMs);
        waiters.add(waiter);
        proc.once('exit', exited);
      });
    },
  };
}

/** A log line of `stage` of `iteration` saying its first attempt started. */
export const stageStarted = (stage: string, iteration: number) => (line: LogLine) =>
  line.msg === 'stage started' && line.stage === stage && line.iteration === iteration && line.attempt === 1;

/** How each attempt of one activity of an iteration's execution started: its attempt and why the one before ended. */
export async function activityAttempts(
  client: Client,
  runId: string,
  iteration: number,
  activityType: string,
): Promise<{ attempt: number; lastFailure: string | null }[]> {
  const history = await client.workflow.getHandle(iterationWorkflowId(runId, iteration)).fetchHistory();
  const scheduled = new Set<string>();
  const attempts: { attempt: number; lastFailure: string | null }[] = [];
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      scheduled.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId)))
      attempts.push({ attempt: started.attempt ?? 1, lastFailure: started.lastFailure?.message ?? null });
  }
  return attempts;
}

/**
 * The floating-point figures of a finished run, by natural key (without the run id): rewards, standardised
 * rewards, the concept distribution's predictions and probabilities, evaluation metrics, training losses.
 */
export async function runFigures(runId: string): Promise<Map<string, number>> {
  const where = { where: { runId } };
  const figures = new Map<string, number>();
  const put = (key: string, value: number | null | undefined) => {
    if (value !== null && value !== undefined) figures.set(key, value);
  };
  for (const r of await db().imageReward.findMany(where)) put(`imageReward ${r.iteration} ${r.sha256}`, r.reward);
  for (const r of await db().conceptReward.findMany(where)) {
    put(`conceptReward ${r.iteration} ${r.conceptId}`, r.reward);
    put(`conceptReward.standardised ${r.iteration} ${r.conceptId}`, r.standardised);
  }
  for (const r of await db().conceptEvidence.findMany(where)) {
    put(`conceptEvidence ${r.conceptId}`, r.reward);
    put(`conceptEvidence.standardised ${r.conceptId}`, r.standardised);
  }
  for (const r of await db().replayMember.findMany(where)) put(`replayMember ${r.sha256}`, r.reward);
  for (const r of await db().evaluation.findMany(where)) put(`evaluation ${r.iteration} ${r.metric}`, r.value);
  for (const r of await db().iteration.findMany(where)) put(`iteration.trainLoss ${r.index}`, r.trainLoss);
  for (const r of await db().distribution.findMany(where)) {
    put(`distribution.temperature ${r.iteration}`, r.temperature);
    put(`distribution.lengthScale ${r.iteration}`, r.lengthScale);
    put(`distribution.noise ${r.iteration}`, r.noise);
    float32FromBytes(r.predicted).forEach((v, i) => put(`distribution.predicted ${r.iteration} ${i}`, v));
    float32FromBytes(r.probs).forEach((v, i) => put(`distribution.probs ${r.iteration} ${i}`, v));
  }
  return figures;
}

/** The figures whose values differ by more than `tolerance` (absolute), or that only one run has. */
export function figuresApart(
  expected: Map<string, number>,
  actual: Map<string, number>,
  tolerance: number,
): { key: string; expected: number | undefined; actual: number | undefined }[] {
  const keys = new Set([...expected.keys(), ...actual.keys()]);
  return [...keys]
    .filter((key) => {
      const a = expected.get(key);
      const b = actual.get(key);
      return a === undefined || b === undefined || !(Math.abs(a - b) <= tolerance);
    })
    .map((key) => ({ key, expected: expected.get(key), actual: actual.get(key) }));
}

/** The largest absolute difference between figures both runs have. */
export function largestDifference(expected: Map<string, number>, actual: Map<string, number>): number {
  let largest = 0;
  for (const [key, a] of expected) {
    const b = actual.get(key);
    if (b !== undefined) largest = Math.max(largest, Math.abs(a - b));
  }
  return largest;
}
