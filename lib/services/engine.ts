import path from 'node:path';
import axios from 'axios';
import { PROJECT_ROOT, stateDir } from '../paths';
import { readPid, spawnDetached, stopProcess, waitFor, type ServiceProcess } from './process';

export const DEFAULT_ENGINE_PORT = 8600;

function service(): ServiceProcess {
  const dir = path.join(stateDir(), 'engine');
  return { name: 'local search engine', pidFile: path.join(dir, 'engine.pid'), logFile: path.join(dir, 'engine.log') };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await axios.get(`${url}/health`, { timeout: 2000, validateStatus: () => true });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Starts (or reuses) the local search engine over the default corpus (or `manifest`). */
export async function ensureEngine(
  opts: { port?: number; manifest?: string } = {},
): Promise<{ url: string; started: boolean }> {
  const port = opts.port ?? DEFAULT_ENGINE_PORT;
  const url = `http://127.0.0.1:${port}`;
  if (await healthy(url)) return { url, started: false };
  const svc = service();
  if (readPid(svc.pidFile) === undefined) {
    const args = ['--import', 'tsx', path.join(PROJECT_ROOT, 'engine', 'main.ts'), '--port', String(port)];
    if (opts.manifest) args.push('--manifest', opts.manifest);
    spawnDetached(svc, process.execPath, args);
  }
  await waitFor('local search engine', () => healthy(url), 180_000, svc.logFile);
  return { url, started: true };
}

export function stopEngine(): Promise<boolean> {
  return stopProcess(service());
}
