// Whether adding download hosts speeds up a run: one iteration whose downloads are split into shards
// (`download.shards`), served by 1 and then by 2 io worker processes, against the local search engine with
// injected image latency (a web that answers slowly, as the real one does, so that fetch slots are the limit).
//
//   node --import tsx bench/download-shards.ts [--latency-ms 250] [--queries 128] [--results 20] [--shards 4]
//     [--concurrency 8] [--io 1,2]
//
// Each arm has its own database, state folder and content store (nothing fetched or normalised in one arm is
// reused by the next), one worker process of the other roles and N of role io, on a Temporal dev server of
// its own (in memory, port 7352). Measured per arm: the download window, from the first shard's start to the
// last one's end (the shard activities' events in the iteration's history), the fetches recorded, images
// stored per second, and the ratio against 1 io worker.
import './scale/env';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { closeDb, db } from '../lib/db';
import { PROJECT_ROOT, stateDir } from '../lib/paths';
import { iterationWorkflowId } from '../lib/contract';
import type { RunConfigInput } from '../lib/config';
import { startRun } from '../lib/client';
import { ensureLocalPostgres, localDatabaseUrl, migrateDeploy, recreateDatabase } from '../lib/services/postgres';
import { ensureTemporalDevServer, stopTemporalDevServer } from '../lib/services/temporal';
import { PETS_CLASSES, prepareValTarget } from '../lib/targets';
import { startEngine } from '../engine/server';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { benchOptions, numberListOption, numberOption } from './options';

const TEMPORAL_PORT = 7352;
const TEMPORAL_NAME = `temporal-bench-${TEMPORAL_PORT}`;

const options = benchOptions(
  'node --import tsx bench/download-shards.ts [--latency-ms 250] [--queries 128] [--results 20] [--shards 4] [--concurrency 8] [--io 1,2]',
  {
    'latency-ms': { type: 'string', default: '250' },
    queries: { type: 'string', default: '128' },
    results: { type: 'string', default: '20' },
    shards: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '8' },
    io: { type: 'string', default: '1,2' },
  },
);
const latencyMs = numberOption(options['latency-ms'], 'latency-ms');
const queries = numberOption(options.queries, 'queries');
const results = numberOption(options.results, 'results');
const shards = numberOption(options.shards, 'shards');
const concurrency = numberOption(options.concurrency, 'concurrency');
const arms = numberListOption(options.io, 'io');

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Arm {
  io: number;
  urls: number;
  fetches: number;
  ok: number;
  windowS: number;
  imagesPerS: number;
}

/** A worker process of `roles` on the arm's database and state, its output in `logFile`. */
function startWorker(roles: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts'), roles], {
    stdio: ['ignore', fd, fd],
    env,
  });
  closeSync(fd);
  return proc;
}

async function stopWorkers(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 20_000).unref();
        }),
    ),
  );
}

/** From the first shard activity's start to the last one's completion, in seconds. */
async function shardWindowSeconds(client: Client, runId: string): Promise<number> {
  const history = await client.workflow.getHandle(iterationWorkflowId(runId, 0)).fetchHistory();
  const shardEvents = new Set<string>();
  const times: number[] = [];
  const at = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
    Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'downloadShard')
      shardEvents.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    const completed = event.activityTaskCompletedEventAttributes;
    if (started && shardEvents.has(String(started.scheduledEventId))) times.push(at(event));
    if (completed && shardEvents.has(String(completed.scheduledEventId))) times.push(at(event));
  }
  if (times.length === 0) throw new Error(`run ${runId} ran no download shards`);
  return (Math.max(...times) - Math.min(...times)) / 1000;
}

async function runArm(
  io: number,
  runId: string,
  shared: string,
  manifestPath: string,
  temporalAddress: string,
): Promise<Arm> {
  const database = `ie_bench_shards_${io}`;
  const databaseUrl = await recreateDatabase(localDatabaseUrl('postgres'), database);
  migrateDeploy(databaseUrl);
  await closeDb();
  process.env.DATABASE_URL = databaseUrl;

  const work = mkdtempSync(path.join(tmpdir(), `ie-bench-shards-${io}-`));
  const state = path.join(work, 'state');
  mkdirSync(state, { recursive: true });
  if (existsSync(path.join(shared, 'concepts')))
    symlinkSync(path.join(shared, 'concepts'), path.join(state, 'concepts'));
  const engine = await startEngine({ port: 0, manifestPath, imageLatencyMs: latencyMs });
  const env = {
    ...process.env,
    IE_STATE_DIR: state,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    IE_LOG_LEVEL: 'info',
  };
  const logFile = path.join(work, 'workers.log');
  const workers = [
    startWorker('workflows,score,train', env, logFile),
    ...Array.from({ length: io }, () => startWorker('io', env, logFile)),
  ];
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new Client({ connection });
    const config: RunConfigInput = {
      target: prepareValTarget('pets-3x10', Object.fromEntries(Object.entries(PETS_CLASSES).slice(0, 3)), 10),
      iterations: 1,
      queriesPerIteration: queries,
      resultsPerQuery: results,
      seed: 0,
      search: { baseUrl: engine.url },
      download: { shards, concurrency },
      train: { steps: 1, checkpointEvery: 1, batchSize: 16, initCheckpoint: 'none' },
    };
    const result = await (await startRun(client, runId, config)).result();
    if (result.status !== 'completed') throw new Error(`run ${runId} ended ${result.status} (log: ${logFile})`);
    const windowS = await shardWindowSeconds(client, runId);
    const fetches = await db().fetch.count({ where: { runId } });
    const ok = await db().fetch.count({ where: { runId, status: 'ok' } });
    const urls = result.history[0]?.results ?? 0;
    return { io, urls, fetches, ok, windowS, imagesPerS: ok / windowS };
  } finally {
    await connection.close();
    await stopWorkers(workers);
    await engine.close();
    await closeDb();
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const shared = stateDir();
  const manifestPath = await ensureDefaultCorpus({ stateDir: shared });
  await ensureLocalPostgres();
  const temporal = await ensureTemporalDevServer({ port: TEMPORAL_PORT, uiPort: 0, name: TEMPORAL_NAME });
  log(
    `${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}; ${queries} queries × ${results} ` +
      `results, ${shards} shards × ${concurrency} fetches, image latency ${latencyMs} ms`,
  );
  // One run id for every arm: it seeds the concepts drawn, so every arm fetches the same URLs.
  const runId = `shards-${Date.now().toString(36)}`;
  const measured: Arm[] = [];
  try {
    for (const io of arms) {
      const arm = await runArm(io, runId, shared, manifestPath, temporal.address);
      measured.push(arm);
      log(`  ${io} io worker(s): ${arm.ok} images in ${arm.windowS.toFixed(1)} s`);
    }
  } finally {
    if (temporal.started) await stopTemporalDevServer(TEMPORAL_NAME);
  }
  const base = measured[0];
  console.log('| io workers | URLs fetched | images stored | download window | images/s | vs 1 worker |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const m of measured)
    console.log(
      `| ${m.io} | ${m.fetches} | ${m.ok} | ${m.windowS.toFixed(1)} s | ${m.imagesPerS.toFixed(1)} | ` +
        `${(m.imagesPerS / base.imagesPerS).toFixed(2)}× |`,
    );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
