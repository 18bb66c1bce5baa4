// The deployment's service files (deploy/systemd) as systemd would run them: each unit passes
// `systemd-analyze verify`, and each instance's command starts with the unit's working folder, environment
// files and Environment= lines, reports its workers ready, serves metrics where its instance file says, and
// stops cleanly on the unit's KillSignal within TimeoutStopSec. The install prefix /opt/internet-explorer is
// this checkout; the example settings' site-specific values (addresses, keys, folders) are this suite's.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';
import { SEAWEEDFS_CREDENTIALS } from '../../lib/services/seaweedfs';
import { useTestEnvironment } from './harness';
import { TEST_BUCKET, TEST_S3_ENDPOINT, TEST_TEMPORAL_ADDRESS } from './services';

jest.setTimeout(5 * 60_000);

const env = useTestEnvironment('deployment');
const PREFIX = '/opt/internet-explorer';
const ETC = '/etc/internet-explorer';
const deployDir = path.join(PROJECT_ROOT, 'deploy');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-deploy-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The [Service] section's settings of a unit, in order (a key may repeat), with %i replaced. */
function serviceSettings(unit: string, instance: string): [string, string][] {
  const settings: [string, string][] = [];
  let section = '';
  for (const raw of fs.readFileSync(path.join(deployDir, 'systemd', unit), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1];
    else if (section === 'Service') {
      const eq = line.indexOf('=');
      settings.push([line.slice(0, eq), line.slice(eq + 1).replaceAll('%i', instance)]);
    }
  }
  return settings;
}

/** KEY=value lines of an environment file (systemd's syntax: no quotes, no expansion). */
function environmentFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Where the deployment's /etc files are, here: the shipped examples. */
function etcFile(file: string): string {
  const name = path.relative(ETC, file);
  return path.join(deployDir, name === 'env' ? 'internet-explorer.env.example' : `${name}.example`);
}

/** One GET on a connection of its own (none left open for Jest to wait on). */
function getOnce(url: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** This suite's values for what every site sets for itself. */
function siteValues(metricsPort: number): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: TEST_TEMPORAL_ADDRESS,
    DATABASE_URL: `${env.databaseUrl}${env.databaseUrl.includes('?') ? '&' : '?'}connection_limit=5`,
    IE_OBJECT_STORE: `s3://${TEST_BUCKET}/deployment`,
    IE_S3_ENDPOINT: TEST_S3_ENDPOINT,
    AWS_ACCESS_KEY_ID: SEAWEEDFS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SEAWEEDFS_CREDENTIALS.secretAccessKey,
    IE_STATE_DIR: path.join(work, 'state'),
    IE_PYTHON: pythonExecutable(),
    IE_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
  };
}

test.each(['ie-worker@.service', 'ie-train@.service'])('%s passes systemd-analyze verify', (unit) => {
  const text = fs
    .readFileSync(path.join(deployDir, 'systemd', unit), 'utf8')
    .replaceAll(PREFIX, PROJECT_ROOT)
    .replace(/^User=.*$/m, `User=${os.userInfo().username}`)
    .replace(/^Group=.*$/m, '');
  const instance = path.join(work, unit.replace('@', '@0'));
  fs.writeFileSync(instance, text);
  let stderr = '';
  try {
    execFileSync('systemd-analyze', ['verify', '--man=no', instance], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    stderr = String((error as { stderr?: Buffer }).stderr ?? error);
  }
  // Lines about the host's own units (none here) are not the file's; anything naming it is.
  expect(stderr.split('\n').filter((l) => l.includes(path.basename(instance)))).toEqual([]);
});

test.each([
  ['ie-worker@.service', 'io', ['io']],
  ['ie-worker@.service', 'score', ['score']],
  ['ie-train@.service', '0', ['train']],
])(
  '%s instance %s starts its workers as systemd runs it and stops on its KillSignal',
  async (unit, instance, roles) => {
    const settings = serviceSettings(unit, instance);
    const get = (key: string) => settings.filter(([k]) => k === key).map(([, v]) => v);
    const metricsPort = await freePort();
    let environment: NodeJS.ProcessEnv = {};
    for (const spec of get('EnvironmentFile')) {
      const optional = spec.startsWith('-');
      const file = etcFile(optional ? spec.slice(1) : spec);
      if (fs.existsSync(file)) environment = { ...environment, ...environmentFile(file) };
      else expect([spec, optional]).toEqual([spec, true]);
    }
    for (const assignment of get('Environment')) {
      const eq = assignment.indexOf('=');
      environment[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
    // The examples name every setting a site must give; this suite gives its own values for them.
    for (const key of Object.keys(siteValues(0)).filter((k) => k !== 'IE_METRICS_ADDRESS'))
      expect([key, key in environment]).toEqual([key, true]);
    if (instance === 'io') expect(environment.IE_METRICS_ADDRESS).toMatch(/^0\.0\.0\.0:\d+$/);
    environment = { ...environment, ...siteValues(metricsPort) };

    const [command, ...args] = get('ExecStart')[0].replaceAll(PREFIX, PROJECT_ROOT).split(/\s+/);
    const cwd = get('WorkingDirectory')[0].replace(PREFIX, PROJECT_ROOT);
    const proc = spawn(command, args, {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 120_000;
      while (!output.includes('workers ready on') && Date.now() < deadline && proc.exitCode === null)
        await new Promise((r) => setTimeout(r, 200));
      expect(output).toContain(`workers ready on ${TEST_TEMPORAL_ADDRESS}`);
      for (const role of roles) expect(output).toContain(`${role} → ie-${role}`);
      if (instance === '0')
        expect(fs.readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0')).toContain('CUDA_VISIBLE_DEVICES=0');
      const metrics = await getOnce(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('temporal_');
    } finally {
      const signal = get('KillSignal')[0] as NodeJS.Signals;
      const stopWithin = Number(get('TimeoutStopSec')[0]) * 1000;
      const started = Date.now();
      proc.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), stopWithin))),
      ]);
      clearTimeout(timer);
      if (code === 'late') proc.kill('SIGKILL');
      expect({ code, within: Date.now() - started < stopWithin }).toEqual({ code: 0, within: true });
    }
  },
);
