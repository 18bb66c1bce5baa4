import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { logger } from '../lib/logger';
import { DEFAULT_CORPUS_FILES } from '../lib/datasets/layout';
import { requireDatasets } from '../lib/datasets/require';
import { stateDir, wordnetDir } from '../lib/paths';
import { loadNouns } from '../lib/wordnet';
import { classCaption, type ClassInfo } from './captions';
import { readJsonl } from './jsonl';
import { type ManifestRecord, writeManifest } from './corpus';
import { writeFileAtomic, writeWhole } from '../lib/files';

const log = logger.child({ component: 'corpus' });

/** Bump when captions or record layout change, so an old default manifest is rebuilt. */
const DEFAULT_CORPUS_VERSION = 1;

export interface CorpusDirs {
  stateDir?: string;
  datasetsDir?: string;
  wordnetDir?: string;
}

interface TinyRow {
  path: string;
  wnid: string;
  offset: number;
  size: number;
}

interface PhotoRow {
  wnid: string;
  shard: string;
  offset: number;
  size: number;
  width: number;
  height: number;
}

/** Manifest records of the full-size ImageNet sample photos (all, or those of `wanted` classes). */
export function photoRecords(
  data: string,
  captionOf: (wnid: string) => string,
  wanted?: Set<string>,
): ManifestRecord[] {
  const photos = readJsonl<PhotoRow>(path.join(data, 'imagenet-1k-samples', 'index.jsonl'));
  return photos
    .filter((r) => !wanted || wanted.has(r.wnid))
    .map((r) => ({
      key: `photo/${r.wnid}`,
      caption: captionOf(r.wnid),
      file: path.resolve(data, 'imagenet-1k-samples', r.shard),
      offset: r.offset,
      size: r.size,
      width: r.width,
      height: r.height,
      meta: { wnid: r.wnid },
    }));
}

/**
 * Builds (once) the default corpus: Tiny ImageNet train + the full-size ImageNet sample photos.
 * Val/test are left out on purpose: evaluation targets are carved from them. Returns the manifest path.
 */
export async function ensureDefaultCorpus(dirs: CorpusDirs = {}): Promise<string> {
  const state = dirs.stateDir ?? stateDir();
  const data = requireDatasets(DEFAULT_CORPUS_FILES, dirs.datasetsDir);
  const corpusDir = path.join(state, 'corpus');
  const manifestPath = path.join(corpusDir, 'default', 'manifest.jsonl');
  const stampPath = path.join(corpusDir, 'default', 'build.json');

  const started = Date.now();
  const tarPath = await ensureGunzipped(
    path.join(data, 'tiny-imagenet-200-32px', 'train.tar.gz'),
    path.join(corpusDir, 'tiny-imagenet-train.tar'),
  );
  const stamp = JSON.stringify({ version: DEFAULT_CORPUS_VERSION, datasets: path.resolve(data), tar: tarPath });
  if ((await readIfExists(stampPath)) === stamp && (await exists(manifestPath))) return manifestPath;

  const records = await buildDefaultRecords(data, tarPath, dirs.wordnetDir ?? wordnetDir());
  await writeManifest(manifestPath, records);
  await writeFileAtomic(stampPath, stamp);
  log.info({ manifestPath, images: records.length, ms: Date.now() - started }, 'default corpus built');
  return manifestPath;
}

async function buildDefaultRecords(data: string, tarPath: string, wnDir: string): Promise<ManifestRecord[]> {
  const wordnet = loadNouns(wnDir);
  const classes = readJsonl<ClassInfo>(path.join(data, 'classes.jsonl'));
  const captions = new Map(classes.map((c) => [c.wnid, classCaption(c, wordnet)]));
  const captionOf = (wnid: string): string => {
    const caption = captions.get(wnid);
    if (caption === undefined) throw new Error(`class ${wnid} missing from classes.jsonl`);
    return caption;
  };

  const tiny = readJsonl<TinyRow>(path.join(data, 'tiny-imagenet-200-32px', 'train.jsonl.gz'));
  const records: ManifestRecord[] = tiny.map((r) => ({
    key: `tiny/${path.basename(r.path, path.extname(r.path))}`,
    caption: captionOf(r.wnid),
    file: tarPath,
    offset: r.offset,
    size: r.size,
    width: 32,
    height: 32,
    meta: { wnid: r.wnid },
  }));
  records.push(...photoRecords(data, captionOf));
  return records;
}

/**
 * Gunzips `source` to `target` unless a file of the right size is already there. The size comes from
 * the gzip trailer (ISIZE, uncompressed length mod 2^32), which is exact for these sub-4 GiB archives.
 */
export async function ensureGunzipped(source: string, target: string): Promise<string> {
  const expected = await gzipTrailerSize(source);
  const current = await stat(target).catch(() => undefined);
  if (current && current.size % 2 ** 32 === expected) return target;

  const started = Date.now();
  await writeWhole(target, (tmp) => pipeline(createReadStream(source), createGunzip(), createWriteStream(tmp)));
  log.info({ source, target, ms: Date.now() - started }, 'archive gunzipped');
  return target;
}

async function gzipTrailerSize(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buf = Buffer.alloc(4);
    await handle.read(buf, 0, 4, size - 4);
    return buf.readUInt32LE(0);
  } finally {
    await handle.close();
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}
