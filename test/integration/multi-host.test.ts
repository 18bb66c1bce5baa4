// Many hosts: the workflow and io roles, the score role and the train role run as separate processes, each
// with a state folder of its own that no other reads, sharing only Temporal, PostgreSQL and an S3 object store
// (SeaweedFS). A run of 2 iterations completes and its rows equal a one-host run's by natural key; the train
// host is killed (its worker and trainer) after a checkpoint of iteration 1, and a train worker on another host
// (an empty state folder) resumes from that checkpoint, fetched from the object store.
// Where the machine allows network namespaces (root or CAP_NET_ADMIN, iproute2), each host runs in one of its
// own: its loopback forwards the four shared services' ports and reaches nothing else (test/integration/netns.ts);
// elsewhere the hosts share this machine's loopback, which the test says on stderr.
// Takes about 5 minutes on 2 cores.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closeDb, db } from '../../lib/db';
import { stateDir } from '../../lib/paths';
import { startRun } from '../../lib/client';
import { SEAWEEDFS_CREDENTIALS } from '../../lib/services/seaweedfs';
import { S3ObjectStore } from '../../lib/storage';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment } from './harness';
import { expectOneRowPerNaturalKey, naturalKeys } from './run-rows';
import { hostNamespace, namespacesAvailable, reachableFrom, type HostNamespace } from './netns';
import { TEST_BUCKET, TEST_S3_ENDPOINT, TEST_TEMPORAL_PORT } from './services';
import { stopWorker, until } from './worker-process';
import { figuresApart, runFigures, stageStarted, startWatchedWorker, type WatchedWorker } from './resilience/kill';
import { referenceRun } from './resilience/recovery';

jest.setTimeout(20 * 60_000);

/** As in the fault tests: on CPU with the same seed the figures are equal but for summation order. */
const FIGURE_TOLERANCE = 1e-5;

const env = useTestEnvironment('multi-host', { engine: {}, database: false });

const hostsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-hosts-'));

/** A host's own state folder. The concept-embedding cache (built from the vocabulary, read-only, ~1 GB) is
 * linked from this machine's rather than built again on each host; nothing a run writes is shared. */
function hostStateDir(name: string): string {
  const dir = path.join(hostsRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(path.join(stateDir(), 'concepts'), path.join(dir, 'concepts'));
  return dir;
}

/** Every file under `dir` (links not followed), relative to it. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

test('io, score and train on separate hosts sharing only Temporal, PostgreSQL and S3: the run equals a one-host run, and a killed train host resumes elsewhere from its checkpoint', async () => {
  // Enough steps that the train host is killed mid-training after a checkpoint of iteration 1.
  const config = env.runConfig({ train: { steps: 24, checkpointEvery: 4, batchSize: 32 } });
  const runId = uniqueId('it-hosts');
  const { client, connection } = await temporalClient();
  const hostEnv = (dir: string): NodeJS.ProcessEnv => ({
    IE_STATE_DIR: dir,
    IE_STORE_DIR: path.join(dir, 'store'),
    IE_OBJECT_STORE: `s3://${TEST_BUCKET}/${runId}`,
    IE_S3_ENDPOINT: TEST_S3_ENDPOINT,
    AWS_ACCESS_KEY_ID: SEAWEEDFS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SEAWEEDFS_CREDENTIALS.secretAccessKey,
  });
  const hosts: WatchedWorker[] = [];
  const namespaces: HostNamespace[] = [];
  const isolation = namespacesAvailable();
  if (!isolation.ok) process.stderr.write(`multi-host: the hosts share the loopback (${isolation.why})\n`);
  try {
    // The one-host run, under the same id (the id seeds the run's draws), in a database of its own.
    await referenceRun(client, runId, config, await createTestDatabase('hosts_reference'));
    const expected = { keys: await naturalKeys(runId), figures: await runFigures(runId) };
    fs.rmSync(path.join(stateDir(), 'runs', runId), { recursive: true, force: true });

    const url = await createTestDatabase('hosts');
    const dirs = { io: hostStateDir('io'), score: hostStateDir('score'), train: hostStateDir('train') };
    // What a host may reach: PostgreSQL, Temporal, the object store and the search engine, nothing else.
    const shared = [url, `http://127.0.0.1:${TEST_TEMPORAL_PORT}`, TEST_S3_ENDPOINT, env.engine.url].map((u) =>
      Number(new URL(u).port),
    );
    const start = async (name: string, roles: string, dir: string) => {
      const ns = isolation.ok ? await hostNamespace(namespaces.length + 1, shared) : undefined;
      if (ns) namespaces.push(ns);
      const host = startWatchedWorker(`hosts-${name}`, url, {
        roles,
        env: hostEnv(dir),
        group: true,
        command: ns?.command,
      });
      hosts.push(host);
      return host;
    };
    await start('io', 'workflows,io', dirs.io);
    await start('score', 'score', dirs.score);
    const train = await start('train', 'train', dirs.train);
    if (isolation.ok) {
      // A port of this machine's loopback that is not one of the shared services' is out of a host's reach.
      const elsewhere = net.createServer().listen(0, '127.0.0.1');
      await new Promise((resolve) => elsewhere.once('listening', resolve));
      try {
        expect(reachableFrom(namespaces[0], (elsewhere.address() as net.AddressInfo).port)).toBe(false);
        expect(reachableFrom(namespaces[0], shared[0])).toBe(true);
      } finally {
        elsewhere.close();
      }
    }

    const handle = await startRun(client, runId, config);
    await train.waitForLine('training of iteration 1', stageStarted('train', 1), 600_000);
    await until('a checkpoint of iteration 1', async () =>
      (await db().checkpoint.count({ where: { runId, iteration: 1 } })) > 0 ? true : undefined,
    );
    // The train host goes down: its worker and its trainer, at once.
    const exited = new Promise((resolve) => train.proc.once('exit', resolve));
    process.kill(-train.proc.pid!, 'SIGKILL');
    await exited;
    const newest = await db().checkpoint.findFirstOrThrow({
      where: { runId, iteration: 1 },
      orderBy: { step: 'desc' },
    });

    // Another train host, with nothing of the first one's on its disk.
    const otherDir = hostStateDir('train-2');
    const other = await start('train-2', 'train', otherDir);
    const resumed = await other.waitForLine(
      'training of iteration 1 resumed from a checkpoint',
      (line) => line.msg === 'training resumed from checkpoint' && line.iteration === 1,
      240_000,
    );
    expect(resumed.step).toBeGreaterThanOrEqual(newest.step);
    const result = await handle.result();
    expect(result.status).toBe('completed');
    expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);

    // The database names objects by key, never by a host's path.
    const images = await db().image.findMany({ select: { path: true } });
    expect(images.length).toBeGreaterThan(0);
    expect(images.filter((i) => !/^store\/[0-9a-f]{2}\/[0-9a-f]{64}\.jpg$/.test(i.path))).toEqual([]);
    const iterations = await db().iteration.findMany({ where: { runId }, orderBy: { index: 'asc' } });
    for (const it of iterations) {
      expect(it.onnxPath).toMatch(new RegExp(`^runs/${runId}/iter-00${it.index}/encoder\\.onnx$`));
      expect(it.checkpoint).toMatch(new RegExp(`^runs/${runId}/iter-00${it.index}/train/ckpt-\\d+\\.pt$`));
    }
    // Each host holds only what its roles wrote or fetched: the io host trained and scored nothing, the score
    // host trained and wrote no shards.
    const ioFiles = filesUnder(dirs.io);
    expect(ioFiles.filter((f) => /\.onnx$|ckpt-|target-embeddings/.test(f))).toEqual([]);
    expect(ioFiles.some((f) => f.startsWith('store/'))).toBe(true);
    expect(filesUnder(dirs.score).filter((f) => /ckpt-|shards\//.test(f))).toEqual([]);
    // The second train host fetched iteration 0's final checkpoint (to start iteration 1 from) and trained on.
    const otherFiles = filesUnder(otherDir);
    expect(otherFiles).toContain(path.join(...iterations[0].checkpoint!.split('/')));
    expect(otherFiles).toContain(path.join(...iterations[1].checkpoint!.split('/')));

    // Everything a later stage needs is in the object store under the run's prefix.
    const store = new S3ObjectStore({
      bucket: TEST_BUCKET,
      prefix: `${runId}/`,
      endpoint: TEST_S3_ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: SEAWEEDFS_CREDENTIALS,
    });
    try {
      const keys = new Set(await store.list(''));
      for (const it of iterations) {
        expect(keys.has(it.onnxPath!)).toBe(true);
        expect(keys.has(`${it.onnxPath!}.json`)).toBe(true);
        expect(keys.has(it.checkpoint!)).toBe(true);
      }
      expect(images.filter((i) => !keys.has(i.path))).toEqual([]);
    } finally {
      store.close();
    }

    await expectOneRowPerNaturalKey(runId);
    const actual = await naturalKeys(runId);
    for (const table of Object.keys(expected.keys))
      expect([table, actual[table]]).toEqual([table, expected.keys[table]]);
    expect(figuresApart(expected.figures, await runFigures(runId), FIGURE_TOLERANCE)).toEqual([]);
  } finally {
    await Promise.all(hosts.map(stopWorker));
    await Promise.all(namespaces.map((ns) => ns.close()));
    fs.rmSync(hostsRoot, { recursive: true, force: true });
    await connection.close();
    await closeDb();
  }
});
