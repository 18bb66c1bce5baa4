import { Deflate } from 'pako';

const CHUNK = 4 << 20;

/**
 * gzip at level 9 exactly as Python's `gzip` module (reference zlib) writes it with mtime 0 and no file
 * name: header `1f 8b 08 00 00000000 02 ff`, then the deflate stream, CRC-32 and length. Node's own zlib
 * is a fork whose deflate output differs byte for byte; pako is a port of reference zlib and, with its
 * legacy hash, produces the same stream (checked against the published archives).
 */
export function gzipReference(data: Buffer, onProgress?: (done: number, total: number) => void): Buffer {
  const deflate = new Deflate({ level: 9, gzip: true, legacyHash: true });
  if (data.length === 0) deflate.push(new Uint8Array(0), true);
  for (let at = 0; at < data.length; at += CHUNK) {
    const end = Math.min(data.length, at + CHUNK);
    deflate.push(data.subarray(at, end), end === data.length);
    onProgress?.(end, data.length);
  }
  if (deflate.err) throw new Error(`gzip failed: ${deflate.msg}`);
  const out = Buffer.from(deflate.result.buffer, deflate.result.byteOffset, deflate.result.byteLength);
  out[9] = 0xff; // OS "unknown", as Python writes it (pako writes 3, Unix); outside the CRC
  return out;
}
