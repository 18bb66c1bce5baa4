import sharp from 'sharp';

export interface NormaliseOptions {
  /** Longer side of the stored image, in pixels (never enlarged). */
  maxSide: number;
  /** Refuse inputs with more pixels than this (decompression bombs). */
  maxPixels: number;
}

export interface NormalisedImage {
  jpeg: Buffer;
  width: number;
  height: number;
}

export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
}

/**
 * Decodes any image sharp understands and re-encodes it as a plain RGB JPEG of bounded size, upright
 * (EXIF orientation applied), first frame of animations, transparency flattened onto white.
 */
export async function normaliseImage(input: Buffer, opts: NormaliseOptions): Promise<NormalisedImage> {
  try {
    const { data, info } = await sharp(input, { limitInputPixels: opts.maxPixels, failOn: 'error', pages: 1 })
      .rotate()
      .resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg({ quality: 90, mozjpeg: false })
      .toBuffer({ resolveWithObject: true });
    return { jpeg: data, width: info.width, height: info.height };
  } catch (error) {
    throw new ImageDecodeError((error as Error).message);
  }
}
