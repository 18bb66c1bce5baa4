import sharp, { type Metadata, type Sharp } from 'sharp';
import {
  hammingDistance,
  ImageRejected,
  inspectImage,
  isTruncatedJpeg,
  normaliseImage,
  perceptualHash,
  differenceHash,
  plainJpegHeader,
  readJpegHeader,
} from '../../activities/store/normalise';

const OPTS = { maxSide: 256, maxPixels: 64_000_000 };

/** A 64×48 picture with a red left half and a blue right half, so rotation is visible. */
function halves(width = 64, height = 48): Sharp {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) raw.set(x < width / 2 ? [220, 30, 30] : [30, 30, 220], (y * width + x) * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

/** A deterministic scene of coloured shapes (SVG), different for each seed. */
function scene(seed: number, size = 128): Sharp {
  let s = seed * 9301 + 49297;
  const rnd = () => (s = (s * 9301 + 49297) % 233280) / 233280;
  const shapes = Array.from({ length: 12 }, () => {
    const [x, y, r] = [rnd() * size, rnd() * size, 8 + rnd() * size * 0.3];
    const c = `rgb(${Math.floor(rnd() * 255)},${Math.floor(rnd() * 255)},${Math.floor(rnd() * 255)})`;
    return `<circle cx="${x}" cy="${y}" r="${r}" fill="${c}"/>`;
  }).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="rgb(${Math.floor(rnd() * 255)},120,90)"/>${shapes}</svg>`;
  return sharp(Buffer.from(svg));
}

async function expectPlainJpeg(jpeg: Buffer): Promise<Metadata> {
  const meta = await sharp(jpeg).metadata();
  expect(meta.format).toBe('jpeg');
  expect(meta.space).toBe('srgb');
  expect(meta.channels).toBe(3);
  expect(meta.depth).toBe('uchar');
  expect(meta.hasAlpha).toBe(false);
  expect(meta.orientation ?? 1).toBe(1);
  return meta;
}

async function pixelAt(jpeg: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [...data.subarray(at, at + 3)];
}

describe('normaliseImage turns odd images into plain 8-bit sRGB RGB JPEG', () => {
  test('animated GIF: the first frame', async () => {
    const red = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#dd2222' } })
      .png()
      .toBuffer();
    const blue = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#2222dd' } })
      .png()
      .toBuffer();
    const gif = await sharp([red, blue], { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const out = await normaliseImage(gif, OPTS);
    await expectPlainJpeg(out.jpeg);
    expect([out.width, out.height]).toEqual([40, 30]);
    const [r, , b] = await pixelAt(out.jpeg, 20, 15);
    expect(r).toBeGreaterThan(150);
    expect(b).toBeLessThan(100);
  });

  test('CMYK JPEG', async () => {
    const cmyk = await halves().toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const out = await normaliseImage(cmyk, OPTS);
    await expectPlainJpeg(out.jpeg);
    const [r, , b] = await pixelAt(out.jpeg, 5, 5);
    expect(r).toBeGreaterThan(150);
    expect(b).toBeLessThan(120);
  });

  test('16-bit PNG', async () => {
    const png16 = await halves().toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    await expectPlainJpeg((await normaliseImage(png16, OPTS)).jpeg);
  });

  test('palette PNG', async () => {
    const palette = await halves().png({ palette: true, colours: 4 }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    await expectPlainJpeg((await normaliseImage(palette, OPTS)).jpeg);
  });

  test('greyscale + alpha PNG, flattened onto white', async () => {
    const raw = Buffer.alloc(32 * 32 * 2);
    for (let i = 0; i < 32 * 32; i++) raw.set([60, i < 16 * 32 ? 255 : 0], i * 2);
    const ga = await sharp(raw, { raw: { width: 32, height: 32, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const meta = await sharp(ga).metadata();
    expect([meta.channels, meta.hasAlpha]).toEqual([2, true]);
    const out = await normaliseImage(ga, OPTS);
    await expectPlainJpeg(out.jpeg);
    expect((await pixelAt(out.jpeg, 16, 4))[0]).toBeLessThan(90); // opaque grey
    expect((await pixelAt(out.jpeg, 16, 28))[0]).toBeGreaterThan(240); // transparent → white
  });

  test('EXIF-rotated JPEG is stored upright', async () => {
    const rotated = await halves(64, 48).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const out = await normaliseImage(rotated, OPTS);
    await expectPlainJpeg(out.jpeg);
    // Orientation 6 = rotate 90° clockwise: 64×48 becomes 48×64, the red left half becomes the top.
    expect([out.width, out.height]).toEqual([48, 64]);
    expect((await pixelAt(out.jpeg, 24, 5))[0]).toBeGreaterThan(150);
    expect((await pixelAt(out.jpeg, 24, 58))[2]).toBeGreaterThan(150);
  });

  test('an already normalised JPEG is stored byte for byte, with the hash of those bytes', async () => {
    const plain = await scene(3, 32).jpeg({ quality: 80 }).toBuffer();
    expect(plainJpegHeader(plain)).toEqual({ width: 32, height: 32 });
    const out = await normaliseImage(plain, OPTS);
    expect(out.jpeg.equals(plain)).toBe(true);
    expect([out.width, out.height]).toEqual([32, 32]);
    expect(out.phash).toBe(await perceptualHash(plain));
  });

  test('JPEGs that need work are re-encoded: too large, progressive, EXIF, ICC, greyscale', async () => {
    const needsWork = [
      await scene(4, 300).jpeg().toBuffer(),
      await scene(4, 64).jpeg({ progressive: true }).toBuffer(),
      await halves(64, 48).jpeg().withMetadata({ orientation: 1 }).toBuffer(),
      await halves(64, 48).jpeg().withIccProfile('p3').toBuffer(),
      await sharp(Buffer.alloc(64 * 48, 128), { raw: { width: 64, height: 48, channels: 1 } })
        .toColourspace('b-w')
        .jpeg()
        .toBuffer(),
    ];
    expect(plainJpegHeader(needsWork[0])).toEqual({ width: 300, height: 300 });
    for (const input of needsWork.slice(1)) expect(plainJpegHeader(input)).toBeUndefined();
    for (const input of needsWork) {
      const out = await normaliseImage(input, OPTS);
      expect(out.jpeg.equals(input)).toBe(false);
      await expectPlainJpeg(out.jpeg);
      // Hashed from the pixels before encoding: the stored file's own hash differs by JPEG noise at most.
      expect(hammingDistance(out.phash, await perceptualHash(out.jpeg))).toBeLessThanOrEqual(2);
    }
  });

  test('an embedded sRGB profile changes nothing; another profile is converted from', async () => {
    const pixels = async (jpeg: Buffer) => sharp(jpeg).raw().toBuffer();
    const maxDiff = (a: Buffer, b: Buffer) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    // Progressive JPEG (read by readJpegHeader) and PNG (read by libvips): never stored as they are.
    for (const picture of [() => scene(5, 96).jpeg({ quality: 95, progressive: true }), () => scene(5, 96).png()]) {
      const bare = await normaliseImage(await picture().toBuffer(), OPTS);
      const srgb = await normaliseImage(await picture().withIccProfile('srgb').toBuffer(), OPTS);
      const p3 = await normaliseImage(await picture().withIccProfile('p3').toBuffer(), OPTS);
      expect(maxDiff(await pixels(srgb.jpeg), await pixels(bare.jpeg))).toBeLessThanOrEqual(1);
      // The same numbers read as Display P3 are more saturated colours than as sRGB: they are converted.
      expect(maxDiff(await pixels(p3.jpeg), await pixels(bare.jpeg))).toBeGreaterThan(10);
      await expectPlainJpeg(p3.jpeg);
    }
  });

  test('large images are bounded to maxSide', async () => {
    const big = await halves(1000, 500).png().toBuffer();
    const out = await normaliseImage(big, OPTS);
    expect([out.width, out.height]).toEqual([256, 128]);
  });
});

describe('readJpegHeader', () => {
  test('size, plainness and the ICC profile, as libvips reads them', async () => {
    const jpeg = (img: Sharp) => img.jpeg().toBuffer();
    const cases = [
      await jpeg(scene(1, 40)),
      await halves(64, 48).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
      await halves(64, 48).jpeg({ progressive: true }).toBuffer(),
      await halves(64, 48).jpeg().withIccProfile('p3').toBuffer(),
      // A CMYK profile is far over one APP2 segment's 64 KiB: it comes in chunks, joined in order.
      await halves(30, 20).toColourspace('cmyk').jpeg().withIccProfile('cmyk').toBuffer(),
    ];
    const plain = [true, false, false, false, false];
    for (const [i, bytes] of cases.entries()) {
      const meta = await sharp(bytes).metadata();
      const header = readJpegHeader(bytes);
      expect(header).toMatchObject({ width: meta.width, height: meta.height, plain: plain[i] });
      expect(header?.icc?.equals(meta.icc as Buffer) ?? meta.icc === undefined).toBe(true);
    }
    expect((readJpegHeader(cases[4])?.icc?.length ?? 0) > 65_535).toBe(true);
  });

  test('anything odd is left to libvips', async () => {
    expect(readJpegHeader(Buffer.from('<html>'))).toBeUndefined();
    expect(readJpegHeader((await scene(1, 40).jpeg().toBuffer()).subarray(0, 30))).toBeUndefined();
    expect(readJpegHeader(await scene(1, 40).png().toBuffer())).toBeUndefined();
  });
});

describe('refusals, from the header before decoding', () => {
  test('a PNG header claiming 100000×100000 is too_many_pixels', async () => {
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // IHDR's CRC over type + data
    await expect(normaliseImage(png, OPTS)).rejects.toMatchObject({ reason: 'too_many_pixels' });
  });

  test('maxPixels counts the source pixels', async () => {
    const img = await halves(100, 100).png().toBuffer();
    await expect(inspectImage(img, { maxPixels: 9_999 })).rejects.toBeInstanceOf(ImageRejected);
    await expect(inspectImage(img, { maxPixels: 10_000 })).resolves.toEqual({ width: 100, height: 100 });
  });

  test('minSide and maxAspectRatio (32×32, the default corpus size, passes the defaults)', async () => {
    const filters = { minSide: 32, maxAspectRatio: 4 };
    const at = async (w: number, h: number) => halves(w, h).png().toBuffer();
    await expect(normaliseImage(await at(32, 32), OPTS, filters)).resolves.toMatchObject({ width: 32, height: 32 });
    await expect(normaliseImage(await at(31, 64), OPTS, filters)).rejects.toMatchObject({ reason: 'too_small' });
    await expect(normaliseImage(await at(200, 40), OPTS, filters)).rejects.toMatchObject({
      reason: 'bad_aspect_ratio',
    });
    await expect(normaliseImage(await at(160, 40), OPTS, filters)).resolves.toBeDefined();
  });

  test('garbage is a decode_error', async () => {
    await expect(normaliseImage(Buffer.from('<html>nope</html>'), OPTS)).rejects.toMatchObject({
      reason: 'decode_error',
    });
    const truncated = (await halves().jpeg().toBuffer()).subarray(0, 200);
    await expect(normaliseImage(truncated, OPTS)).rejects.toMatchObject({ reason: 'decode_error' });
  });
});

test('a JPEG whose scan data stops before the end-of-image marker is a decode_error; trailing bytes are fine', async () => {
  const jpeg = await scene(3, 128).jpeg().toBuffer();
  expect(isTruncatedJpeg(jpeg)).toBe(false);
  const cut = jpeg.subarray(0, Math.floor(jpeg.length * 0.7));
  expect(isTruncatedJpeg(cut)).toBe(true);
  await expect(normaliseImage(cut, OPTS)).rejects.toMatchObject({ reason: 'decode_error' });
  await expect(normaliseImage(Buffer.concat([jpeg, Buffer.from('trailer')]), OPTS)).resolves.toBeDefined();
});

describe('perceptual hash', () => {
  test('the same picture re-encoded, resized or as PNG is within a few bits; different pictures are far', async () => {
    const original = await scene(1, 256).jpeg({ quality: 95 }).toBuffer();
    const h = await perceptualHash(original);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    const variants = [
      await sharp(original).jpeg({ quality: 40 }).toBuffer(),
      await sharp(original).resize(64, 64).jpeg({ quality: 70 }).toBuffer(),
      await sharp(original).png().toBuffer(),
      (await normaliseImage(await sharp(original).resize(200).webp().toBuffer(), { ...OPTS, maxSide: 32 })).jpeg,
    ];
    for (const v of variants) expect(hammingDistance(h, await perceptualHash(v))).toBeLessThanOrEqual(4);
    for (let seed = 2; seed < 12; seed++) {
      const other = await perceptualHash(await scene(seed, 256).png().toBuffer());
      expect(hammingDistance(h, other)).toBeGreaterThan(12);
    }
  });

  test('differenceHash: one bit per adjacent pair of 9×8 cells, any image size, grey or colour', () => {
    const gradient = (w: number, h: number, channels: number) => {
      const px = Buffer.alloc(w * h * channels);
      for (let i = 0; i < w * h; i++) px.fill(255 - Math.floor(((i % w) * 255) / w), i * channels, (i + 1) * channels);
      return px;
    };
    // Brighter on the left everywhere: every bit set; mirrored: none.
    expect(differenceHash(gradient(90, 80, 1), 90, 80, 1)).toBe('ffffffffffffffff');
    expect(differenceHash(gradient(300, 7, 3), 300, 7, 3)).toBe('ffffffffffffffff');
    expect(differenceHash(Buffer.from([10, 200]), 2, 1, 1)).toBe('0000000000000000');
    expect(differenceHash(Buffer.from([200, 10]), 2, 1, 1)).toBe('1818181818181818');
  });

  test('a plain JPEG stored as it is gets the hash of its decoded pixels, as any other image', async () => {
    const plain = await scene(4, 200).jpeg({ quality: 90 }).toBuffer();
    const out = await normaliseImage(plain, OPTS);
    expect(out.jpeg).toBe(plain);
    expect(out.phash).toBe(await perceptualHash(plain));
  });

  test('hammingDistance counts differing bits', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(hammingDistance('00000000ffff0000', '0000000000000000')).toBe(16);
  });
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
