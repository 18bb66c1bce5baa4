// Whether an iteration costs the same late in a long run as early: the stages of a run's last iteration,
// measured on synthetic runs whose earlier iterations hold 10k, 100k and 1M images.
//
//   node --import tsx bench/scale.ts [--sizes 10000,100000,1000000] [--json FILE] [--queries 256]
//     [--results 10] [--r50-size 32] [--repeat 1] [--keep]
//
// For each size N it creates a database of its own (ie_bench_scale_N on the local PostgreSQL that `ie up`
// starts), prepares a run on the pets target (450 images) and seeds its earlier iterations with N images in
// rows and content-store files (bench/scale/seed.ts: N/25 observed concepts, a full replay buffer, every
// table a run fills); its last iteration has `--queries` queries of `--results` fetched images each (the
// same at every size). Then it runs the real stage code of that iteration, each stage in its own process
// (bench/scale/stage.ts) so that its peak RSS is its own:
//   download   the post-processing after the fetches (links fetched URLs to candidates, perceptual hashes,
//              near duplicates of the target); every URL is already fetched
//   train      manifest, then the trainer (cpu-small, 2 steps: start-up, data loading, ONNX export)
//   score      with the 128-d encoder train exported (cpu-small, 32 px)
//   score-2048 with a ResNet-50 (gpu-r50's architecture, 2048-d) exported at --r50-size px
//              (bench/export_encoder.py; at 224 px the convolutions cost ~49× more)
//   update     the GP over every observed concept
//   evaluate   kNN and the linear probe on the target
//   report     `ie report` (report/ writeReport)
//   list       `ie list --no-temporal` (the CLI process, start-up included)
// Each line: wall seconds of the stage, CPU seconds of its processes (Node and the Python process it
// started: trainer, GP, probe; bench/python_rss.py records theirs), the seconds it waited on PostgreSQL
// (whose CPU is the server's) and each process's peak RSS. On a shared machine CPU seconds are the figures
// to compare across sizes. --repeat keeps each stage's fastest run. `ie status` asks the workflow, whose
// state is bounded by construction: bench/soak.ts times it.
import './scale/env';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { closeDb } from '../lib/db';
import { PROJECT_ROOT, pythonExecutable, stateDir } from '../lib/paths';
import { ensureLocalPostgres, localDatabaseUrl, migrateDeploy, recreateDatabase } from '../lib/services/postgres';
import { PETS_CLASSES, prepareValTarget } from '../lib/targets';
import { iterationFiles } from '../activities/iteration-files';
import { seedRun, shapeFor, type Seeded } from './scale/seed';
import { benchOptions, numberListOption, numberOption } from './options';

const STAGES = ['download', 'train', 'score-2048', 'score', 'update', 'evaluate', 'report', 'list'] as const;
type Stage = (typeof STAGES)[number];

interface Measure {
  seconds: number;
  /** CPU seconds of the stage's processes (Node's during the stage, and its Python processes'). */
  cpuSeconds: number;
  /** Seconds with a database call in flight (the server's CPU is not in cpuSeconds); null: not a stage. */
  dbSeconds: number | null;
  peakRssMb: number;
  nodePeakRssMb: number;
  /** Largest Python process the stage started (0: none). */
  pythonPeakRssMb: number;
  python: PythonProcess[];
  /** What the stage logged about its work (images scored, concepts observed, …). */
  detail: Record<string, unknown>;
}

interface PythonProcess {
  module: string;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
}

const options = benchOptions(
  'node --import tsx bench/scale.ts [--sizes 10000,100000,1000000] [--json FILE] [--queries 256] [--results 10] [--r50-size 32] [--repeat 1] [--keep]',
  {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    queries: { type: 'string', default: '256' },
    results: { type: 'string', default: '10' },
    'r50-size': { type: 'string', default: '32' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
);
const sizes = numberListOption(options.sizes, 'sizes');
const queries = numberOption(options.queries, 'queries');
const results = numberOption(options.results, 'results');
const r50Size = numberOption(options['r50-size'], 'r50-size');
const repeat = numberOption(options.repeat, 'repeat');
const jsonFile = options.json;
const keep = options.keep;

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Child {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runChild(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Child> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/** Fields of the stage's own log lines worth showing: how much work it did. */
function detailFrom(stage: Stage, stderr: string): Record<string, unknown> {
  const wanted: Record<string, [string, string[]]> = {
    download: ['download finished', ['urls', 'downloaded', 'excluded']],
    train: ['training', ['target', 'candidates', 'replay']],
    score: ['scored', ['scored', 'rescored', 'evidenceConcepts', 'replay']],
    'score-2048': ['scored', ['scored', 'rescored', 'evidenceConcepts', 'replay']],
    update: ['distribution updated', ['observed']],
  };
  const want = wanted[stage];
  if (!want) return {};
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === want[0]) return Object.fromEntries(want[1].map((k) => [k, entry[k]]));
    } catch {
      // not a log line
    }
  }
  return {};
}

async function runStage(stage: Stage, seeded: Seeded, work: string, r50: string): Promise<Measure> {
  const rssLog = path.join(work, `python-rss-${stage}.jsonl`);
  rmSync(rssLog, { force: true });
  const env = { ...process.env, IE_LOG_LEVEL: 'info', IE_BENCH_RSS_LOG: rssLog };
  const ref = { runId: seeded.runId, iteration: seeded.iteration };
  let seconds: number;
  let nodeCpuSeconds: number;
  let dbSeconds: number | null = null;
  let nodePeakRssMb: number;
  let stderr: string;
  if (stage === 'list') {
    // The CLI as a user runs it, timed whole by /usr/bin/time (wall seconds, max RSS in KiB).
    const timeFile = path.join(work, 'time.txt');
    const child = await runChild(
      '/usr/bin/time',
      [
        '-f',
        '%e %U %S %M',
        '-o',
        timeFile,
        process.execPath,
        '--import',
        'tsx',
        'cli/main.ts',
        'list',
        '--no-temporal',
      ],
      env,
    );
    if (child.code !== 0) throw new Error(`ie list failed:\n${child.stderr.slice(-3000)}`);
    const [wall, user, system, kib] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
    seconds = wall;
    nodeCpuSeconds = user + system;
    nodePeakRssMb = kib / 1024;
    stderr = child.stderr;
  } else {
    const args = ['--import', 'tsx', 'bench/scale/stage.ts', stage === 'score-2048' ? 'score' : stage, ref.runId];
    args.push(String(ref.iteration));
    if (stage === 'score-2048') args.push('--encoder', r50);
    if (stage === 'score') args.push('--encoder', iterationFiles(ref).encoder);
    if (stage === 'report') args.push('--out', path.join(work, 'report'));
    const child = await runChild(process.execPath, args, env);
    const line = child.stdout.split('\n').find((l) => l.startsWith('BENCH '));
    if (child.code !== 0 || !line) throw new Error(`stage ${stage} failed:\n${child.stderr.slice(-4000)}`);
    const result = JSON.parse(line.slice(6)) as {
      seconds: number;
      cpuSeconds: number;
      dbSeconds: number | null;
      nodePeakRssMb: number;
    };
    seconds = result.seconds;
    dbSeconds = result.dbSeconds;
    nodeCpuSeconds = result.cpuSeconds;
    nodePeakRssMb = result.nodePeakRssMb;
    stderr = child.stderr;
  }
  const python = existsSync(rssLog)
    ? readFileSync(rssLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as PythonProcess)
    : [];
  const pythonPeakRssMb = Math.max(0, ...python.map((p) => p.peakRssMb));
  return {
    seconds,
    cpuSeconds: nodeCpuSeconds + python.reduce((sum, p) => sum + p.cpuSeconds, 0),
    dbSeconds,
    nodePeakRssMb,
    pythonPeakRssMb,
    peakRssMb: Math.max(nodePeakRssMb, pythonPeakRssMb),
    python,
    detail: detailFrom(stage, stderr),
  };
}

async function freshDatabase(name: string): Promise<string> {
  const url = await recreateDatabase(localDatabaseUrl('postgres'), name);
  migrateDeploy(url);
  return url;
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: localDatabaseUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** The last line a Python script prints. */
function python(args: string[]): string {
  const run = spawnSync(pythonExecutable(), args, { cwd: PROJECT_ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`python ${args.join(' ')} failed:\n${run.stderr.slice(-3000)}`);
  return run.stdout.trim().split('\n').pop() ?? '';
}

const fmtMb = (mb: number) => (mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(0)} MB`);

const sizeName = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));

/** A Markdown table, padded so that it reads in a terminal too. */
function markdown(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function timeTable(measured: Record<Stage, Measure[]>): string {
  const ratio = `${sizeName(sizes[sizes.length - 1])}/${sizeName(sizes[0])}`;
  const head = [
    'stage',
    ...sizes.map((n) => `wall s ${sizeName(n)}`),
    ratio,
    ...sizes.map((n) => `CPU s ${sizeName(n)}`),
    ratio,
    ...sizes.map((n) => `DB s ${sizeName(n)}`),
  ];
  const rows = STAGES.map((stage) => {
    const m = measured[stage];
    const last = m[m.length - 1];
    return [
      stage,
      ...m.map((x) => x.seconds.toFixed(1)),
      `${(last.seconds / m[0].seconds).toFixed(2)}×`,
      ...m.map((x) => x.cpuSeconds.toFixed(1)),
      `${(last.cpuSeconds / m[0].cpuSeconds).toFixed(2)}×`,
      ...m.map((x) => (x.dbSeconds === null ? '—' : x.dbSeconds.toFixed(1))),
    ];
  });
  return markdown(head, rows);
}

function memoryTable(measured: Record<Stage, Measure[]>): string {
  const head = ['stage', ...sizes.map((n) => `Node ${sizeName(n)}`), ...sizes.map((n) => `Python ${sizeName(n)}`)];
  const rows = STAGES.map((stage) => {
    const m = measured[stage];
    const python = m.map((x) => x.python.map((p) => p.module.replace(/^ietrainer\./, '')).join(', '));
    return [
      stage,
      ...m.map((x) => fmtMb(x.nodePeakRssMb)),
      ...m.map((x, i) => (x.python.length ? `${fmtMb(x.pythonPeakRssMb)} (${python[i]})` : '—')),
    ];
  });
  return markdown(head, rows);
}

async function main(): Promise<void> {
  await ensureLocalPostgres();
  const sharedConcepts = path.join(stateDir(), 'concepts');
  const pythonBin = pythonExecutable();
  const work = mkdtempSync(path.join(tmpdir(), 'ie-bench-scale-'));
  // Every file of the benchmark lives under `work`; the concept embeddings cache is shared (read-only here).
  process.env.IE_STATE_DIR = path.join(work, 'state');
  mkdirSync(process.env.IE_STATE_DIR, { recursive: true });
  if (existsSync(sharedConcepts)) symlinkSync(sharedConcepts, path.join(process.env.IE_STATE_DIR, 'concepts'));
  process.env.IE_PYTHON = path.join(PROJECT_ROOT, 'bench', 'python_rss.py');
  process.env.IE_BENCH_PYTHON = pythonBin;
  const databases: string[] = [];
  try {
    log(`${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}; work folder ${work}`);
    const r50 = path.join(work, 'encoders', `r50-${r50Size}px.onnx`);
    mkdirSync(path.dirname(r50), { recursive: true });
    const exported = JSON.parse(python(['bench/export_encoder.py', '--out', r50, '--image-size', String(r50Size)])) as {
      dim: number;
    };
    log(`2048-d encoder: gpu-r50 architecture at ${r50Size} px, ${exported.dim}-d (${r50})`);
    const target = prepareValTarget('pets', PETS_CLASSES, 50);

    const measured = Object.fromEntries(STAGES.map((s) => [s, [] as Measure[]])) as Record<Stage, Measure[]>;
    const seeds: Seeded[] = [];
    for (const size of sizes) {
      const name = `ie_bench_scale_${size}`;
      databases.push(name);
      process.env.DATABASE_URL = await freshDatabase(name);
      await closeDb();
      const shape = shapeFor(size, queries, results);
      log(
        `\n== ${shape.images.toLocaleString('en')} images: ${shape.iterations} earlier iterations, ` +
          `${shape.concepts.toLocaleString('en')} observed concepts; measured iteration ${shape.iterations}: ` +
          `${queries} queries × ${results} images (database ${name})`,
      );
      const seeded = await seedRun(
        `scale-${size}`,
        {
          target,
          iterations: shape.iterations + 1,
          queriesPerIteration: queries,
          resultsPerQuery: 25,
          search: { baseUrl: 'http://127.0.0.1:9' },
          train: { steps: 2, checkpointEvery: 1, initCheckpoint: 'none' },
        },
        shape,
        log,
      );
      await closeDb();
      seeds.push(seeded);
      log(
        `  seeded in ${seeded.seconds.toFixed(0)} s; database ${(seeded.databaseBytes / 2 ** 30).toFixed(2)} GiB; ` +
          Object.entries(seeded.rows)
            .map(([t, n]) => `${t} ${n.toLocaleString('en')}`)
            .join(', '),
      );
      for (const stage of STAGES) {
        let best: Measure | undefined;
        for (let r = 0; r < repeat; r++) {
          const m = await runStage(stage, seeded, work, r50);
          if (!best || m.seconds < best.seconds)
            best = { ...m, peakRssMb: Math.max(m.peakRssMb, best?.peakRssMb ?? 0) };
        }
        const m = best as Measure;
        measured[stage].push(m);
        const py = m.python.length
          ? `; python ${m.python.map((p) => `${p.module} ${fmtMb(p.peakRssMb)}`).join(', ')}`
          : '';
        log(
          `  ${stage.padEnd(10)} ${m.seconds.toFixed(2).padStart(8)} s, CPU ${m.cpuSeconds.toFixed(2).padStart(8)} s, ` +
            `DB ${m.dbSeconds?.toFixed(2) ?? '—'} s  node ${fmtMb(m.nodePeakRssMb)}${py}  ${JSON.stringify(m.detail)}`,
        );
      }
      if (!keep) await dropDatabase(name);
    }

    console.log(
      `\nStages of the last iteration of a run whose earlier iterations hold N images (${queries} queries × ` +
        `${results} new images): wall seconds of the stage, CPU seconds of its processes (Node's and the Python ` +
        `process it starts), seconds with a PostgreSQL call in flight (the server's CPU is not in the CPU column)\n`,
    );
    console.log(timeTable(measured));
    console.log("\nPeak RSS of the stage's Node process and of the Python process it starts\n");
    console.log(memoryTable(measured));
    const largest = measured.update.length - 1;
    const slow = STAGES.filter((s) => measured[s][largest].seconds > 1.5 * measured[s][0].seconds);
    const slowCpu = STAGES.filter((s) => measured[s][largest].cpuSeconds > 1.5 * measured[s][0].cpuSeconds);
    const heavyNode = STAGES.filter((s) => measured[s][largest].nodePeakRssMb > 4096);
    const gp = measured.update[largest].pythonPeakRssMb;
    console.log(
      `\ngoal, every stage at the largest size ≤ 1.5× its time at the smallest: ${slow.length ? `no (${slow.join(', ')})` : 'yes'} ` +
        `(CPU time: ${slowCpu.length ? `no (${slowCpu.join(', ')})` : 'yes'}); ` +
        `Node peak RSS ≤ 4 GB: ${heavyNode.length ? `no (${heavyNode.join(', ')})` : 'yes'}; GP peak RSS ${fmtMb(gp)} (≤ 2 GB: ${gp <= 2048 ? 'yes' : 'no'})`,
    );
    if (jsonFile) {
      const stages = Object.fromEntries(
        STAGES.map((s) => [
          s,
          {
            seconds: measured[s].map((m) => round(m.seconds)),
            cpuSeconds: measured[s].map((m) => round(m.cpuSeconds)),
            dbSeconds: measured[s].map((m) => (m.dbSeconds === null ? null : round(m.dbSeconds))),
            peakRssMb: measured[s].map((m) => round(m.peakRssMb)),
            nodePeakRssMb: measured[s].map((m) => round(m.nodePeakRssMb)),
            pythonPeakRssMb: measured[s].map((m) => round(m.pythonPeakRssMb)),
            detail: measured[s].map((m) => m.detail),
            python: measured[s].map((m) => m.python),
          },
        ]),
      );
      const out = {
        sizes,
        stages,
        iteration: { queries, images: queries * results },
        encoders: { score: 'cpu-small, 32 px, 128-d', 'score-2048': `gpu-r50 architecture, ${r50Size} px, 2048-d` },
        seeds: seeds.map((s) => ({
          ...s.shape,
          seconds: round(s.seconds),
          rows: s.rows,
          databaseBytes: s.databaseBytes,
        })),
        machine: { cores: availableParallelism(), loadAverage: loadavg()[0] },
      };
      writeFileSync(jsonFile, `${JSON.stringify(out, null, 2)}\n`);
      log(`\nwrote ${jsonFile}`);
    }
  } finally {
    await closeDb();
    if (!keep) {
      for (const name of databases) await dropDatabase(name).catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
    } else log(`kept ${work} and databases ${databases.join(', ')}`);
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
