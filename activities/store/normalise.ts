import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { isSrgbProfile } from './icc';

// libvips' operation cache keys every operation by its arguments and keeps recent results alive; downloaded
// images are each seen once, so it only costs CPU (≈5 % of the download path) and memory.
sharp.cache(false);

export interface NormaliseOptions {
  /** Longer side of the stored image, in pixels (never enlarged). */
  maxSide: number;
  /** Refuse inputs with more pixels than this (decompression bombs), judged from the header. */
  maxPixels: number;
}

/** Filters for downloaded images (never applied to the target set). */
export interface ImageFilters {
  /** Refuse when the source's shorter side is below this. */
  minSide: number;
  /** Refuse when the source's longer side / shorter side is above this. */
  maxAspectRatio: number;
}

export interface NormalisedImage {
  jpeg: Buffer;
  width: number;
  height: number;
  /** 64-bit difference hash of the normalised image, 16 hex digits (see `perceptualHash`). */
  phash: string;
}

export type RejectReason = 'decode_error' | 'too_many_pixels' | 'too_small' | 'bad_aspect_ratio';

/** An image refused before or while decoding; `reason` is the outcome recorded for its URL. */
export class ImageRejected extends Error {
  override readonly name: string = 'ImageRejected';
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

export class ImageDecodeError extends ImageRejected {
  override readonly name = 'ImageDecodeError';
  constructor(message: string) {
    super('decode_error', message);
  }
}

/**
 * The source's size from its header (nothing is decoded), checked against `maxPixels` and the filters.
 * @throws ImageRejected
 */
export async function inspectImage(
  input: Buffer,
  opts: Pick<NormaliseOptions, 'maxPixels'>,
  filters?: ImageFilters,
): Promise<{ width: number; height: number }> {
  return checkHeader(readJpegHeader(input) ?? (await readHeader(input)), opts, filters);
}

async function readHeader(input: Buffer): Promise<Metadata> {
  try {
    return await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ImageDecodeError((error as Error).message);
  }
}

function checkHeader(
  meta: Pick<Metadata, 'width' | 'height' | 'pageHeight'>,
  opts: Pick<NormaliseOptions, 'maxPixels'>,
  filters?: ImageFilters,
): { width: number; height: number } {
  // Animations: one page (frame) is decoded.
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (!width || !height) throw new ImageDecodeError('no dimensions in the header');
  if (width * height > opts.maxPixels) {
    throw new ImageRejected('too_many_pixels', `${width}×${height} is over ${opts.maxPixels} pixels`);
  }
  if (filters) {
    const short = Math.min(width, height);
    const long = Math.max(width, height);
    if (short < filters.minSide) throw new ImageRejected('too_small', `${width}×${height} < ${filters.minSide}`);
    if (long / short > filters.maxAspectRatio) {
      throw new ImageRejected('bad_aspect_ratio', `${width}×${height} is over ${filters.maxAspectRatio}:1`);
    }
  }
  return { width, height };
}

/**
 * Decodes any image sharp understands and re-encodes it as a plain 8-bit sRGB RGB JPEG of bounded size:
 * upright (EXIF orientation applied), first frame of animations, transparency flattened onto white,
 * CMYK / 16-bit / palette / greyscale converted. The pixel count is read from the header and checked
 * before anything is decoded, so a small file that claims a huge canvas costs nothing.
 * @throws ImageRejected (decode_error, too_many_pixels, too_small, bad_aspect_ratio)
 */
export async function normaliseImage(
  input: Buffer,
  opts: NormaliseOptions,
  filters?: ImageFilters,
): Promise<NormalisedImage> {
  // A JPEG's header is read here; anything else is read by libvips.
  const jpeg = readJpegHeader(input);
  const meta = jpeg ?? (await readHeader(input));
  const { width, height } = checkHeader(meta, opts, filters);
  if (isTruncatedJpeg(input)) throw new ImageDecodeError('JPEG without an end-of-image marker (truncated or corrupt)');
  // libjpeg only *warns* about corrupt entropy data (the image decodes to noise), and garbage after the
  // scan can hold an end-of-image marker by chance; real photos decode without warnings (none of 11,000
  // corpus JPEGs sampled raise one). Other formats stay at 'error': libpng warns about harmless things.
  const failOn = jpeg || (meta as Metadata).format === 'jpeg' ? 'warning' : 'error';
  try {
    if (jpeg?.plain && Math.max(width, height) <= opts.maxSide) {
      // Already what this function makes (see plainJpegHeader): stored byte for byte. Hashing it decodes
      // it in full (with the normalising pipeline's limits), so a file libjpeg cannot decode is still refused.
      const phash = await plainJpegHash(input, { limitInputPixels: opts.maxPixels, failOn });
      return { jpeg: input, width, height, phash };
    }
    // An embedded sRGB profile is not applied: converting sRGB to sRGB changes nothing but costs more than
    // the decode (see icc.ts). Any other profile is converted from, as sharp does by default.
    const icc = jpeg ? jpeg.icc : (meta as Metadata).icc;
    const ignoreIcc = icc !== undefined && isSrgbProfile(icc);
    const { data, info } = await sharp(input, { limitInputPixels: opts.maxPixels, failOn, pages: 1, ignoreIcc })
      .rotate()
      // Mitchell rather than sharp's default Lanczos-3: a smoother cubic without ringing, nearer to what
      // img2dataset makes (OpenCV's area averaging: 40.6 dB PSNR against it over 100 corpus photos, Lanczos-3
      // 38.4 dB) and cheaper (≈0.15 ms a photo: a shorter kernel, no sine per weight).
      .resize({
        width: opts.maxSide,
        height: opts.maxSide,
        fit: 'inside',
        withoutEnlargement: true,
        kernel: 'mitchell',
      })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    // Hashed from the pixels before they are encoded rather than by decoding the encoded file again: the
    // two differ only by JPEG noise, which the hash's 9×8 cell means average away (a bit at most).
    const phash = differenceHash(data, info.width, info.height, info.channels);
    const out = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      // Huffman tables are not optimised (a second pass over the data for a few % smaller files).
      .jpeg({ quality: 90, mozjpeg: false, optimiseCoding: false })
      .toBuffer();
    return { jpeg: out, width: info.width, height: info.height, phash };
  } catch (error) {
    throw new ImageDecodeError((error as Error).message);
  }
}

/** What `normaliseImage` needs of a JPEG's header, read without libvips (see `readJpegHeader`). */
export interface JpegHeader {
  width: number;
  height: number;
  /**
   * A plain baseline JPEG: 8-bit, 3 components (YCbCr, or RGB by component ids: sRGB either way), and
   * before the frame header only JFIF (APP0), quantisation and Huffman tables and a restart interval, so
   * no EXIF (orientation), ICC profile, XMP, IPTC or Adobe (colour transform) segment.
   */
  plain: boolean;
  /** The embedded ICC profile (APP2 chunks joined; empty when they do not join up), if any. */
  icc?: Buffer;
}

const ICC_SIGNATURE = Buffer.from('ICC_PROFILE\0', 'latin1');

/**
 * A JPEG's frame size, whether it is plain (see `JpegHeader`) and its ICC profile, read from the segments
 * before the frame header. Undefined for anything else or anything odd (no frame header, a size given
 * only after the scan), which libvips then reads.
 */
export function readJpegHeader(bytes: Buffer): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let plain = true;
  const iccChunks: Buffer[] = [];
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = bytes.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > bytes.length) return undefined;
    if (isFrameHeader(marker)) {
      if (length < 8) return undefined;
      const precision = bytes[at + 4];
      const height = bytes.readUInt16BE(at + 5);
      const width = bytes.readUInt16BE(at + 7);
      const components = bytes[at + 9];
      if (!width || !height) return undefined;
      plain &&= marker === 0xc0 && precision === 8 && components === 3 && length >= 8 + 3 * 3;
      return { width, height, plain, icc: iccChunks.length ? joinIcc(iccChunks) : undefined };
    }
    if (marker === 0xe2 && bytes.subarray(at + 4, at + 4 + ICC_SIGNATURE.length).equals(ICC_SIGNATURE)) {
      iccChunks.push(bytes.subarray(at + 4 + ICC_SIGNATURE.length, at + 2 + length));
    }
    // APP0 (JFIF), DQT, DHT, DRI; any other segment (APP1..15, COM, a scan) is not plain.
    plain &&= marker === 0xe0 || marker === 0xdb || marker === 0xc4 || marker === 0xdd;
    at += 2 + length;
  }
  return undefined;
}

/** SOF0–3, 5–7, 9–11, 13–15 (C4, C8 and CC are other segments). */
function isFrameHeader(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** APP2 ICC chunks (each: sequence number from 1, chunk count, data) joined in sequence order. */
function joinIcc(chunks: Buffer[]): Buffer {
  const count = chunks[0][1];
  const ordered: Buffer[] = [];
  for (const chunk of chunks) {
    if (chunk.length < 2 || chunk[1] !== count || chunk[0] < 1 || chunk[0] > count) return Buffer.alloc(0);
    ordered[chunk[0] - 1] = chunk.subarray(2);
  }
  if (ordered.length !== count || ordered.includes(undefined as unknown as Buffer)) return Buffer.alloc(0);
  return ordered.length === 1 ? ordered[0] : Buffer.concat(ordered);
}

/** The size of a plain baseline JPEG (see `JpegHeader.plain`); undefined for anything else. */
export function plainJpegHeader(bytes: Buffer): { width: number; height: number } | undefined {
  const header = readJpegHeader(bytes);
  return header?.plain ? { width: header.width, height: header.height } : undefined;
}

/**
 * Whether a JPEG lacks its end-of-image marker after the scan data. libjpeg only warns about such files
 * and decodes grey or garbage for the missing part; a truncated download or garbage entropy data looks
 * like this. Entropy-coded data never holds FF D9 (a data FF is stuffed as FF 00), so the marker after the
 * first start-of-scan is the image's end; a thumbnail's EOI lies before it, in APP1.
 */
export function isTruncatedJpeg(bytes: Buffer): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return false;
  const sos = bytes.indexOf(SOS);
  return sos < 0 || bytes.indexOf(EOI, sos + 2) < 0;
}

const SOS = Buffer.from([0xff, 0xda]);
const EOI = Buffer.from([0xff, 0xd9]);

/**
 * A 64-bit difference hash (dHash): the image in greyscale (Rec. 601 luma of its upright, flattened sRGB
 * pixels) averaged down to 9×8 cells, one bit per horizontally adjacent pair of cells (set when the left
 * one is brighter). Re-encoding or resizing an image changes few bits; different images differ in about
 * half. Returned as 16 hex digits. Decoding is the only libvips work; the rest is a few passes in JS,
 * cheaper than a libvips pipeline per image.
 */
export async function perceptualHash(image: Buffer | string, input: SharpOptions = {}): Promise<string> {
  const { data, info } = await sharp(image, { ...input, pages: 1 })
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return differenceHash(data, info.width, info.height, info.channels);
}

/** Decodes a plain baseline JPEG (see `plainJpegHeader`: upright, 3-channel sRGB, no alpha) and hashes it. */
function plainJpegHash(jpeg: Buffer, input: SharpOptions): Promise<string> {
  return sharp(jpeg, input)
    .raw()
    .toBuffer({ resolveWithObject: true })
    .then(({ data, info }) => differenceHash(data, info.width, info.height, info.channels));
}

const HASH_W = 9;
const HASH_H = 8;

/**
 * The dHash of raw interleaved 8-bit pixels (1–2 channels: grey[, alpha]; 3–4: RGB[A]; alpha ignored).
 * Each cell is the area-weighted mean of the pixels it covers, so any size, even under 9×8, has a hash.
 */
export function differenceHash(pixels: Uint8Array, width: number, height: number, channels: number): string {
  const cols = cellWeights(width, HASH_W);
  const rows = cellWeights(height, HASH_H);
  const cells = new Float64Array(HASH_W * HASH_H);
  // One spare cell: a pixel of the last column adds its zero second share there.
  const rowSums = new Float64Array(HASH_W + 1);
  // At least as wide as the grid, a pixel overlaps one cell or two neighbours: the inner loop becomes two
  // multiply-adds (a zero share adds exactly nothing, so the sums are the general loop's to the bit).
  const pairs = width >= HASH_W ? cellPairs(cols, width) : undefined;
  for (let y = 0; y < height; y++) {
    rowSums.fill(0);
    let at = y * width * channels;
    if (pairs) {
      sumRowInPairs(pixels, at, width, channels, pairs, rowSums);
    } else {
      for (let x = 0; x < width; x++, at += channels) {
        const luma = channels >= 3 ? 0.299 * pixels[at] + 0.587 * pixels[at + 1] + 0.114 * pixels[at + 2] : pixels[at];
        for (let k = cols.start[x]; k < cols.start[x + 1]; k++) rowSums[cols.cell[k]] += luma * cols.overlap[k];
      }
    }
    for (let k = rows.start[y]; k < rows.start[y + 1]; k++) {
      const row = rows.cell[k] * HASH_W;
      for (let c = 0; c < HASH_W; c++) cells[row + c] += rowSums[c] * rows.overlap[k];
    }
  }
  let hi = 0;
  let lo = 0;
  for (let y = 0; y < HASH_H; y++) {
    for (let x = 0; x < HASH_W - 1; x++) {
      // Compared as 8-bit levels: cells in one flat region stay equal whatever noise a re-encode adds.
      const bit = Math.round(cells[y * HASH_W + x]) > Math.round(cells[y * HASH_W + x + 1]) ? 1 : 0;
      if (y < HASH_H / 2) hi = ((hi << 1) | bit) >>> 0;
      else lo = ((lo << 1) | bit) >>> 0;
    }
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/**
 * For each of `size` pixels, the output cells (of `cells` across the same span) it overlaps and by how
 * much in cell widths: pixel i's are cell[k] and overlap[k] for k from start[i] to start[i + 1] (one or two
 * cells when shrinking, several when the image is smaller than the grid). A cell's overlaps sum to 1, so it
 * holds a mean. Typed arrays: the hash's inner loop reads them once per pixel.
 */
function cellWeights(size: number, cells: number): { start: Int32Array; cell: Int32Array; overlap: Float64Array } {
  const start = new Int32Array(size + 1);
  const cell: number[] = [];
  const overlap: number[] = [];
  for (let i = 0; i < size; i++) {
    const from = (i * cells) / size;
    const to = ((i + 1) * cells) / size;
    for (let c = Math.floor(from); c < to && c < cells; c++) {
      const share = Math.min(to, c + 1) - Math.max(from, c);
      if (share > 0) {
        cell.push(c);
        overlap.push(share);
      }
    }
    start[i + 1] = cell.length;
  }
  return { start, cell: Int32Array.from(cell), overlap: Float64Array.from(overlap) };
}

/**
 * `rowSums` (zeroed) += one row's luma, for a width with at most two cells per pixel. The current cell's and
 * the next one's sums are kept in locals, not in rowSums: a store and reload per pixel would chain every
 * pixel's addition through memory. Each cell still sums its shares in pixel order from zero, so the result
 * is the general loop's to the bit.
 */
function sumRowInPairs(
  pixels: Uint8Array,
  at: number,
  width: number,
  channels: number,
  pairs: ReturnType<typeof cellPairs>,
  rowSums: Float64Array,
): void {
  const { cell, first, second } = pairs;
  let c = 0;
  let current = 0;
  let next = 0;
  for (let x = 0; x < width; x++, at += channels) {
    const luma = channels >= 3 ? 0.299 * pixels[at] + 0.587 * pixels[at + 1] + 0.114 * pixels[at + 2] : pixels[at];
    if (cell[x] !== c) {
      rowSums[c] = current;
      current = next;
      next = 0;
      c = cell[x];
    }
    current += luma * first[x];
    next += luma * second[x];
  }
  rowSums[c] = current;
  rowSums[c + 1] = next;
}

/** `cellWeights` of a size with at most two cells per pixel, as (first cell, its share, the next one's share). */
function cellPairs(
  w: ReturnType<typeof cellWeights>,
  size: number,
): { cell: Int32Array; first: Float64Array; second: Float64Array } {
  const cell = new Int32Array(size);
  const first = new Float64Array(size);
  const second = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const k = w.start[i];
    cell[i] = w.cell[k];
    first[i] = w.overlap[k];
    if (w.start[i + 1] - k > 1) second[i] = w.overlap[k + 1];
  }
  return { cell, first, second };
}

/** Number of differing bits between two 16-hex-digit hashes. */
export function hammingDistance(a: string, b: string): number {
  const hi = (parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) >>> 0;
  const lo = (parseInt(a.slice(8, 16), 16) ^ parseInt(b.slice(8, 16), 16)) >>> 0;
  return popcount32(hi) + popcount32(lo);
}

function popcount32(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
