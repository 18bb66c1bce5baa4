import fs from 'node:fs/promises';
import sharp from 'sharp';
import { fetchFile } from '../lib/storage';
import type { GridImage } from './data';

export interface Thumbnail extends GridImage {
  /** data: URI of a small JPEG, or null when the stored image could not be read. */
  dataUri: string | null;
  /** Why there is no thumbnail. */
  problem: string | null;
  jpeg: Buffer | null;
}

/** Square thumbnails of stored images (cropped to fill), as inline data URIs. */
export async function thumbnails(images: GridImage[], side: number): Promise<Thumbnail[]> {
  return Promise.all(
    images.map(async (image): Promise<Thumbnail> => {
      if (!image.path) return { ...image, dataUri: null, jpeg: null, problem: 'not in the content store' };
      try {
        const jpeg = await sharp(await fs.readFile(await fetchFile(image.path)))
          .resize(side, side, { fit: 'cover' })
          .jpeg({ quality: 82 })
          .toBuffer();
        return { ...image, jpeg, dataUri: `data:image/jpeg;base64,${jpeg.toString('base64')}`, problem: null };
      } catch (error) {
        return { ...image, dataUri: null, jpeg: null, problem: `unreadable: ${(error as Error).message}` };
      }
    }),
  );
}

/** One PNG with the thumbnails in rows of `columns` (missing ones left grey). */
export async function gridPng(thumbs: Thumbnail[], side: number, columns: number): Promise<Buffer> {
  const gap = 2;
  const rows = Math.max(1, Math.ceil(thumbs.length / columns));
  const width = columns * side + (columns + 1) * gap;
  const height = rows * side + (rows + 1) * gap;
  const tiles = thumbs
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => t.jpeg)
    .map(({ t, i }) => ({
      input: t.jpeg as Buffer,
      left: gap + (i % columns) * (side + gap),
      top: gap + Math.floor(i / columns) * (side + gap),
    }));
  return sharp({ create: { width, height, channels: 3, background: '#e0e0e0' } })
    .composite(tiles)
    .png()
    .toBuffer();
}
