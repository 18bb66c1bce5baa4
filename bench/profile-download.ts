// CPU cost per photo of each step of the download path (bench/download.ts runs it whole), measured
// in-process as process CPU time (user + system, libvips' and libuv's threads included) over the full-size
// corpus photos served by the local engine (in its own process, so its CPU is not counted here).
//
//   node --import tsx bench/profile-download.ts [--photos 250] [--rounds 2] [--tiny]
//
// --tiny profiles Tiny ImageNet's 32 px JPEGs instead (what an iteration of the local engine fetches), where
// the per-call costs of each step, not the pixels, make up the figure.
//
// fetch: fetchBytes at 16 in flight, the run's download options; then, one photo at a time: sha256, the
// pieces of normaliseImage (header-only read, decode, decode+resize, the same plus JPEG encoding, the
// perceptual hash of raw pixels), normaliseImage itself, and putImage into a temporary store.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { encodeKey } from '../engine/keys';
import { PROJECT_ROOT } from '../lib/paths';
import { benchOptions, numberOption } from './options';

const MAX_SIDE = 256;
const CONCURRENCY = 16;

const options = benchOptions('node --import tsx bench/profile-download.ts [--photos 250] [--rounds 2] [--tiny]', {
  photos: { type: 'string', default: '250' },
  rounds: { type: 'string', default: '2' },
  tiny: { type: 'boolean', default: false },
});

async function startEngine(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'engine', 'main.ts'), '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('http://')) return { url: line.trim(), stop: () => child.kill('SIGTERM') };
  }
  throw new Error('engine exited before printing its URL');
}

/** CPU milliseconds spent by `work`. */
async function cpuMs(work: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

async function main(): Promise<void> {
  const count = numberOption(options.photos, 'photos');
  const rounds = numberOption(options.rounds, 'rounds');
  const store = await mkdtemp(path.join(os.tmpdir(), 'ie-profile-download-'));
  process.env.IE_STORE_DIR = store;
  const { fetchBytes } = await import('../activities/download/fetch');
  const { hostPortOf } = await import('../activities/download/guard');
  const { fetchPolicy } = await import('../activities/download/policy');
  const { putImage, sha256 } = await import('../activities/store/content-store');
  const { differenceHash, normaliseImage, readJpegHeader } = await import('../activities/store/normalise');
  const { parseRunConfig } = await import('../lib/config');

  const manifest = await ensureDefaultCorpus();
  const keys = (await readFile(manifest, 'utf8'))
    .split('\n')
    .filter((l) => l !== '' && l.includes('"photo/') !== options.tiny)
    .map((l) => (JSON.parse(l) as { key: string }).key);
  const engine = await startEngine();
  try {
    const step = keys.length / Math.min(count, keys.length);
    const urls = Array.from({ length: Math.min(count, keys.length) }, (_, i) => {
      return `${engine.url}/images/${encodeKey(keys[Math.floor(i * step)])}.jpg`;
    });
    const config = parseRunConfig({
      target: store,
      search: { baseUrl: `http://${hostPortOf(urls[0])}` },
      download: { userAgent: 'InternetExplorerProfile/0.1' },
    });
    const opts = fetchPolicy(config).local;
    const norm = { maxSide: MAX_SIDE, maxPixels: config.download.maxPixels };
    const limit = pLimit(CONCURRENCY);
    const fetchAll = async () =>
      Promise.all(
        urls.map((u) =>
          limit(async () => {
            const outcome = await fetchBytes(u, opts);
            if (!outcome.ok) throw new Error(`${u}: ${outcome.reason}`);
            return outcome.bytes;
          }),
        ),
      );
    const photos = await fetchAll(); // warm-up, and the bytes for the steps below

    // The pieces as normaliseImage runs them (its kernel; an embedded sRGB profile ignored).
    const resize = {
      width: MAX_SIDE,
      height: MAX_SIDE,
      fit: 'inside',
      withoutEnlargement: true,
      kernel: 'mitchell',
    } as const;
    const jpeg = { quality: 90, mozjpeg: false, optimiseCoding: false } as const;
    const steps: Record<string, (p: Buffer) => Promise<unknown>> = {
      sha256: (p) => Promise.resolve(sha256(p)),
      'header (libvips)': (p) => sharp(p).metadata(),
      'header (JS)': (p) => Promise.resolve(readJpegHeader(p)),
      decode: (p) => sharp(p, { failOn: 'warning', ignoreIcc: true }).raw().toBuffer(),
      'decode+resize': (p) => sharp(p, { failOn: 'warning', ignoreIcc: true }).resize(resize).raw().toBuffer(),
      'decode+resize+jpeg': (p) =>
        sharp(p, { failOn: 'warning', ignoreIcc: true }).resize(resize).jpeg(jpeg).toBuffer(),
      'decode, any ICC applied': (p) => sharp(p, { failOn: 'warning' }).raw().toBuffer(),
      'dHash 256 px': async () => differenceHash(hashInput, 256, 192, 3),
      normaliseImage: (p) => normaliseImage(p, norm),
    };
    const hashInput = Buffer.alloc(256 * 192 * 3, 7);
    const totals = new Map<string, number>([
      ['fetch (16 in flight)', 0],
      ...Object.keys(steps).map((n) => [n, 0] as [string, number]),
    ]);
    const outputs: Buffer[] = [];
    for (const p of photos) outputs.push((await normaliseImage(p, norm)).jpeg);
    const shas = photos.map((p) => sha256(p));
    let storeMs = 0;
    for (let r = 0; r < rounds; r++) {
      totals.set('fetch (16 in flight)', (totals.get('fetch (16 in flight)') ?? 0) + (await cpuMs(fetchAll)));
      // Each step over every photo in turn: interleaving the steps photo by photo charged each one for the
      // garbage and cache misses of the others (normaliseImage read 25 % high). Over several rounds a machine
      // busy with other work still slows the steps alike.
      for (const [name, run] of Object.entries(steps)) {
        const ms = await cpuMs(async () => {
          for (const p of photos) await run(p);
        });
        totals.set(name, (totals.get(name) ?? 0) + ms);
      }
      // A new name each round, so every write creates a file as a first download does.
      storeMs += await cpuMs(async () => {
        for (const [i, out] of outputs.entries()) await putImage(`${shas[i]}-${r}`, out);
      });
    }
    totals.set('putImage', storeMs);
    const n = photos.length * rounds;
    const what = options.tiny ? '32 px images' : 'photos';
    console.log(`${photos.length} ${what} × ${rounds} rounds; CPU ms per image (user + system, all threads)`);
    for (const [name, ms] of totals) console.log(`${name.padEnd(30)} ${(ms / n).toFixed(3)}`);
  } finally {
    engine.stop();
    await rm(store, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
