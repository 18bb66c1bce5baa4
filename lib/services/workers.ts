import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, stateDir } from '../paths';
import { readPid, spawnDetached, stopProcess, waitFor, type ServiceProcess } from './process';

/** The local worker process (all roles) that `ie demo` starts and `ie down` stops. */
export function localWorkersService(): ServiceProcess {
  return {
    name: 'workers',
    pidFile: path.join(stateDir(), 'services', 'workers.pid'),
    logFile: path.join(stateDir(), 'logs', 'workers.log'),
  };
}

/**
 * Starts (or reuses) one worker process with every role, detached, against the services in this
 * process's environment (DATABASE_URL, TEMPORAL_ADDRESS, IE_ENGINE_URL); resolves once it polls.
 */
export async function ensureLocalWorkers(): Promise<{ started: boolean; logFile: string; pid: number }> {
  const service = localWorkersService();
  const running = readPid(service.pidFile);
  if (running !== undefined) return { started: false, logFile: service.logFile, pid: running };
  fs.mkdirSync(path.dirname(service.pidFile), { recursive: true });
  const readyFile = path.join(stateDir(), 'services', 'workers.ready');
  fs.rmSync(readyFile, { force: true });
  const pid = spawnDetached(
    service,
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts'), 'all'],
    {
      ...process.env,
      // Workers log at info to their file unless asked otherwise.
      IE_LOG_LEVEL: process.env.IE_WORKER_LOG_LEVEL ?? 'info',
      IE_WORKER_READY_FILE: readyFile,
    },
  );
  await waitFor(
    'workers',
    async () => {
      if (readPid(service.pidFile) === undefined) throw new Error(`the worker process exited; see ${service.logFile}`);
      return fs.existsSync(readyFile);
    },
    120_000,
    service.logFile,
  );
  return { started: true, logFile: service.logFile, pid };
}

/** Stops the local worker process, letting activities in flight be retried later. */
export function stopLocalWorkers(): Promise<boolean> {
  return stopProcess(localWorkersService(), 30_000);
}
