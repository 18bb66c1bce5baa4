// A worker process of every role, as `ie worker` starts it, for tests that kill it or pull services from
// under it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/paths';
import { sleep } from '../../lib/services/process';
import { TEST_TEMPORAL_ADDRESS } from './services';

export interface WorkerProcess {
  proc: ChildProcess;
  /** Its stdout and stderr (JSON log lines at info). */
  log: string;
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-worker-'));

/**
 * Starts `workers/main.ts ROLES` (every role unless `roles` says otherwise, e.g. 'io,score,train') on
 * `databaseUrl` and the suites' Temporal server (or `temporalAddress`).
 */
export function startWorker(
  name: string,
  databaseUrl: string,
  temporalAddress = TEST_TEMPORAL_ADDRESS,
  roles = 'all',
): WorkerProcess {
  const log = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts'), roles], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, IE_LOG_LEVEL: 'info' },
  });
  fs.closeSync(fd);
  return { proc, log };
}

/** Whether the process is still running (it has neither exited nor been killed). */
export function running(worker: WorkerProcess): boolean {
  return worker.proc.exitCode === null && worker.proc.signalCode === null;
}

export async function killHard(proc: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
}

/** SIGTERM (the worker shuts down), SIGKILL if it has not exited 20 s later. */
export async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (!running(worker)) return;
  const exited = new Promise((resolve) => worker.proc.once('exit', resolve));
  worker.proc.kill('SIGTERM');
  const timer = setTimeout(() => worker.proc.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `probe` every 100 ms until it returns a value. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The last lines of the worker's log. */
export function logTail(worker: WorkerProcess, lines = 40): string {
  return fs.readFileSync(worker.log, 'utf8').split('\n').slice(-lines).join('\n');
}

/**
 * Runs `fn` while `worker` serves it, then stops the worker and asserts it lived through `fn`: the same
 * process, still running (nobody had to start another). A failure of `fn` carries the worker's last log lines.
 */
export async function withSurvivingWorker(worker: WorkerProcess, fn: () => Promise<void>): Promise<void> {
  const pid = worker.proc.pid;
  try {
    await fn();
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker log (last lines):\n${logTail(worker)}`, { cause: error });
  } finally {
    const alive = running(worker);
    await stopWorker(worker);
    expect({ pid: worker.proc.pid, alive }).toEqual({ pid, alive: true });
  }
}
