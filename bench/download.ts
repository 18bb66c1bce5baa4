// Download + validate + normalise throughput of OUR downloader against the local engine, compared in the
// same run with img2dataset fetching the same URLs with equivalent settings.
//
//   node --import tsx bench/download.ts [--quick] [--no-img2dataset] [--cases tiny,photos,iteration]
//                                               [--repeat N]
//
// Cases: `tiny` (Tiny ImageNet 32 px URLs), `photos` (the 1,000 full-size photos), `iteration` (256
// queries × 100 results from the engine's /search, ≈25,600 URLs, the paper's iteration size). --quick
// shrinks each to a smoke run. The engine runs in its own process, so neither tool is charged its CPU.
// --repeat N runs the tools N times each, alternating, and keeps each tool's least-CPU run (a shared
// machine's other work only adds to a figure).
//
// Ours: fetchBytes → sha256 → normaliseImage (256 px max side, JPEG q90) → putImage into a temporary
// store (IE_STORE_DIR), at the run config's download defaults (16 in flight, 10 s timeout, 2 retries):
// the building blocks of activities/stages/download.ts without the database.
// img2dataset (PyPI, installed on first use into .state/bench-venv):
//   processes_count = cores, thread_count = 16 / cores (16 in flight in all), image_size 256,
//   resize_mode keep_ratio_largest (longest side 256, as ours), resize_only_if_bigger, jpg q90,
//   timeout 10, retries 0 (nothing fails here), sha256, output_format files.
// Each tool runs under bench/measure.py: wall time, CPU of the whole process tree, peak tree RSS.
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import axios from 'axios';
import pLimit from 'p-limit';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { encodeKey } from '../engine/keys';
import type { SearchResponse } from '../engine/server';
import { PROJECT_ROOT, datasetsDir, stateDir } from '../lib/paths';
import { benchOptions, numberOption } from './options';

const CONCURRENCY = 16;
const TIMEOUT_MS = 10_000;
const MAX_SIDE = 256;

interface Measure {
  rc: number;
  wall_s: number;
  cpu_s: number;
  peak_rss_mb: number;
}

interface ToolResult extends Measure {
  tool: string;
  ok: number;
  failed: number;
}

function commandLine() {
  return benchOptions(
    'node --import tsx bench/download.ts [--quick] [--no-img2dataset] [--cases tiny,photos,iteration] [--repeat N]',
    {
      quick: { type: 'boolean', default: false },
      'no-img2dataset': { type: 'boolean', default: false },
      cases: { type: 'string', default: 'tiny,photos,iteration' },
      repeat: { type: 'string', default: '1' },
      // A worker process of this script (see `worker`), started by the script itself.
      worker: { type: 'string' },
      store: { type: 'string', default: '' },
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Worker: our download path over a URL list (run in its own process, measured from outside).

async function worker(urlsFile: string, storeDir: string): Promise<void> {
  process.env.IE_STORE_DIR = storeDir;
  const { fetchBytes } = await import('../activities/download/fetch');
  const { hostPortOf } = await import('../activities/download/guard');
  const { fetchPolicy } = await import('../activities/download/policy');
  const { normaliseImage, inspectImage, ImageRejected } = await import('../activities/store/normalise');
  const { putImage, sha256, storedImage } = await import('../activities/store/content-store');
  const { parseRunConfig } = await import('../lib/config');

  const urls = (await readFile(urlsFile, 'utf8')).split('\n').filter((u) => u !== '');
  const engineHost = hostPortOf(urls[0]);
  // The run's own options, with the engine as the run's local search engine (allowlisted, no per-host limits).
  const config = parseRunConfig({
    target: storeDir,
    search: engineHost ? { baseUrl: `http://${engineHost}` } : {},
    download: { timeoutMs: TIMEOUT_MS, userAgent: 'InternetExplorerBench/0.1' },
  });
  const d = config.download;
  const opts = fetchPolicy(config).local;
  const norm = { maxSide: MAX_SIDE, maxPixels: d.maxPixels };
  const filters = { minSide: d.minSide, maxAspectRatio: d.maxAspectRatio };
  let ok = 0;
  const reasons: Record<string, number> = {};
  const limit = pLimit(CONCURRENCY);
  await Promise.all(
    urls.map((url) =>
      limit(async () => {
        const outcome = await fetchBytes(url, opts);
        if (!outcome.ok) {
          reasons[outcome.reason] = (reasons[outcome.reason] ?? 0) + 1;
          return;
        }
        const sha = sha256(outcome.bytes);
        try {
          if (await storedImage(sha)) await inspectImage(outcome.bytes, norm, filters);
          else await putImage(sha, (await normaliseImage(outcome.bytes, norm, filters)).jpeg);
          ok++;
        } catch (error) {
          if (!(error instanceof ImageRejected)) throw error;
          reasons[error.reason] = (reasons[error.reason] ?? 0) + 1;
        }
      }),
    ),
  );
  const failed = urls.length - ok;
  process.stdout.write(`${JSON.stringify({ ok, failed, reasons })}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator.

async function startEngineProcess(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'engine', 'main.ts'), '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.startsWith('http://')) return { url: line.trim(), stop: () => child.kill('SIGTERM') };
  }
  throw new Error('engine exited before printing its URL');
}

async function manifestKeys(manifestPath: string): Promise<{ tiny: string[]; photos: string[] }> {
  const tiny: string[] = [];
  const photos: string[] = [];
  for await (const line of createInterface({ input: createReadStream(manifestPath, 'utf8') })) {
    if (!line) continue;
    const { key } = JSON.parse(line) as { key: string };
    (key.startsWith('photo/') ? photos : tiny).push(key);
  }
  return { tiny, photos };
}

/** Every `step`-th element, so a small sample still covers every class. */
function spread<T>(items: T[], n: number): T[] {
  if (n >= items.length) return items;
  const step = items.length / n;
  return Array.from({ length: n }, (_, i) => items[Math.floor(i * step)]);
}

/**
 * `queries` searches of 100 results: the Tiny ImageNet classes' names (each matches ~500 images), a name
 * asked again for its next page once every name has been asked, so the URLs barely overlap.
 */
async function iterationUrls(engineUrl: string, queries: number): Promise<string[]> {
  const names = (await readFile(path.join(datasetsDir(), 'classes.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { name: string; tiny_label: number | null })
    .filter((c) => c.tiny_label !== null)
    .map((c) => c.name);
  const urls: string[] = [];
  for (let i = 0; i < queries; i++) {
    const q = names[i % names.length];
    const page = 1 + Math.floor(i / names.length);
    const res = await axios.get<SearchResponse>(`${engineUrl}/search`, { params: { q, per_page: 100, page } });
    urls.push(...res.data.results.map((r) => r.url));
  }
  return urls;
}

function venvPython(): string {
  return path.join(stateDir(), 'bench-venv', 'bin', 'python');
}

/** Creates .state/bench-venv with img2dataset unless it is there; returns why not when it cannot. */
function ensureImg2dataset(): string | undefined {
  const venv = path.join(stateDir(), 'bench-venv');
  if (existsSync(path.join(venv, 'bin', 'img2dataset'))) return undefined;
  console.log(`installing img2dataset into ${venv} …`);
  const mk = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  if (mk.status !== 0) return 'python3 -m venv failed';
  const pip = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'img2dataset'], { stdio: 'inherit' });
  if (pip.status !== 0) return `pip install img2dataset failed (exit ${pip.status})`;
  return undefined;
}

async function measure(cmd: string[], outDir: string, stdoutFile?: string): Promise<Measure> {
  const out = path.join(outDir, `measure-${Date.now()}.json`);
  const python = existsSync(venvPython()) ? venvPython() : 'python3';
  const res = spawnSync(python, [path.join(PROJECT_ROOT, 'bench', 'measure.py'), out, '--', ...cmd], {
    stdio: ['ignore', stdoutFile ? 'pipe' : 'ignore', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NO_ALBUMENTATIONS_UPDATE: '1' },
  });
  if (stdoutFile) await writeFile(stdoutFile, res.stdout ?? '');
  if (!existsSync(out)) throw new Error(`measuring ${cmd[0]} failed: ${res.stderr?.toString().slice(-2000)}`);
  const m = JSON.parse(await readFile(out, 'utf8')) as Measure;
  if (m.rc !== 0) throw new Error(`${cmd.join(' ')} exited ${m.rc}: ${res.stderr?.toString().slice(-2000)}`);
  return m;
}

async function runOurs(urlsFile: string, work: string): Promise<ToolResult> {
  const store = path.join(work, 'store');
  const stdout = path.join(work, 'ours.out');
  const m = await measure(
    [process.execPath, '--import', 'tsx', __filename, '--worker', urlsFile, '--store', store],
    work,
    stdout,
  );
  const lines = (await readFile(stdout, 'utf8')).trim().split('\n');
  const counts = JSON.parse(lines[lines.length - 1]) as { ok: number; failed: number; reasons: object };
  if (counts.failed > 0) console.log(`  ours: failures ${JSON.stringify(counts.reasons)}`);
  return { tool: 'ours', ...m, ok: counts.ok, failed: counts.failed };
}

async function runImg2dataset(urlsFile: string, count: number, work: string): Promise<ToolResult> {
  const cores = os.availableParallelism();
  const out = path.join(work, 'img2dataset');
  const m = await measure(
    [
      path.join(stateDir(), 'bench-venv', 'bin', 'img2dataset'),
      `--url_list=${urlsFile}`,
      '--input_format=txt',
      `--output_folder=${out}`,
      '--output_format=files',
      `--processes_count=${cores}`,
      `--thread_count=${Math.max(1, Math.ceil(CONCURRENCY / cores))}`,
      // Enough shards that every process has work.
      `--number_sample_per_shard=${Math.max(50, Math.ceil(count / (cores * 4)))}`,
      `--image_size=${MAX_SIDE}`,
      '--resize_mode=keep_ratio_largest',
      '--resize_only_if_bigger=True',
      '--encode_format=jpg',
      '--encode_quality=90',
      `--timeout=${TIMEOUT_MS / 1000}`,
      '--retries=0',
      '--compute_hash=sha256',
      '--distributor=multiprocessing',
      '--enable_wandb=False',
    ],
    work,
  );
  let ok = 0;
  let failed = 0;
  for (const f of await readdir(out)) {
    if (!f.endsWith('_stats.json')) continue;
    const s = JSON.parse(await readFile(path.join(out, f), 'utf8')) as {
      successes: number;
      failed_to_download: number;
      failed_to_resize: number;
    };
    ok += s.successes;
    failed += s.failed_to_download + s.failed_to_resize;
  }
  return { tool: 'img2dataset', ...m, ok, failed };
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' ');
}

async function main(): Promise<void> {
  const options = commandLine();
  if (options.worker) return worker(options.worker, options.store);

  const quick = options.quick;
  const cases = options.cases.split(',');
  const withImg2dataset = !options['no-img2dataset'];
  const repeat = Math.max(1, numberOption(options.repeat, 'repeat'));
  const sizes = quick ? { tiny: 500, photos: 100, queries: 8 } : { tiny: 5000, photos: 1000, queries: 256 };
  const skipWhy = withImg2dataset ? ensureImg2dataset() : 'disabled by --no-img2dataset';
  if (skipWhy) console.log(`img2dataset not run: ${skipWhy}`);

  const manifest = await ensureDefaultCorpus();
  const { tiny, photos } = await manifestKeys(manifest);
  const engine = await startEngineProcess();
  const results: { case: string; urls: number; tools: ToolResult[] }[] = [];
  const root = await mkdtemp(path.join(os.tmpdir(), 'ie-bench-download-'));
  try {
    const lists: Record<string, () => Promise<string[]>> = {
      tiny: () => Promise.resolve(spread(tiny, sizes.tiny).map((k) => `${engine.url}/images/${encodeKey(k)}.jpg`)),
      photos: () =>
        Promise.resolve(spread(photos, sizes.photos).map((k) => `${engine.url}/images/${encodeKey(k)}.jpg`)),
      iteration: async () => iterationUrls(engine.url, sizes.queries),
    };
    for (const name of cases) {
      if (!lists[name]) throw new Error(`unknown case ${name}`);
      const urls = [...new Set(await lists[name]())];
      const work = path.join(root, name);
      await mkdir(work, { recursive: true });
      const urlsFile = path.join(work, 'urls.txt');
      await writeFile(urlsFile, urls.join('\n') + '\n');
      console.log(`case ${name}: ${urls.length} URLs`);
      // Each repeat alternates the tools, each into fresh output folders; the table keeps each tool's run
      // with the least CPU (best of N): other work on a shared machine only ever adds to a tool's figure.
      const runs: ToolResult[][] = [[], []];
      for (let i = 0; i < repeat; i++) {
        runs[0].push(await runOurs(urlsFile, path.join(work, `ours-run-${i}`)));
        if (skipWhy) continue;
        await mkdir(path.join(work, `img2dataset-run-${i}`));
        runs[1].push(await runImg2dataset(urlsFile, urls.length, path.join(work, `img2dataset-run-${i}`)));
      }
      const tools = runs.filter((r) => r.length > 0).map((r) => r.reduce((a, b) => (b.cpu_s < a.cpu_s ? b : a)));
      if (repeat > 1) {
        const perRun = (r: ToolResult[]) => r.map((t) => (t.ok / t.cpu_s).toFixed(0)).join(', ');
        console.log(
          `  img/cpu-s of each run: ours ${perRun(runs[0])}${skipWhy ? '' : `; img2dataset ${perRun(runs[1])}`}`,
        );
      }
      // Outputs are removed only at the end: on ext4 without a journal, creating files soon after many were
      // deleted scans past the freed inodes, which would charge one tool for the other's clean-up.
      results.push({ case: name, urls: urls.length, tools });
    }
  } finally {
    engine.stop();
    await rm(root, { recursive: true, force: true });
  }

  const cores = os.availableParallelism();
  console.log(
    `\n${os.cpus()[0]?.model ?? 'cpu'} × ${cores} cores; 16 in flight; resize to ${MAX_SIDE} px max side, JPEG q90`,
  );
  const widths = [10, 12, 7, 6, 6, 8, 8, 9, 10, 9, 8];
  console.log(
    row(['case', 'tool', 'urls', 'ok', 'fail', 'wall s', 'cpu s', 'img/s', 'img/cpu-s', 'peak MB', 'vs i2d'], widths),
  );
  for (const r of results) {
    const ref = r.tools.find((t) => t.tool === 'img2dataset');
    const perCpu = (t: ToolResult) => t.ok / Math.max(t.cpu_s, 1e-9);
    for (const t of r.tools) {
      const ratio = ref && t !== ref ? `${(perCpu(t) / perCpu(ref)).toFixed(2)}×` : '';
      console.log(
        row(
          [
            r.case,
            t.tool,
            r.urls,
            t.ok,
            t.failed,
            t.wall_s.toFixed(1),
            t.cpu_s.toFixed(1),
            (t.ok / t.wall_s).toFixed(0),
            perCpu(t).toFixed(0),
            t.peak_rss_mb.toFixed(0),
            ratio,
          ],
          widths,
        ),
      );
    }
  }
  console.log(
    "img/s: ok images per wall second (process start included); img/cpu-s: per CPU-second of the tool's whole process tree; vs i2d: ours/img2dataset in img/cpu-s",
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
