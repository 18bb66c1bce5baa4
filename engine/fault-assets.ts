import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { createDeflate, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { writeFileAtomic } from '../lib/files';
import { unitHash } from './faults';

/**
 * Bytes for the faults that need more than a status code: decompression bombs, a huge image, odd
 * encodings of a real image. Large synthetic assets are generated once and cached on disk under `dir`;
 * per-image variants are kept in a small in-memory LRU.
 */
export class FaultAssets {
  private readonly files = new Map<string, Promise<Buffer>>();
  private readonly variants = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly dir: string,
    private readonly variantCacheSize = 64,
  ) {}

  /** A valid `side`×`side` PNG (one colour with a diagonal band, so it is not trivially blank). */
  hugePng(side: number): Promise<Buffer> {
    return this.cachedFile(`huge-${side}.png`, async () => {
      const band = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}">` +
          `<rect width="${side}" height="${side}" fill="#3a7bbf"/>` +
          `<path d="M0 0 L${side} ${side}" stroke="#f0c040" stroke-width="${Math.ceil(side / 20)}"/></svg>`,
      );
      return sharp({ create: { width: side, height: side, channels: 3, background: '#3a7bbf' } })
        .composite([{ input: band, limitInputPixels: false }])
        .png({ compressionLevel: 9 })
        .toBuffer();
    });
  }

  /** A valid 1-bit greyscale PNG of `side`×`side` zero pixels: ~side²/8 bytes inflate from ~1/1000 of that. */
  bombPng(side: number): Promise<Buffer> {
    return this.cachedFile(`bomb-${side}.png`, () => buildBombPng(side));
  }

  /** The real image re-encoded as `kind`. */
  variant(kind: VariantKind, key: string, original: Buffer): Promise<Buffer> {
    const id = `${kind}\u0000${key}`;
    let pending = this.variants.get(id);
    if (pending) {
      this.variants.delete(id);
    } else {
      pending = encodeVariant(kind, original);
      void pending.catch(() => this.variants.delete(id));
    }
    this.variants.set(id, pending);
    if (this.variants.size > this.variantCacheSize) {
      const oldest = this.variants.keys().next().value;
      if (oldest !== undefined) this.variants.delete(oldest);
    }
    return pending;
  }

  private cachedFile(name: string, make: () => Promise<Buffer>): Promise<Buffer> {
    let pending = this.files.get(name);
    if (!pending) {
      pending = this.loadOrMake(path.join(this.dir, name), make);
      void pending.catch(() => this.files.delete(name));
      this.files.set(name, pending);
    }
    return pending;
  }

  private async loadOrMake(file: string, make: () => Promise<Buffer>): Promise<Buffer> {
    const existing = await readFile(file).catch(() => undefined);
    if (existing) return existing;
    const bytes = await make();
    await writeFileAtomic(file, bytes);
    return bytes;
  }
}

export type VariantKind = 'animated_gif' | 'cmyk_jpeg' | 'png16' | 'palette_png' | 'exif_rotated';

async function encodeVariant(kind: VariantKind, original: Buffer): Promise<Buffer> {
  const image = sharp(original).rotate();
  switch (kind) {
    case 'cmyk_jpeg':
      return image.toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
    case 'png16':
      return image.toColourspace('rgb16').png().toBuffer();
    case 'palette_png':
      return image.png({ palette: true, colours: 64 }).toBuffer();
    case 'exif_rotated':
      // Pixels turned 90° counter-clockwise; Orientation 6 tells a viewer to turn them back clockwise.
      return sharp(await image.rotate(270).toBuffer())
        .withMetadata({ orientation: 6 })
        .jpeg({ quality: 90 })
        .toBuffer();
    case 'animated_gif': {
      const frame = await image.removeAlpha().toBuffer();
      const frames = [frame, await sharp(frame).negate().toBuffer(), await sharp(frame).greyscale().toBuffer()];
      return sharp(frames, { join: { animated: true } })
        .gif({ delay: [200, 200, 200], loop: 0 })
        .toBuffer();
    }
  }
}

/** PNG chunk: length, type, data, CRC over type + data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

export async function buildBombPng(side: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  // compression, filter, interlace: all 0
  const rowBytes = 1 + Math.ceil(side / 8); // filter byte + packed pixels
  // Every row: filter 0, every pixel 0. Streamed through deflate in blocks of rows, never held whole.
  const rowsPerBlock = Math.max(1, Math.floor((4 << 20) / rowBytes));
  const block = Buffer.alloc(rowsPerBlock * rowBytes);
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => parts.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    deflate.once('end', resolve);
    deflate.once('error', reject);
  });
  for (let row = 0; row < side; row += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, side - row);
    if (!deflate.write(block.subarray(0, rows * rowBytes))) await once(deflate, 'drain');
  }
  deflate.end();
  await finished;
  const idat = Buffer.concat(parts);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A GIF whose screen and only frame claim `side`×`side` pixels, with LZW data of just clear + end codes. */
export function buildBombGif(side: number): Buffer {
  const head = Buffer.alloc(13);
  head.write('GIF89a', 0, 'latin1');
  head.writeUInt16LE(side, 6);
  head.writeUInt16LE(side, 8);
  head[10] = 0x80; // global colour table of 2 entries
  const palette = Buffer.from([0, 0, 0, 255, 255, 255]);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(side, 5);
  descriptor.writeUInt16LE(side, 7);
  // LZW minimum code size 2: clear = 4, end = 5, 3-bit codes packed LSB first → 0b101_100.
  const data = Buffer.from([0x02, 0x01, 0x04 | (0x05 << 3), 0x00, 0x3b]);
  return Buffer.concat([head, palette, descriptor, data]);
}

/**
 * The JPEG's segments up to and including the start-of-scan header, then seeded garbage in place of the
 * entropy-coded data (no end marker): the header (and so the size) parses, the pixels do not.
 */
export function corruptJpeg(original: Buffer, seed: number, key: string): Buffer {
  let pos = 2;
  let headerEnd = Math.min(original.length, 2);
  while (pos + 4 <= original.length && original[pos] === 0xff) {
    const marker = original[pos + 1];
    const length = original.readUInt16BE(pos + 2);
    pos += 2 + length;
    headerEnd = Math.min(pos, original.length);
    if (marker === 0xda) break; // SOS: entropy-coded data follows
  }
  const garbageLength = Math.max(64, original.length - headerEnd);
  const garbage = Buffer.alloc(garbageLength);
  let block = createHash('sha256').update(`${seed}\u0000${key}`).digest();
  for (let i = 0; i < garbageLength; i += block.length) {
    block.copy(garbage, i);
    block = createHash('sha256').update(block).digest();
  }
  // Keep 0xFF out of the garbage so no byte pair reads as a marker (an early EOI would end decoding cleanly).
  for (let i = 0; i < garbage.length; i++) if (garbage[i] === 0xff) garbage[i] = 0x7f;
  // A few restart-less "marker" bytes that are invalid inside scan data make strict decoders fail.
  for (let i = 0; i < garbage.length; i += 97) {
    if (unitHash(seed, `${key}\u0000${i}`) < 0.5 && i + 1 < garbage.length) {
      garbage[i] = 0xff;
      garbage[i + 1] = 0xc4;
    }
  }
  return Buffer.concat([original.subarray(0, headerEnd), garbage]);
}

/** A web page where an image was expected. */
export function htmlInsteadOfImage(key: string): Buffer {
  return Buffer.from(
    `<!doctype html>\n<html><head><title>Image not available</title></head>\n` +
      `<body><h1>Sorry</h1><p>The image ${key.replace(/[&<>"']/g, '')} was moved or needs a login.</p></body></html>\n`,
  );
}
