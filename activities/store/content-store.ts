import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { stateDir } from '../../lib/paths';
import { plainJpegHeader } from './normalise';

/** Content-addressed image store: one file per SHA-256 of the source bytes, written atomically. */
export function storeRoot(): string {
  return process.env.IE_STORE_DIR ?? path.join(stateDir(), 'store');
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
 * Writes `jpeg` under `sha` unless it is already there; a crash never leaves a partial file in place
 * (written to a temporary name, then renamed). The calls are synchronous: for files of a few kilobytes
 * the thread-pool round trips of the asynchronous ones (open, write, close, rename) cost more CPU than
 * the writes themselves, and each blocks the event loop for well under a millisecond.
 */
export async function putImage(sha: string, jpeg: Buffer): Promise<string> {
  const target = storePath(sha);
  if (existsSync(target)) return target;
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
  return target;
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
