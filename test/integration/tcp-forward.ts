// Forwards TCP connections: each port on `listenHost` to the same port on `toHost`. The multi-host test puts
// each worker process in a network namespace of its own, reaching the shared services only through these.
//
//   node --import tsx test/integration/tcp-forward.ts LISTEN_HOST TO_HOST PORT [PORT…]
// prints "forwarding" once every port listens.
import net from 'node:net';

/** Listens on `listenHost:port` and pipes each connection to `toHost:port`; resolves once listening. */
export function forward(listenHost: string, toHost: string, port: number): Promise<net.Server> {
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: toHost, port });
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => resolve(server));
  });
}

if (require.main === module) {
  const [listenHost, toHost, ...ports] = process.argv.slice(2);
  Promise.all(ports.map((p) => forward(listenHost, toHost, Number(p))))
    .then(() => process.stdout.write('forwarding\n'))
    .catch((error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    });
}
