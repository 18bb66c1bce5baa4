// A Temporal cluster behind mutual TLS: the suites' server is put behind a TLS-terminating proxy that asks for
// a client certificate signed by the test's own CA (made here with openssl), as a production frontend with
// mTLS does. The CLI's client and a worker process connect with the Temporal CLI's settings
// (TEMPORAL_TLS_* environment variables); without a client certificate the connection is refused and the error
// says what to check.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { connectClient, temporalTarget } from '../../lib/client/connect';
import { WORKFLOW_QUEUE } from '../../lib/contract';
import { TEST_TEMPORAL_PORT } from './services';
import { useTestEnvironment } from './harness';
import { startWorker, stopWorker, until } from './worker-process';

jest.setTimeout(120_000);

const env = useTestEnvironment('temporal-tls');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-tls-'));
const file = (name: string) => path.join(dir, name);
let proxy: tls.Server;
let proxyAddress: string;
const saved = { ...process.env };

/** A CA, and a server and a client certificate it signed (SAN localhost and 127.0.0.1 for the server). */
function makeCertificates(): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1'],
    ...['-subj', '/CN=ie-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=keyCertSign'],
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    fs.writeFileSync(file(`${name}.ext`), `${ext}\n`);
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=ie-test-${name}`,
    );
    openssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`],
    );
  }
}

beforeAll(async () => {
  makeCertificates();
  proxy = tls.createServer(
    {
      key: fs.readFileSync(file('server.key')),
      cert: fs.readFileSync(file('server.pem')),
      ca: fs.readFileSync(file('ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const upstream = net.connect(TEST_TEMPORAL_PORT, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyAddress = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  process.env = saved;
  await new Promise((resolve) => proxy.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The Temporal CLI's settings for the proxy: its CA, the name in its certificate and, unless left out, ours. */
function useTls(withClientCertificate: boolean): void {
  process.env = { ...saved, TEMPORAL_ADDRESS: proxyAddress };
  process.env.TEMPORAL_TLS_SERVER_CA_CERT_PATH = file('ca.pem');
  process.env.TEMPORAL_TLS_SERVER_NAME = 'localhost';
  if (withClientCertificate) {
    process.env.TEMPORAL_TLS_CLIENT_CERT_PATH = file('client.pem');
    process.env.TEMPORAL_TLS_CLIENT_KEY_PATH = file('client.key');
  }
}

test('the CLI client and a worker process connect through mTLS with the Temporal CLI settings', async () => {
  useTls(true);
  expect(temporalTarget()).toMatchObject({
    address: proxyAddress,
    connectionOptions: { tls: { serverNameOverride: 'localhost' } },
  });
  const client = await connectClient();
  try {
    const info = await client.workflowService.getSystemInfo({});
    expect(info.serverVersion).toMatch(/^\d+\.\d+/);

    // A workflows-only worker process, given the same environment, polls through the proxy.
    const worker = startWorker('tls-worker', env.databaseUrl, proxyAddress, 'workflows');
    try {
      const identity = `${worker.proc.pid}@`;
      const pollers = await until(
        'the worker to poll through mTLS',
        async () => {
          const queue = await client.workflowService.describeTaskQueue({
            namespace: 'default',
            taskQueue: { name: WORKFLOW_QUEUE },
          });
          const ours = (queue.pollers ?? []).filter((p) => p.identity?.startsWith(identity));
          return ours.length > 0 ? ours : undefined;
        },
        60_000,
      );
      expect(pollers.length).toBeGreaterThan(0);
    } finally {
      await stopWorker(worker);
    }
  } finally {
    await client.connection.close();
  }
});

test('without a client certificate the frontend refuses the connection, and the error says what to check', async () => {
  useTls(false);
  await expect(connectClient()).rejects.toThrow(
    /Temporal is not reachable at 127\.0\.0\.1:\d+ .*TLS or API key settings/s,
  );
});
