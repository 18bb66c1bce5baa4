import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { logger } from '../lib/logger';
import { stateDir } from '../lib/paths';
import { type ManifestRecord, writeManifest } from './corpus';
import { writeFileAtomic } from '../lib/files';

const log = logger.child({ component: 'webdataset' });

const BLOCK = 512;
const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'];

/** One regular file inside a tar: its name and where its data lies. */
export interface TarMember {
  name: string;
  offset: number;
  size: number;
}

export interface WebdatasetBuild {
  manifestPath: string;
  shards: number;
  samples: number;
  /** Samples left out: no image member, or no caption at all. */
  skipped: number;
}

/**
 * Lists the regular files of an uncompressed tar (ustar, with pax `x`/`g` and GNU `L` long-name
 * headers, as Python's tarfile and GNU tar write them), reading headers only.
 */
export async function listTar(file: string): Promise<TarMember[]> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const members: TarMember[] = [];
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    while (pos + BLOCK <= fileSize) {
      await readExactly(handle, header, pos);
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      if (!checksumOk(header)) throw new Error(`${file}: bad tar header checksum at offset ${pos}`);
      const size = parseNumber(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] || 0x30);
      const dataStart = pos + BLOCK;
      if (dataStart + size > fileSize) throw new Error(`${file}: member at offset ${pos} runs past the end`);
      const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L') {
        longName = cString(await readAt(handle, dataStart, size));
      } else if (type === 'x') {
        paxPath = paxRecords(await readAt(handle, dataStart, size)).get('path') ?? paxPath;
      } else if (type === 'g') {
        // global pax header: nothing we use
      } else {
        if (type === '0' || type === '\0' || type === '7') {
          const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar')
            ? cString(header.subarray(345, 500))
            : '';
          const short = cString(header.subarray(0, 100));
          const name = paxPath ?? longName ?? (prefix ? `${prefix}/${short}` : short);
          members.push({ name, offset: dataStart, size });
        }
        longName = undefined;
        paxPath = undefined;
      }
      pos = next;
    }
    return members;
  } finally {
    await handle.close();
  }
}

/**
 * Indexes an img2dataset webdataset folder (`00000.tar`, … with `<key>.jpg`, `<key>.txt` caption and
 * `<key>.json` metadata per sample) as a corpus manifest: one record per sample whose bytes are the image
 * member's data inside its shard (`file` = shard path, `offset`/`size`), captioned from `.txt` (or the
 * json's `caption`), sized from the json's `width`/`height`. Compressed shards (.tar.gz) are not read.
 */
export async function buildWebdatasetManifest(folder: string, outManifest: string): Promise<WebdatasetBuild> {
  const shards = await listShards(folder);
  const records: ManifestRecord[] = [];
  const keys = new Set<string>();
  let skipped = 0;
  for (const shard of shards) {
    const members = await listTar(shard);
    const samples = new Map<string, Map<string, TarMember>>();
    for (const m of members) {
      const dot = m.name.lastIndexOf('.');
      if (dot <= 0 || m.name.lastIndexOf('/') > dot) continue;
      const key = m.name.slice(0, dot);
      const ext = m.name.slice(dot + 1).toLowerCase();
      let parts = samples.get(key);
      if (!parts) samples.set(key, (parts = new Map()));
      parts.set(ext, m);
    }
    const handle = await open(shard, 'r');
    try {
      for (const [sampleKey, parts] of samples) {
        const image = IMAGE_EXTENSIONS.map((e) => parts.get(e)).find((m) => m !== undefined && m.size > 0);
        const meta = parts.get('json') ? parseJson(await readMember(handle, parts.get('json'))) : {};
        const txt = parts.get('txt') ? (await readMember(handle, parts.get('txt'))).toString('utf8').trim() : '';
        const caption = txt || (typeof meta.caption === 'string' ? meta.caption.trim() : '');
        if (!image || caption === '') {
          skipped++;
          continue;
        }
        let key = sampleKey;
        if (keys.has(key)) key = `${path.basename(shard, '.tar')}/${sampleKey}`;
        keys.add(key);
        records.push({
          key,
          caption,
          file: path.resolve(shard),
          offset: image.offset,
          size: image.size,
          ...positiveInt('width', meta.width),
          ...positiveInt('height', meta.height),
          meta: {
            shard: path.basename(shard),
            ...(typeof meta.url === 'string' ? { url: meta.url } : {}),
            ...(typeof meta.status === 'string' ? { status: meta.status } : {}),
          },
        });
      }
    } finally {
      await handle.close();
    }
  }
  await writeManifest(outManifest, records);
  log.info({ folder, shards: shards.length, samples: records.length, skipped }, 'webdataset indexed');
  return { manifestPath: outManifest, shards: shards.length, samples: records.length, skipped };
}

/**
 * The manifest of `folder` under `<state>/corpus/webdataset-<hash>/`, built unless one already matches
 * the shards' names, sizes and modification times. Returns the manifest path.
 */
export async function ensureWebdatasetManifest(folder: string, state = stateDir()): Promise<string> {
  const abs = path.resolve(folder);
  const dir = path.join(state, 'corpus', `webdataset-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`);
  const manifestPath = path.join(dir, 'manifest.jsonl');
  const stampPath = path.join(dir, 'build.json');
  const shards = await listShards(abs);
  const stamp = JSON.stringify({
    version: 1,
    folder: abs,
    shards: await Promise.all(
      shards.map(async (s) => {
        const st = await stat(s);
        return [path.basename(s), st.size, st.mtimeMs];
      }),
    ),
  });
  const current = await readFile(stampPath, 'utf8').catch(() => undefined);
  const haveManifest = await stat(manifestPath).then(
    () => true,
    () => false,
  );
  if (current === stamp && haveManifest) return manifestPath;
  await buildWebdatasetManifest(abs, manifestPath);
  await writeFileAtomic(stampPath, stamp);
  return manifestPath;
}

async function listShards(folder: string): Promise<string[]> {
  const names = (await readdir(folder)).filter((n) => n.endsWith('.tar')).sort();
  if (names.length === 0) throw new Error(`${folder}: no .tar shards (compressed shards are not supported)`);
  return names.map((n) => path.join(folder, n));
}

function positiveInt(name: 'width' | 'height', value: unknown): Partial<Record<'width' | 'height', number>> {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? { [name]: value } : {};
}

function parseJson(bytes: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function readMember(handle: FileHandle, member: TarMember | undefined): Promise<Buffer> {
  return member ? readAt(handle, member.offset, member.size) : Promise.resolve(Buffer.alloc(0));
}

async function readAt(handle: FileHandle, offset: number, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  await readExactly(handle, buf, offset);
  return buf;
}

async function readExactly(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let filled = 0;
  while (filled < buf.length) {
    const { bytesRead } = await handle.read(buf, filled, buf.length - filled, position + filled);
    if (bytesRead === 0) throw new Error(`unexpected end of tar at offset ${position + filled}`);
    filled += bytesRead;
  }
}

/** Octal (NUL/space terminated), or GNU base-256 when the high bit of the first byte is set. */
function parseNumber(field: Buffer): number {
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+.*$/s, '')
    .trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumber(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum === stored;
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** pax extended header records: "<len> <key>=<value>\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(data.toString('latin1', pos, space), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}
