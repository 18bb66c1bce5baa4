/** Image formats recognised by their leading bytes (never by Content-Type, which the web often gets wrong). */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'tiff' | 'avif' | 'heif';

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** Bytes enough for `sniffImage` to decide. */
export const SNIFF_BYTES = 32;

/** The image format the bytes start with, or undefined (HTML, text, truncated or unknown data). */
export function sniffImage(bytes: Buffer): ImageFormat | undefined {
  const ascii = (start: number, end: number) => bytes.toString('latin1', start, end);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  // BMP: "BM", then a file size, 4 reserved bytes and a pixel offset; its info header is 12..124 bytes.
  if (bytes.length >= 18 && ascii(0, 2) === 'BM') {
    const header = bytes.readUInt32LE(14);
    if ([12, 16, 40, 52, 56, 64, 108, 124].includes(header)) return 'bmp';
  }
  if (bytes.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'tiff';
  // ISO-BMFF: a box size, "ftyp", a major brand, a minor version, then compatible brands.
  if (bytes.length >= 12 && ascii(4, 8) === 'ftyp') {
    const boxEnd = Math.min(bytes.readUInt32BE(0), bytes.length);
    const brands = [ascii(8, 12)];
    for (let at = 16; at + 4 <= boxEnd; at += 4) brands.push(ascii(at, at + 4));
    if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
    if (brands.some((b) => HEIF_BRANDS.has(b))) return 'heif';
  }
  return undefined;
}
