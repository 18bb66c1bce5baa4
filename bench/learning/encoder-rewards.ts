/**
 * Real image rewards for the benchmark proxy: every corpus image's reward against a target, as the score
 * stage computes it (`score.reward`, `score.k`, `score.webSample`), in the feature space of one checkpoint
 * (by default the starting encoder both benchmark arms begin from). Unlike the proxy's synthetic rewards they
 * carry the encoder's confusions between classes (dams with lakes, bridges with seashores), which decide
 * where a real run's exploration goes.
 *
 * What differs from a run: the encoder is the checkpoint as it is, not after an iteration's training (50
 * steps on top of 4,000 at the defaults), and the web sample is a uniform sample of the corpus rather than
 * iteration 0's downloads.
 *
 * Cost: the corpus is written out once as one file per image (101,000 files, ≈ 0.5 GB on disk with their
 * blocks) and embedded once per checkpoint (ietrainer.embed, a few minutes on 2 cores); both are cached
 * under `.state/proxy/`. Each target then costs one exact nearest-neighbour search of the corpus against
 * its images and the web sample (seconds).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import type { ManifestRecord } from '../../engine/corpus';
import { ImageStore } from '../../engine/image-store';
import { runPythonModule } from '../../activities/python-module';
import { webRelativeRewards, knnRewards } from '../../activities/score/rewards';
import { sampleUniform } from '../../activities/concepts/distribution';
import { fileChecksum, writeFileAtomic } from '../../lib/files';
import { pythonExecutable, stateDir } from '../../lib/paths';

export interface EncoderRewardOptions {
  checkpoint: string;
  records: readonly ManifestRecord[];
  /** The target's image files. */
  targetImages: readonly string[];
  reward: 'similarity' | 'web-relative';
  k: number;
  webSample: number;
  /** Cache folder (default `.state/proxy`). */
  dir?: string;
  log?(line: string): void;
}

/** Each corpus image's reward, by manifest key. */
export async function encoderRewards(o: EncoderRewardOptions): Promise<Map<string, number>> {
  const dir = o.dir ?? path.join(stateDir(), 'proxy');
  const log = o.log ?? (() => undefined);
  const checkpoint = path.resolve(o.checkpoint); // the embedding process runs in trainer/
  const corpusFiles = await writeCorpusFiles(o.records, dir, log);
  const model = (await fileChecksum(checkpoint)).sha256.slice(0, 16);
  const corpusEmbeddings = await embedCached(checkpoint, corpusFiles, path.join(dir, `corpus-${model}`), log);
  const target = await embedCached(checkpoint, o.targetImages, path.join(dir, `target-${model}`), log);
  const { dim } = corpusEmbeddings;
  if (target.dim !== dim) throw new Error(`target embeddings are ${target.dim}-d, corpus ${dim}-d`);
  let rewards: Float32Array;
  if (o.reward === 'similarity') {
    rewards = await knnRewards(corpusEmbeddings.values, target.values, dim, o.k);
  } else {
    // The web sample: a seeded uniform sample of the corpus (a run's is iteration 0's uniformly drawn downloads).
    const n = o.records.length;
    const rows = sampleUniform(n, Math.min(o.webSample, n), `proxy-web:${model}`).sort((a, b) => a - b);
    const web = new Float32Array(rows.length * dim);
    const webRowOf = new Int32Array(n).fill(-1);
    rows.forEach((row, i) => {
      web.set(corpusEmbeddings.values.subarray(row * dim, (row + 1) * dim), i * dim);
      webRowOf[row] = i;
    });
    rewards = await webRelativeRewards(corpusEmbeddings.values, target.values, web, webRowOf, dim, o.k);
  }
  return new Map(o.records.map((r, i) => [r.key, rewards[i]]));
}

/** Writes each corpus image to its own file (ietrainer.embed reads files), once per manifest. */
async function writeCorpusFiles(
  records: readonly ManifestRecord[],
  dir: string,
  log: (line: string) => void,
): Promise<string[]> {
  const digest = createHash('sha256')
    .update(records.map((r) => `${r.key}\t${r.file}\t${r.offset}\t${r.size}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const folder = path.join(dir, `corpus-${digest}`);
  const files = records.map((_, i) => path.join(folder, `${i}.jpg`));
  const done = path.join(folder, 'complete');
  if (fs.existsSync(done)) return files;
  log(`writing ${records.length} corpus images to ${folder} (once)…`);
  await mkdir(folder, { recursive: true });
  // Positioned reads from the archives (the engine's reader): one image in memory, not the archives.
  const store = new ImageStore();
  try {
    for (const [i, r] of records.entries()) {
      const bytes = await store.read(r).catch((error: unknown) => {
        throw new Error(`${error instanceof Error ? error.message : String(error)}; rebuild the corpus`);
      });
      await writeFile(files[i], bytes);
    }
  } finally {
    await store.close();
  }
  await writeFileAtomic(done, `${records.length}\n`);
  return files;
}

/** Embeddings of `images` with `checkpoint`, cached in `<prefix>-<digest of the image list>.f32`. */
async function embedCached(
  checkpoint: string,
  images: readonly string[],
  prefix: string,
  log: (line: string) => void,
): Promise<{ values: Float32Array; dim: number }> {
  const list = JSON.stringify(images);
  const file = `${prefix}-${createHash('sha256').update(list).digest('hex').slice(0, 16)}.f32`;
  const meta = `${file}.json`;
  if (!fs.existsSync(meta)) {
    log(`embedding ${images.length} images with ${checkpoint}…`);
    const listFile = `${file}.list.json`;
    await writeFile(listFile, list);
    let dim = 0;
    const exit = await runPythonModule<{ event?: string; dim?: number }>({
      python: pythonExecutable(),
      module: 'ietrainer.embed',
      args: ['--checkpoint', checkpoint, '--images', listFile, '--out', file, '--float32', '--device', 'cpu'],
      onEvent: (event) => {
        if (event.event === 'done' && typeof event.dim === 'number') dim = event.dim;
      },
      onLog: (line) => log(`  ${line}`),
    });
    if (exit.code !== 0 || dim === 0)
      throw new Error(
        `ietrainer.embed failed (exit ${exit.code ?? exit.signal}): ${exit.errorMessage ?? exit.stderrTail.join('\n')}`,
      );
    await writeFileAtomic(meta, JSON.stringify({ rows: images.length, dim }));
  }
  const { rows, dim } = JSON.parse(await readFile(meta, 'utf8')) as { rows: number; dim: number };
  const bytes = await readFile(file);
  if (bytes.length !== rows * dim * 4)
    throw new Error(`${file}: ${bytes.length} bytes, expected ${rows} × ${dim} floats`);
  const values = new Float32Array(rows * dim);
  new Uint8Array(values.buffer).set(bytes);
  return { values, dim };
}
