import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `target` whole or not at all (a temp sibling, then rename): a reader never sees a half-written
 * file, and a crash mid-write leaves only a temp file, never a torn target.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await writeWhole(target, (tmp) => writeFile(tmp, data));
}

/**
 * Makes `target` whole or not at all: `write` fills a temp sibling (made with its folder), which is then
 * renamed over `target`; a failed write leaves no temp file behind.
 */
export async function writeWhole(target: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    await write(tmp);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A unique sibling path, so concurrent writers never write into each other's temp file. */
export function tempPathFor(target: string): string {
  return `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Removes the files in `dir` named `prefix` + a name `version` matches, except those named in `keep`: the
 * older versions of a file kept once per version (a cache named by a hash or a source's version). Only whole
 * names match, so a writer's temp file (tempPathFor) is never removed under it. A missing `dir` is empty.
 * With `unusedForMs`, only versions whose modification time is at least that old go: for caches where
 * several versions are in use at once and each use touches its file (`touch`).
 */
export async function removeOtherVersions(
  dir: string,
  prefix: string,
  version: RegExp,
  keep: readonly string[],
  options: { unusedForMs?: number } = {},
): Promise<void> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const others = names.filter((f) => f.startsWith(prefix) && version.test(f.slice(prefix.length)) && !keep.includes(f));
  const { unusedForMs } = options;
  const unused = async (f: string): Promise<boolean> => {
    if (unusedForMs === undefined) return true;
    const info = await stat(path.join(dir, f)).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs >= unusedForMs;
  };
  await Promise.all(others.map(async (f) => (await unused(f)) && rm(path.join(dir, f), { force: true })));
}

/** Sets a file's modification time to now (a cache's "last used"); a file that has gone is left gone. */
export async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

// Float32 arrays handed between stages carry a header, the same one trainer/ietrainer/handover.py reads and
// writes: the magic `IEF32v1\n`, a little-endian uint32 header length, a JSON header {format, rows, dim, bytes,
// sha256} padded with spaces so the data starts at a multiple of 16, then rows × dim little-endian float32.
const F32_MAGIC = Buffer.from('IEF32v1\n', 'latin1');
const F32_ALIGN = 16;

export interface Float32Shape {
  rows: number;
  dim: number;
}

/** A handed-over file that is missing, torn, altered or not what its reader expects; the message names it. */
export class HandoverFileError extends Error {
  override readonly name = 'HandoverFileError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

/** `values` (rows × dim, row-major) with its checked header. */
export function encodeFloat32File(values: Float32Array, shape: Float32Shape): Buffer {
  if (values.length !== shape.rows * shape.dim)
    throw new RangeError(`${values.length} floats are not ${shape.rows} × ${shape.dim}`);
  const data = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const header = {
    format: 'float32-le',
    rows: shape.rows,
    dim: shape.dim,
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
  };
  let text = JSON.stringify(header);
  text += ' '.repeat((F32_ALIGN - ((F32_MAGIC.length + 4 + text.length) % F32_ALIGN)) % F32_ALIGN);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(text.length);
  return Buffer.concat([F32_MAGIC, length, Buffer.from(text, 'latin1'), data]);
}

/** Writes a float32 array handed to another stage: whole or not at all, with the header its reader checks. */
export async function writeFloat32File(target: string, values: Float32Array, shape: Float32Shape): Promise<void> {
  await writeFileAtomic(target, encodeFloat32File(values, shape));
}

/**
 * The array in bytes read from `file`, checked against its header (length, then sha256) and against the shape
 * the reader expects; a HandoverFileError naming the file otherwise.
 */
export function decodeFloat32File(
  file: string,
  bytes: Buffer,
  expect: Partial<Float32Shape> = {},
): Float32Shape & { values: Float32Array } {
  if (bytes.length < F32_MAGIC.length + 4 || !bytes.subarray(0, F32_MAGIC.length).equals(F32_MAGIC))
    throw new HandoverFileError(
      file,
      `${file} is not a checked float32 file (no header): written by an older version or by something else; ` +
        'the stage that writes it must run again',
    );
  const start = F32_MAGIC.length + 4 + bytes.readUInt32LE(F32_MAGIC.length);
  let header: { rows: number; dim: number; bytes: number; sha256: string };
  try {
    header = JSON.parse(bytes.subarray(F32_MAGIC.length + 4, start).toString('latin1')) as typeof header;
  } catch (error) {
    throw new HandoverFileError(file, `${file} has a torn or unreadable header (${(error as Error).message})`);
  }
  const { rows, dim, sha256 } = header;
  const data = bytes.subarray(start);
  if (data.length !== header.bytes || header.bytes !== rows * dim * 4)
    throw new HandoverFileError(
      file,
      `${file} is torn: its header announces ${rows} × ${dim} floats (${header.bytes} bytes), ` +
        `the file holds ${data.length} bytes after it`,
    );
  if (createHash('sha256').update(data).digest('hex') !== sha256)
    throw new HandoverFileError(file, `${file} does not match its checksum: it was changed after it was written`);
  if ((expect.rows !== undefined && rows !== expect.rows) || (expect.dim !== undefined && dim !== expect.dim))
    throw new HandoverFileError(
      file,
      `${file} holds ${rows} × ${dim} floats, expected ${expect.rows ?? 'any'} × ${expect.dim ?? 'any'}`,
    );
  // Copy: the data need not be 4-byte aligned in the buffer Node read it into.
  const values = new Float32Array(rows * dim);
  new Uint8Array(values.buffer).set(data);
  return { values, rows, dim };
}

/** Reads and checks a float32 file another stage wrote (decodeFloat32File); a missing one is a HandoverFileError. */
export async function readFloat32File(
  file: string,
  expect: Partial<Float32Shape> = {},
): Promise<Float32Shape & { values: Float32Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new HandoverFileError(file, `${file} is missing`);
    throw error;
  }
  return decodeFloat32File(file, bytes, expect);
}

/** Size and sha256 of a file, streamed (model files may be large). */
export async function fileChecksum(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Feeds each file's path (relative to `root`, as given) and content into `hash`, each framed by a NUL, in the
 * order given: a cache key for code or data that must be rebuilt when any of those files changes.
 */
export async function hashFiles(hash: Hash, root: string, files: readonly string[]): Promise<Hash> {
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await readFile(path.join(root, file)))
      .update('\0');
  return hash;
}

/** The names in a folder; none when the folder does not exist (yet, or any more). */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
