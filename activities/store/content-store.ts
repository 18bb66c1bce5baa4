import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { stateDir } from '../../lib/paths';

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

/** Writes `jpeg` under `sha` unless it is already there; a crash never leaves a partial file in place. */
export async function putImage(sha: string, jpeg: Buffer): Promise<string> {
  const target = storePath(sha);
  try {
    await fs.access(target);
    return target;
  } catch {
    // not stored yet
  }
  const dir = path.dirname(target);
  if (!madeDirs.has(dir)) {
    await fs.mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  }
  const tmp = `${target}.${randomUUID()}.tmp`;
  try {
    await fs.writeFile(tmp, jpeg);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // The directory went away (a store wiped under a running process): make it again.
    madeDirs.delete(dir);
    await fs.mkdir(dir, { recursive: true });
    madeDirs.add(dir);
    await fs.writeFile(tmp, jpeg);
  }
  await fs.rename(tmp, target);
  return target;
}

/** The stored image for `sha`, if its file is already in the store (its size read from the header). */
export async function storedImage(sha: string): Promise<{ path: string; width: number; height: number } | undefined> {
  const file = storePath(sha);
  let bytes: Buffer;
  try {
    // Read here rather than by sharp: a missing file (the usual case) costs one failed open, not a libvips error.
    bytes = await fs.readFile(file);
  } catch {
    return undefined;
  }
  try {
    const { width, height } = await sharp(bytes).metadata();
    return width && height ? { path: file, width, height } : undefined;
  } catch {
    return undefined;
  }
}
