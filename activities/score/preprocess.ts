import sharp from 'sharp';

/** Eval-time image transform of the trainer: Resize(resize) → CenterCrop(imageSize) → Normalize(mean, std). */
export interface ImageTransform {
  imageSize: number;
  /** Shorter side after resizing, before the centre crop; defaults to `imageSize`. */
  resize?: number;
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Decodes one image file and writes it, normalised as (x/255 − mean)/std, into `out` as planar
 * CHW float32 (3 × imageSize × imageSize values starting at `offset`).
 *
 * Geometry mirrors torchvision's Resize(int) + CenterCrop: the shorter side is scaled to
 * `resize` (longer side truncated like torchvision), then the central square is cut out, rounding
 * the offset like CenterCrop. Resampling uses a bilinear kernel with shrink-on-load disabled,
 * close to PIL's antialiased bilinear but not bit-identical; an image that already has the target
 * size passes through untouched. EXIF orientation is ignored, as PIL does by default.
 * Throws an Error naming the file when it cannot be decoded.
 */
export async function preprocessImage(
  file: string,
  transform: ImageTransform,
  out: Float32Array,
  offset: number,
): Promise<void> {
  const size = transform.imageSize;
  const resize = transform.resize ?? size;
  let pixels: Buffer;
  try {
    const image = sharp(file);
    const { width, height } = await image.metadata();
    if (!width || !height) throw new Error('image has no dimensions');
    const scale = resize / Math.min(width, height);
    const w = width <= height ? resize : Math.floor(resize * (width / height));
    const h = width <= height ? Math.floor(resize * (height / width)) : resize;
    let pipeline = image.removeAlpha().toColourspace('srgb');
    if (scale !== 1 || w !== width || h !== height) {
      pipeline = pipeline.resize(w, h, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false });
    }
    if (w !== size || h !== size) {
      pipeline = pipeline.extract({
        left: Math.round((w - size) / 2),
        top: Math.round((h - size) / 2),
        width: size,
        height: size,
      });
    }
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`);
    }
    pixels = data;
  } catch (error) {
    throw new Error(`cannot preprocess image ${file}: ${(error as Error).message}`, { cause: error });
  }
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * transform.std[c]);
    const shift = transform.mean[c] / transform.std[c];
    const base = offset + c * plane;
    for (let p = 0; p < plane; p++) out[base + p] = pixels[p * 3 + c] * scale - shift;
  }
}
