// Whether a long run's iterations keep their cost: one real run of many small iterations, through
// Temporal, PostgreSQL, the local search engine and the trainer, measured iteration by iteration.
//
//   node --import tsx bench/soak.ts [--iterations 150] [--json FILE] [--queries 12] [--results 5]
//     [--default-caps] [--keep]
//
// It starts its own services: a database (ie_bench_soak on the local PostgreSQL that `ie up` starts), a
// Temporal dev server on port 7351 (in memory), the search engine over the default corpus (in this
// process) and one worker process with every role (as `ie demo` does), all under a temporary state folder
// (the concept embeddings cache is shared). The run: a 3-class, 30-image pets target, `--queries` queries ×
// `--results` results, 2 training steps from random weights. Its per-iteration caps are scaled to its
// iteration as the defaults are to the paper's 256 × 50 (best and stale concepts 4 × the queries, 5
// images per concept, replay buffer 256, web sample 32, the GP exact up to 16 × the queries observed concepts
// and sparse above with half as many inducing points), so they fill within the first 10–16 iterations;
// `--default-caps` keeps the defaults, which a run this small never fills.
//
// Per iteration: wall time (the iteration's execution, and from one iteration's end to the next), each
// stage's time, the history size of the run's execution that ran it and of the iteration's own, the
// database's size, the run's folder (checkpoints and encoders apart) and the content store, the worker's
// RSS, and how long `ie status` (describe and the progress query) takes. At the end: the first 10
// iterations against the last 10, and the growth of each size per iteration (least squares over the
// iterations after the first 10).
import './scale/env';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { closeDb, db } from '../lib/db';
import { stateDir } from '../lib/paths';
import { iterationWorkflowId } from '../lib/contract';
import type { RunConfigInput } from '../lib/config';
import { readRunState, startRun } from '../lib/client';
import { ensureLocalPostgres, localDatabaseUrl, migrateDeploy } from '../lib/services/postgres';
import { ensureTemporalDevServer, stopTemporalDevServer } from '../lib/services/temporal';
import { ensureLocalWorkers, stopLocalWorkers } from '../lib/services/workers';
import { sleep } from '../lib/services/process';
import { PETS_CLASSES, prepareValTarget } from '../lib/targets';
import { startEngine } from '../engine/server';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { benchOptions, numberOption } from './options';

const TEMPORAL_PORT = 7351;
const TEMPORAL_NAME = `temporal-bench-${TEMPORAL_PORT}`;
const DATABASE = 'ie_bench_soak';
const WINDOW = 10;

const options = benchOptions(
  'node --import tsx bench/soak.ts [--iterations 150] [--json FILE] [--queries 12] [--results 5] [--default-caps] [--keep]',
  {
    iterations: { type: 'string', default: '150' },
    queries: { type: 'string', default: '12' },
    results: { type: 'string', default: '5' },
    json: { type: 'string' },
    'default-caps': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
);
const iterations = numberOption(options.iterations, 'iterations');
const queries = numberOption(options.queries, 'queries');
const results = numberOption(options.results, 'results');
const jsonFile = options.json;
const defaultCaps = options['default-caps'];
const keep = options.keep;

const log = (line: string) => process.stderr.write(`${line}\n`);

interface IterationMeasure {
  index: number;
  /** The iteration's execution, from its start to its last stage (Iteration.wallMs). */
  seconds: number;
  /**
   * CPU seconds of the worker process and the Python processes it ran (trainer, GP, probe) from the previous
   * iteration's end to this one's: the iteration's work, whatever else loads the machine.
   */
  cpuSeconds: number | null;
  /** From the previous iteration's end to this one's (the run's Continue-As-New and finishing included). */
  cycleSeconds: number | null;
  stages: Record<string, number>;
  /** History of the run's execution that ran this iteration, and of the iteration's own execution. */
  runHistoryBytes: number | null;
  runHistoryEvents: number | null;
  iterationHistoryBytes: number | null;
  databaseBytes: number;
  /** The run's folder under runs/: all of it, and its checkpoints (*.pt) and encoders (*.onnx*). */
  runDirBytes: number;
  checkpointBytes: number;
  storeBytes: number;
  workerRssMb: number | null;
  /** The worker's peak RSS so far (VmHWM). */
  workerPeakRssMb: number | null;
  /** `ie status`'s work: describe the run and ask its progress query; and the progress answer's size. */
  statusMs: number;
  progressBytes: number;
}

function filesUnder(dir: string): { file: string; bytes: number }[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const file = path.join(dir, name);
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(file) : [{ file, bytes: st.size }];
  });
}

function dirBytes(dir: string, match: (name: string) => boolean = () => true): number {
  return filesUnder(dir)
    .filter((f) => match(path.basename(f.file)))
    .reduce((sum, f) => sum + f.bytes, 0);
}

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

/** CPU seconds of a process and of the children it has waited for (utime, stime, cutime, cstime). */
function workerCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Least-squares slope of ys over xs (bytes per iteration). */
/** Bytes each size grows by per iteration after the first WINDOW iterations (least squares). */
function growthPerIteration(measured: IterationMeasure[]) {
  const after = measured.slice(WINDOW);
  const xs = after.map((m) => m.index);
  const per = (size: (m: IterationMeasure) => number) => slope(xs, after.map(size));
  return {
    runDir: per((m) => m.runDirBytes),
    checkpoints: per((m) => m.checkpointBytes),
    store: per((m) => m.storeBytes),
    database: per((m) => m.databaseBytes),
  };
}

function historyBytesMax(measured: IterationMeasure[]): number {
  return Math.max(0, ...measured.map((m) => m.runHistoryBytes ?? 0));
}

function slope(xs: number[], ys: number[]): number {
  if (xs.length < 2) return 0;
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return den ? num / den : 0;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

async function main(): Promise<void> {
  const shared = stateDir();
  const manifestPath = await ensureDefaultCorpus({ stateDir: shared });
  // The local PostgreSQL and its password belong to the shared state folder: resolved before switching.
  await ensureLocalPostgres();
  const adminUrl = localDatabaseUrl('postgres');
  const databaseUrl = localDatabaseUrl(DATABASE);
  const work = mkdtempSync(path.join(tmpdir(), 'ie-bench-soak-'));
  process.env.IE_STATE_DIR = path.join(work, 'state');
  mkdirSync(process.env.IE_STATE_DIR, { recursive: true });
  if (existsSync(path.join(shared, 'concepts')))
    symlinkSync(path.join(shared, 'concepts'), path.join(process.env.IE_STATE_DIR, 'concepts'));
  const runId = `soak-${Date.now().toString(36)}`;
  let temporalStarted = false;
  let workersStarted = false;
  let engine: Awaited<ReturnType<typeof startEngine>> | undefined;
  let connection: Connection | undefined;
  const pg = new PgClient({ connectionString: databaseUrl });
  let pgConnected = false;
  try {
    const admin = new PgClient({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${DATABASE}"`);
    await admin.end();
    process.env.DATABASE_URL = databaseUrl;
    migrateDeploy(process.env.DATABASE_URL);
    await pg.connect();
    pgConnected = true;

    const temporal = await ensureTemporalDevServer({ port: TEMPORAL_PORT, uiPort: 0, name: TEMPORAL_NAME });
    temporalStarted = temporal.started;
    process.env.TEMPORAL_ADDRESS = temporal.address;
    engine = await startEngine({ port: 0, manifestPath });
    process.env.IE_ENGINE_URL = engine.url;
    const workers = await ensureLocalWorkers();
    workersStarted = workers.started;
    log(
      `${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}; Temporal ${temporal.address}, ` +
        `engine ${engine.url} (${engine.images.toLocaleString('en')} images), worker pid ${workers.pid} (${workers.logFile}, ` +
        `peak RSS so far ${procStatus(workers.pid, 'VmHWM')?.toFixed(0)} MB)`,
    );

    const target = prepareValTarget('pets-3x10', Object.fromEntries(Object.entries(PETS_CLASSES).slice(0, 3)), 10);
    const config: RunConfigInput = {
      target,
      iterations,
      queriesPerIteration: queries,
      resultsPerQuery: results,
      seed: 0,
      search: { baseUrl: engine.url },
      train: { steps: 2, checkpointEvery: 1, batchSize: 32, initCheckpoint: 'none' },
      ...(defaultCaps
        ? {}
        : {
            score: {
              replayCap: 256,
              webSample: 32,
              evidence: {
                imagesPerConcept: Math.min(10, results),
                bestConcepts: 4 * queries,
                staleConcepts: 4 * queries,
              },
            },
            // The default exact limit (4,000) is 16 iterations of 256 new concepts: here 16 of `queries`.
            gp: { exactLimit: 16 * queries, inducingPoints: 8 * queries },
          }),
    };
    connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection });
    await startRun(client, runId, config);
    log(`run ${runId}: ${iterations} iterations × ${queries} queries × ${results} results\n`);
    log('iter   wall s  cycle s   CPU s  run hist  db MB  run dir  ckpts  store  worker RSS / peak  status ms');

    const measured: IterationMeasure[] = [];
    const started = Date.now();
    let lastFinished: Date | null = null;
    let failure: string | undefined;
    // Ctrl-C (or SIGTERM) ends the soak with what it has, and still stops what it started.
    let interrupted = false;
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        interrupted = true;
      });
    let lastCpu = workerCpuSeconds(workers.pid);
    let state: Awaited<ReturnType<typeof readRunState>> | undefined;
    let statusMs = 0;
    let progressBytes = 0;
    for (let tick = 0; ; tick++) {
      // `ie status`'s work every 2 s; the database every half second, so that the worker's CPU time is
      // read close to each iteration's end.
      if (tick % 4 === 0) {
        const t0 = performance.now();
        state = await readRunState(client, runId);
        statusMs = performance.now() - t0;
        progressBytes = Buffer.byteLength(JSON.stringify(state.progress ?? {}));
      }
      const done = await db().iteration.findMany({
        where: { runId, status: 'completed', index: { gte: measured.length } },
        orderBy: { index: 'asc' },
        include: { stages: true },
      });
      for (const it of done) {
        if (it.index !== measured.length) break;
        const description = await client.workflow.getHandle(runId).describe();
        const sizeRow = await pg.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n');
        const runDir = path.join(stateDir(), 'runs', runId);
        const cpu = workerCpuSeconds(workers.pid);
        const m: IterationMeasure = {
          index: it.index,
          seconds: (it.wallMs ?? 0) / 1000,
          cpuSeconds: cpu === null || lastCpu === null ? null : cpu - lastCpu,
          cycleSeconds:
            lastFinished && it.finishedAt ? (it.finishedAt.getTime() - lastFinished.getTime()) / 1000 : null,
          stages: Object.fromEntries(it.stages.map((s) => [s.stage, s.ms / 1000])),
          // Filled in from the executions' list at the end (an execution's history is final once it has
          // continued as new); until then, the execution running now.
          runHistoryBytes: description.historySize ?? null,
          runHistoryEvents: description.historyLength,
          iterationHistoryBytes: null,
          databaseBytes: Number(sizeRow.rows[0].n),
          runDirBytes: dirBytes(runDir),
          checkpointBytes: dirBytes(runDir, (n) => n.endsWith('.pt') || n.includes('.onnx')),
          storeBytes: dirBytes(path.join(stateDir(), 'store')),
          workerRssMb: procStatus(workers.pid, 'VmRSS'),
          workerPeakRssMb: procStatus(workers.pid, 'VmHWM'),
          statusMs,
          progressBytes,
        };
        lastFinished = it.finishedAt;
        lastCpu = cpu;
        measured.push(m);
        log(
          `${String(m.index).padStart(4)} ${m.seconds.toFixed(1).padStart(8)} ${(m.cycleSeconds?.toFixed(1) ?? '—').padStart(8)} ` +
            `${(m.cpuSeconds?.toFixed(1) ?? '—').padStart(7)} ` +
            `${String(m.runHistoryBytes ?? '—').padStart(9)} ${(m.databaseBytes / 2 ** 20).toFixed(1).padStart(6)} ` +
            `${mb(m.runDirBytes).padStart(8)} ${mb(m.checkpointBytes).padStart(8)} ${mb(m.storeBytes).padStart(8)} ` +
            `${(m.workerRssMb?.toFixed(0) ?? '—').padStart(7)} / ${m.workerPeakRssMb?.toFixed(0) ?? '—'} MB ` +
            `${statusMs.toFixed(0).padStart(7)}`,
        );
      }
      if (interrupted) {
        failure = 'interrupted';
        break;
      }
      if (!state || tick % 4 !== 0) {
        await sleep(500);
        continue;
      }
      if (state.progress?.status === 'waiting-retry') {
        failure = `iteration ${state.progress.failed?.iteration} failed: ${state.progress.failed?.error}`;
        break;
      }
      if (state.execution !== 'RUNNING') {
        if (state.execution !== 'COMPLETED') failure = `run ${state.execution}: ${state.failure ?? ''}`;
        break;
      }
      await sleep(500);
    }
    const totalSeconds = (Date.now() - started) / 1000;
    const workerPeakMb = procStatus(workers.pid, 'VmHWM');

    // Every execution of the run (one per iteration: each continues as new) and each iteration's own.
    const executions: { start: number; bytes: number; events: number }[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${runId}'` }))
      executions.push({ start: wf.startTime.getTime(), bytes: wf.historySize ?? 0, events: wf.historyLength });
    executions.sort((a, b) => a.start - b.start);
    for (const m of measured) {
      const e = executions[m.index];
      if (e) {
        m.runHistoryBytes = e.bytes;
        m.runHistoryEvents = e.events;
      }
      try {
        m.iterationHistoryBytes =
          (await client.workflow.getHandle(iterationWorkflowId(runId, m.index)).describe()).historySize ?? null;
      } catch {
        m.iterationHistoryBytes = null;
      }
    }
    if (failure) log(`\nthe run stopped early: ${failure}`);
    const oldest = path.join(stateDir(), 'runs', runId, 'iter-000');
    const left = filesUnder(oldest).map((f) => `${path.relative(oldest, f.file)} ${(f.bytes / 1024).toFixed(0)} KiB`);
    log(`\nleft in iteration 0's folder at the end: ${left.join(', ') || 'nothing'}`);
    summarise(measured, { totalSeconds, workerPeakMb, runId });
    if (jsonFile) {
      const growth = growthPerIteration(measured);
      const out = {
        iterations: measured,
        historyBytesMax: historyBytesMax(measured),
        iterationHistoryBytesMax: Math.max(0, ...measured.map((m) => m.iterationHistoryBytes ?? 0)),
        diskBytesPerIteration: Math.round(growth.runDir),
        checkpointBytesPerIteration: Math.round(growth.checkpoints),
        storeBytesPerIteration: Math.round(growth.store),
        databaseBytesPerIteration: Math.round(growth.database),
        firstMeanSeconds: mean(measured.slice(0, WINDOW).map((m) => m.seconds)),
        lastMeanSeconds: mean(measured.slice(-WINDOW).map((m) => m.seconds)),
        firstMeanCpuSeconds: mean(measured.slice(0, WINDOW).map((m) => m.cpuSeconds ?? 0)),
        lastMeanCpuSeconds: mean(measured.slice(-WINDOW).map((m) => m.cpuSeconds ?? 0)),
        workerPeakRssMb: workerPeakMb,
        totalSeconds,
        config,
        failure: failure ?? null,
        machine: { cores: availableParallelism(), loadAverage: loadavg()[0] },
      };
      writeFileSync(jsonFile, `${JSON.stringify(out, null, 2)}\n`);
      log(`\nwrote ${jsonFile}`);
    }
    if (failure) process.exitCode = 1;
  } finally {
    if (pgConnected) await pg.end();
    await closeDb();
    if (workersStarted) await stopLocalWorkers();
    await connection?.close();
    await engine?.close();
    if (temporalStarted) await stopTemporalDevServer(TEMPORAL_NAME);
    if (!keep) {
      const admin = new PgClient({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`);
      await admin.end();
      rmSync(work, { recursive: true, force: true });
    } else log(`kept ${work} and database ${DATABASE}`);
  }
}

function summarise(
  measured: IterationMeasure[],
  { totalSeconds, workerPeakMb, runId }: { totalSeconds: number; workerPeakMb: number | null; runId: string },
): void {
  if (measured.length === 0) return;
  const first = measured.slice(0, WINDOW);
  const last = measured.slice(-WINDOW);
  const firstLabel = `first ${first.length} (0–${first[first.length - 1].index})`;
  const lastLabel = `last ${last.length} (${last[0].index}–${last[last.length - 1].index})`;
  const stages = [...new Set(measured.flatMap((m) => Object.keys(m.stages)))];
  const rows: string[][] = [
    ['iteration wall s', ...[first, last].map((w) => mean(w.map((m) => m.seconds)).toFixed(2))],
    [
      'cycle s (end to end)',
      ...[first, last].map((w) => {
        const c = w.map((m) => m.cycleSeconds).filter((x): x is number => x !== null);
        return c.length ? mean(c).toFixed(2) : '—';
      }),
    ],
    [
      'worker CPU s',
      ...[first, last].map((w) => {
        const c = w.map((m) => m.cpuSeconds).filter((x): x is number => x !== null);
        return c.length ? mean(c).toFixed(2) : '—';
      }),
    ],
    ...stages.map((s) => [`  ${s} s`, ...[first, last].map((w) => mean(w.map((m) => m.stages[s] ?? 0)).toFixed(2))]),
    ['run history bytes', ...[first, last].map((w) => mean(w.map((m) => m.runHistoryBytes ?? 0)).toFixed(0))],
    [
      'iteration history bytes',
      ...[first, last].map((w) => mean(w.map((m) => m.iterationHistoryBytes ?? 0)).toFixed(0)),
    ],
    ['ie status ms', ...[first, last].map((w) => mean(w.map((m) => m.statusMs)).toFixed(0))],
    ['progress bytes', ...[first, last].map((w) => mean(w.map((m) => m.progressBytes)).toFixed(0))],
    ['worker RSS MB', ...[first, last].map((w) => mean(w.map((m) => m.workerRssMb ?? 0)).toFixed(0))],
    ['worker peak RSS MB', ...[first, last].map((w) => Math.max(...w.map((m) => m.workerPeakRssMb ?? 0)).toFixed(0))],
  ];
  for (const r of rows) r.push(`${(Number(r[2]) / Number(r[1])).toFixed(2)}×`);
  const head = ['', firstLabel, lastLabel, 'last/first'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(`\nRun ${runId}: ${measured.length} iterations in ${(totalSeconds / 60).toFixed(1)} min\n`);
  console.log(
    [
      line(head),
      `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
      ...rows.map(line),
    ].join('\n'),
  );
  const growth = growthPerIteration(measured);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const ratio = mean(last.map((m) => m.seconds)) / mean(first.map((m) => m.seconds));
  console.log(
    `\ngrowth per iteration after the first ${WINDOW} (least squares): database ${kib(growth.database)}, ` +
      `run folder ${kib(growth.runDir)} (checkpoints and encoders ${kib(growth.checkpoints)}), ` +
      `content store ${kib(growth.store)}; run history bytes max ${historyBytesMax(measured).toLocaleString('en')}; ` +
      `worker peak RSS ${workerPeakMb?.toFixed(0) ?? '—'} MB`,
  );
  const cpu = (w: IterationMeasure[]) => mean(w.map((m) => m.cpuSeconds).filter((x): x is number => x !== null));
  const cpuRatio = cpu(last) / cpu(first);
  console.log(
    `goal, mean of the last ${WINDOW} iterations ≤ 1.2× the first ${WINDOW}'s: ${ratio <= 1.2 ? 'yes' : 'no'} ` +
      `(${ratio.toFixed(2)}× in wall time, ${cpuRatio.toFixed(2)}× in the worker's CPU time)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
