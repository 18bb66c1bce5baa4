import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';

/** A source archive or folder that cannot be read, or that lacks what the dataset is made of. */
export class SourceError extends Error {
  override readonly name = 'SourceError';
}

/**
 * The files of a source tree, by path relative to the tree's root. The root is found, not assumed: GitHub's
 * archives put everything in one top folder (`<repo>-<commit>/`), a checkout or an unpacked copy may not.
 */
export type SourceTree = Map<string, Buffer>;

/**
 * Reads the files of `source` (a .tar or .tar.gz archive, or a folder) whose paths match `wanted`: a
 * pattern anchored at the end of the path, e.g. `(?:wnids\.txt|val/images/val_\d+\.JPEG)`. Whatever
 * precedes the match must be the same folder for every file (the tree's root); other files are skipped.
 */
export async function readSourceTree(
  source: string,
  wanted: string,
  onProgress?: (done: number, total: number, unit: 'bytes' | 'files') => void,
): Promise<SourceTree> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new SourceError(`${source} does not exist`);
  const match = new RegExp(`^((?:[^/]+/)*?)(${wanted})$`);
  const tree = new Map<string, Buffer>();
  let root: string | undefined;
  const take = (name: string): string | undefined => {
    const m = match.exec(name.replace(/^\.\//, ''));
    if (!m) return undefined;
    if (root === undefined) root = m[1];
    else if (m[1] !== root) throw new SourceError(`${source} holds more than one tree ('${root}' and '${m[1]}')`);
    return m[2];
  };
  if (info.isDirectory()) await readFolder(source, take, tree, (d, t) => onProgress?.(d, t, 'files'));
  else await readArchive(source, info.size, take, tree, (d, t) => onProgress?.(d, t, 'bytes'));
  return tree;
}

async function readFolder(
  folder: string,
  take: (name: string) => string | undefined,
  tree: SourceTree,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const names = (await readdir(folder, { recursive: true })).map((n) => n.split(path.sep).join('/')).sort();
  const picked = names.map((n) => [n, take(n)] as const).filter((p): p is [string, string] => p[1] !== undefined);
  let done = 0;
  for (const [name, rel] of picked) {
    tree.set(rel, await readFile(path.join(folder, name)));
    onProgress?.(++done, picked.length);
  }
}

async function readArchive(
  file: string,
  size: number,
  take: (name: string) => string | undefined,
  tree: SourceTree,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const magic = Buffer.alloc(512);
  const handle = await open(file, 'r');
  try {
    await handle.read(magic, 0, magic.length, 0);
  } finally {
    await handle.close();
  }
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  const isTar = magic.toString('latin1', 257, 262) === 'ustar';
  if (magic[0] === 0x50 && magic[1] === 0x4b)
    throw new SourceError(
      `${file} is a zip archive; give the .tar.gz (codeload.github.com/<repo>/tar.gz/<commit>) or an unpacked folder`,
    );
  if (!gzipped && !isTar) throw new SourceError(`${file} is neither a tar nor a tar.gz archive`);

  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      read += chunk.length;
      onProgress?.(read, size);
      done(null, chunk);
    },
  });
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    let rel: string | undefined;
    try {
      rel = header.type === 'file' ? take(header.name) : undefined;
    } catch (err) {
      stream.resume();
      next(err as Error);
      return;
    }
    if (rel === undefined) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      tree.set(rel, Buffer.concat(chunks));
      next();
    });
  });
  const stages = gzipped
    ? [createReadStream(file), counter, createGunzip(), tar]
    : [createReadStream(file), counter, tar];
  try {
    await pipeline(stages);
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(`${file} is damaged or incomplete (${(err as Error).message})`);
  }
}
