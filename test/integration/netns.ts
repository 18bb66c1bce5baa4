// Network namespaces for the multi-host test: each "host" is a namespace with its own loopback, joined to this
// one by a veth pair, in which 127.0.0.1:PORT of each shared service (PostgreSQL, Temporal, the object store,
// the search engine) is forwarded to the real one here and nothing else is reachable. Needs root (or
// CAP_NET_ADMIN) and iproute2; `namespacesAvailable` says whether this machine allows them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../../lib/paths';
import { forward } from './tcp-forward';

function ip(...args: string[]): void {
  const res = spawnSync('ip', args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`ip ${args.join(' ')}: ${res.stderr || res.error?.message}`);
}

/** Whether network namespaces can be made here (why not, when they cannot). */
export function namespacesAvailable(): { ok: true } | { ok: false; why: string } {
  const probe = `ie-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('link', 'add', `${probe.slice(0, 10)}a`, 'type', 'veth', 'peer', 'name', `${probe.slice(0, 10)}b`);
    ip('link', 'del', `${probe.slice(0, 10)}a`);
    ip('netns', 'exec', probe, 'ip', 'link', 'set', 'lo', 'up');
    return { ok: true };
  } catch (error) {
    return { ok: false, why: (error as Error).message.trim() };
  } finally {
    spawnSync('ip', ['netns', 'del', probe]);
  }
}

export interface HostNamespace {
  name: string;
  /** The command line that runs `argv` inside the namespace. */
  command(argv: string[]): { command: string; args: string[] };
  close(): Promise<void>;
}

/**
 * Namespace `ie-h<index>-<pid>` with 10.213.<index>.2 on its end of the veth pair, 10.213.<index>.1 on ours,
 * and `ports` forwarded from its 127.0.0.1 to ours (a forwarder inside the namespace to our end of the pair,
 * one here from there to 127.0.0.1).
 */
export async function hostNamespace(index: number, ports: number[]): Promise<HostNamespace> {
  const name = `ie-h${index}-${process.pid}`;
  const ours = `ieh${index}o${process.pid % 10000}`;
  const theirs = `ieh${index}t${process.pid % 10000}`;
  const outer = `10.213.${index}.1`;
  const inner = `10.213.${index}.2`;
  const servers: net.Server[] = [];
  let forwarder: ChildProcess | undefined;
  const close = async () => {
    forwarder?.kill('SIGKILL');
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    spawnSync('ip', ['netns', 'del', name]);
    spawnSync('ip', ['link', 'del', ours]);
  };
  try {
    ip('netns', 'add', name);
    ip('link', 'add', ours, 'type', 'veth', 'peer', 'name', theirs);
    ip('link', 'set', theirs, 'netns', name);
    ip('addr', 'add', `${outer}/30`, 'dev', ours);
    ip('link', 'set', ours, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${inner}/30`, 'dev', theirs);
    ip('netns', 'exec', name, 'ip', 'link', 'set', theirs, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    for (const port of ports) servers.push(await forward(outer, '127.0.0.1', port));
    forwarder = spawn(
      'ip',
      [
        'netns',
        'exec',
        name,
        process.execPath,
        '--import',
        'tsx',
        path.join(PROJECT_ROOT, 'test', 'integration', 'tcp-forward.ts'),
        '127.0.0.1',
        outer,
        ...ports.map(String),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    for await (const line of createInterface({ input: forwarder.stdout! })) if (line === 'forwarding') break;
    if (forwarder.exitCode !== null) throw new Error(`the forwarder in ${name} exited (${forwarder.exitCode})`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    name,
    command: (argv) => ({ command: 'ip', args: ['netns', 'exec', name, ...argv] }),
    close,
  };
}

/** Whether a TCP connection to 127.0.0.1:`port` succeeds from inside the namespace. */
export function reachableFrom(ns: HostNamespace, port: number): boolean {
  const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`;
  const { command, args } = ns.command([process.execPath, '-e', script]);
  return spawnSync(command, args, { timeout: 20_000 }).status === 0;
}
