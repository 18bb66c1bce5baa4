import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A background service started by our tooling: its pid is kept in a file so later invocations reuse it. */
export interface ServiceProcess {
  name: string;
  pidFile: string;
  logFile: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `command` detached from this process (it outlives us), logging to `logFile`. */
export function spawnDetached(
  service: ServiceProcess,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): number {
  fs.mkdirSync(path.dirname(service.logFile), { recursive: true });
  const log = fs.openSync(service.logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${service.name}: ${command} did not spawn`);
  child.unref();
  fs.writeFileSync(service.pidFile, `${child.pid}\n`);
  return child.pid;
}

export async function stopProcess(service: ServiceProcess, timeoutMs = 15_000): Promise<boolean> {
  const pid = readPid(service.pidFile);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(service.pidFile, { force: true });
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `ready` until it holds; the error names the service and its log so a user knows where to look. */
export async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number, logFile?: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await sleep(200);
  }
  const tail =
    logFile && fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
  throw new Error(
    `${what} did not become ready within ${timeoutMs / 1000}s${logFile ? `; see ${logFile}:\n${tail}` : ''}`,
  );
}
