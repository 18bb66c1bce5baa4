/**
 * A deterministic POSIX ustar writer whose output is byte-identical to Python's
 * `tarfile.open(mode='w', format=tarfile.USTAR_FORMAT)` for regular files (the format the published
 * datasets were packed in): mode 0644, uid/gid 0, no user or group names, the same field encodings, two
 * zero blocks at the end and the archive padded to a multiple of 20 blocks. tar-stream encodes the
 * numeric fields differently (`000644 \0` instead of `0000644\0`), so it cannot rebuild those bytes.
 */

const BLOCK = 512;
const RECORD = 20 * BLOCK;
const NAME_MAX = 100;
const PREFIX_MAX = 155;

export interface TarInput {
  name: string;
  data: Buffer;
}

/** Where a member's data lies in the archive. */
export interface TarMemberPlacement {
  name: string;
  offset: number;
  size: number;
}

export interface PackedTar {
  tar: Buffer;
  members: TarMemberPlacement[];
}

/** Packs `files` in the given order, every member with modification time `mtime` (Unix seconds). */
export function packUstar(files: readonly TarInput[], mtime: number): PackedTar {
  let total = 0;
  for (const f of files) total += BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK;
  total += 2 * BLOCK;
  total = Math.ceil(total / RECORD) * RECORD;
  const tar = Buffer.alloc(total);
  const members: TarMemberPlacement[] = [];
  let pos = 0;
  for (const f of files) {
    writeHeader(tar.subarray(pos, pos + BLOCK), f.name, f.data.length, mtime);
    f.data.copy(tar, pos + BLOCK);
    members.push({ name: f.name, offset: pos + BLOCK, size: f.data.length });
    pos += BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK;
  }
  return { tar, members };
}

function writeHeader(header: Buffer, fullName: string, size: number, mtime: number): void {
  const [prefix, name] = splitName(fullName);
  putString(header, 0, NAME_MAX, name);
  putOctal(header, 100, 8, 0o644);
  putOctal(header, 108, 8, 0); // uid
  putOctal(header, 116, 8, 0); // gid
  putOctal(header, 124, 12, size);
  putOctal(header, 136, 12, mtime);
  header.write('        ', 148, 'latin1'); // checksum field counts as spaces while summing
  header.write('0', 156, 'latin1'); // regular file
  header.write('ustar\x0000', 257, 'latin1');
  putString(header, 345, PREFIX_MAX, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  // Python writes "%06o\0" and leaves the eighth byte a space.
  header.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 'latin1');
}

/** Python's `_posix_split_name`: the shortest directory prefix that makes the rest fit in 100 bytes. */
function splitName(name: string): [string, string] {
  if (Buffer.byteLength(name) <= NAME_MAX) return ['', name];
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    const rest = parts.slice(i).join('/');
    if (Buffer.byteLength(prefix) <= PREFIX_MAX && Buffer.byteLength(rest) <= NAME_MAX) return [prefix, rest];
  }
  throw new Error(`tar member name too long for ustar: ${name}`);
}

function putString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
  bytes.copy(header, offset);
}

/** Zero-padded octal in `length - 1` digits, then NUL (Python's `itn` for ustar). */
function putOctal(header: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new Error(`tar header value too large: ${value}`);
  header.write(`${digits.padStart(length - 1, '0')}\0`, offset, 'latin1');
}
