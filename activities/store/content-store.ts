import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { UsageError } from '../../lib/errors';
import { readdirOrEmpty } from '../../lib/files';
import { imageStoreDir } from '../../lib/paths';
import { db } from '../../lib/db';
import { fetchFile, fetchFiles, imageKey, objectStore, publish } from '../../lib/storage';
import { yieldEvery } from '../../lib/yield';
import { plainJpegHeader } from './normalise';

/** Content-addressed image store: one file per SHA-256 of the source bytes, written atomically. */
export function storeRoot(): string {
  return imageStoreDir();
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function storePath(sha: string): string {
  return path.join(storeRoot(), sha.slice(0, 2), `${sha}.jpg`);
}

/** Shard directories known to exist (each is created once per process, not once per image). */
const madeDirs = new Set<string>();

/**
 * Writes `jpeg` under `sha` unless it is already there, and publishes it to the object store; returns its
 * key (what Image.path holds). A crash never leaves a partial file in place (written to a temporary name,
 * then renamed). The calls are synchronous: for files of a few kilobytes the thread-pool round trips of the
 * asynchronous ones (open, write, close, rename) cost more CPU than the writes themselves, and each blocks the
 * event loop for well under a millisecond.
 */
export async function putImage(sha: string, jpeg: Buffer): Promise<string> {
  const target = storePath(sha);
  if (!existsSync(target)) writeImage(target, jpeg);
  // Uploaded even when this host had the file: a crash between its write and its upload left it only here.
  return publish(target);
}

/** Whether the run's images can reach `sha`'s: this host has it, or an object store holds what its row names. */
export function imageAvailable(sha: string): boolean {
  // A row is written only after its upload finished, so with an object store the row vouches for the object.
  return objectStore() !== null || existsSync(storePath(sha));
}

/** This host's copy of an image (downloaded from the object store when another host stored it). */
export function imageFile(sha: string): Promise<string> {
  return fetchFile(imageKey(sha));
}

function writeImage(target: string, jpeg: Buffer): void {
  const dir = path.dirname(target);
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
  }
  const tmp = `${target}.${randomUUID()}.tmp`;
  try {
    try {
      writeFileSync(tmp, jpeg);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The directory went away (a store wiped under a running process): make it again.
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, jpeg);
    }
    renameSync(tmp, target);
  } catch (error) {
    // A write cut short (a full disk) leaves no partial temp file behind, and says which file it was.
    rmSync(tmp, { force: true });
    const errno = error as NodeJS.ErrnoException;
    if (errno.code && !errno.path) errno.path = target;
    throw error;
  }
}

/** The stored image for `sha`, if its file is already in the store (its size read from the header). */
export async function storedImage(sha: string): Promise<{ path: string; width: number; height: number } | undefined> {
  const file = storePath(sha);
  // A missing file (the usual case) costs one stat, not a read or a libvips error.
  if (!existsSync(file)) return undefined;
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch {
    return undefined;
  }
  // Stored files are normalised JPEGs, whose size the frame header gives without libvips.
  const plain = plainJpegHeader(bytes);
  if (plain) return { path: file, ...plain };
  try {
    const { width, height } = await sharp(bytes).metadata();
    return width && height ? { path: file, width, height } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This host's file of each image (fetched from the object store where missing, `concurrency` at once);
 * every one must have a row in the content store's table. Returns a lookup by SHA-256.
 */
export async function localImageFiles(
  shas: string[],
  options: { onFetched?: (done: number) => void } = {},
): Promise<(sha: string) => string> {
  const unique = [...new Set(shas)];
  const rows = await db().image.findMany({ where: { sha256: { in: unique } }, select: { sha256: true, path: true } });
  const keyOf = new Map(rows.map((r) => [r.sha256, r.path]));
  const missing = unique.filter((sha) => !keyOf.has(sha));
  if (missing.length)
    throw new Error(`${missing.length} images are not in the content store's table, e.g. ${missing[0]}`);
  const files = await fetchFiles(
    unique.map((sha) => keyOf.get(sha) as string),
    options,
  );
  const fileOf = new Map(unique.map((sha, i) => [sha, files[i] as string]));
  return (sha) => {
    const file = fileOf.get(sha);
    if (file === undefined) throw new Error(`image ${sha} was not asked for`);
    return file;
  };
}

/**
 * How many image files a host keeps as copies of an object store's (IE_IMAGE_COPIES, default 200,000: about
 * 2 GB of 256 px JPEGs, four times the replay buffer and an iteration's downloads).
 */
export function imageCopiesCap(): number {
  const raw = process.env.IE_IMAGE_COPIES;
  if (raw === undefined || raw === '') return 200_000;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`IE_IMAGE_COPIES=${raw}: give the number of image files a host may keep, e.g. 200000`);
  return n;
}

/** Copies used (written, fetched or read through fetchFile) this recently are kept whatever the count. */
export const RECENT_COPY_MS = 2 * 3600_000;

/**
 * With an object store, this host's image files are copies that any stage fetches again when it needs them;
 * beyond `cap`, the least recently used (by modification time, which fetchFile renews on every use) are
 * removed, down to 90 % of the cap, sparing any used within RECENT_COPY_MS (a stage on this host may be
 * reading them). Without an object store they are the run's images and nothing is removed; nor when the
 * object store is a folder whose images are these very files. Returns how many were removed.
 * Cost: one listing of this host's copies (≤ the cap plus what one iteration added), and a stat of each only
 * when they are over the cap; the copies on a host stay within the cap however long the run.
 */
export async function trimImageCopies(cap = imageCopiesCap(), now = Date.now()): Promise<number> {
  const store = objectStore();
  if (!store || (await sameFolder(store.folder && path.join(store.folder, 'store'), storeRoot()))) return 0;
  const files: string[] = [];
  for (const shard of await readdirOrEmpty(storeRoot())) {
    for (const name of await readdirOrEmpty(path.join(storeRoot(), shard))) {
      if (name.endsWith('.jpg')) files.push(path.join(storeRoot(), shard, name));
    }
  }
  if (files.length <= cap) return 0;
  const used: { file: string; ms: number }[] = [];
  for (let i = 0; i < files.length; i++) {
    const ms = await fs.stat(files[i]).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (ms !== undefined) used.push({ file: files[i], ms });
    await yieldEvery(i, 4096);
  }
  used.sort((a, b) => a.ms - b.ms);
  const excess = used.length - Math.floor(cap * 0.9);
  let removed = 0;
  for (const { file, ms } of used.slice(0, Math.max(0, excess))) {
    if (now - ms < RECENT_COPY_MS) break;
    await fs.rm(file, { force: true });
    removed++;
  }
  return removed;
}

async function sameFolder(a: string | undefined, b: string): Promise<boolean> {
  if (!a) return false;
  const real = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  return (await real(a)) === (await real(b));
}
