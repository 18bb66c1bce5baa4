import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { isSrgbProfile } from '../../activities/store/icc';
import { readJpegHeader } from '../../activities/store/normalise';
import { datasetsDir } from '../../lib/paths';

/** sRGB's transfer function (encoded → linear). */
const srgbToLinear = (x: number) => (x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);

type Tag = [string, Buffer];

const xyz = (x: number, y: number, z: number): Buffer => {
  const b = Buffer.alloc(20);
  b.write('XYZ ', 0, 'latin1');
  [x, y, z].forEach((v, i) => b.writeInt32BE(Math.round(v * 65536), 8 + 4 * i));
  return b;
};
const curv = (values: number[]): Buffer => {
  const b = Buffer.alloc(12 + 2 * values.length);
  b.write('curv', 0, 'latin1');
  b.writeUInt32BE(values.length, 8);
  values.forEach((v, i) => b.writeUInt16BE(Math.round(v * 65535), 12 + 2 * i));
  return b;
};
const para = (fn: number, params: number[]): Buffer => {
  const b = Buffer.alloc(12 + 4 * params.length);
  b.write('para', 0, 'latin1');
  b.writeUInt16BE(fn, 8);
  params.forEach((v, i) => b.writeInt32BE(Math.round(v * 65536), 12 + 4 * i));
  return b;
};

/** A minimal ICC profile: 128-byte header, tag table, tag data. */
function profile(tags: Tag[], colourSpace = 'RGB '): Buffer {
  const tableSize = 4 + 12 * tags.length;
  let offset = 128 + tableSize;
  const table = Buffer.alloc(tableSize);
  table.writeUInt32BE(tags.length, 0);
  const data: Buffer[] = [];
  tags.forEach(([sig, body], i) => {
    table.write(sig, 4 + 12 * i, 'latin1');
    table.writeUInt32BE(offset, 8 + 12 * i);
    table.writeUInt32BE(body.length, 12 + 12 * i);
    const padded = Buffer.alloc(Math.ceil(body.length / 4) * 4);
    body.copy(padded);
    data.push(padded);
    offset += padded.length;
  });
  const header = Buffer.alloc(128);
  header.writeUInt32BE(offset, 0);
  header.write('mntr', 12, 'latin1');
  header.write(colourSpace, 16, 'latin1');
  header.write('XYZ ', 20, 'latin1');
  header.write('acsp', 36, 'latin1');
  return Buffer.concat([header, table, ...data]);
}

const SRGB_COLORANTS: Tag[] = [
  ['rXYZ', xyz(0.4361, 0.2225, 0.0139)],
  ['gXYZ', xyz(0.3851, 0.7169, 0.0971)],
  ['bXYZ', xyz(0.1431, 0.0606, 0.7141)],
];
const trcs = (curve: Buffer): Tag[] => ['rTRC', 'gTRC', 'bTRC'].map((sig) => [sig, curve]);
const SRGB_TABLE = curv(Array.from({ length: 1024 }, (_, i) => srgbToLinear(i / 1023)));

describe('isSrgbProfile', () => {
  test('matrix/TRC profiles with sRGB colorants and curves, as a table or parametric', () => {
    expect(isSrgbProfile(profile([...SRGB_COLORANTS, ...trcs(SRGB_TABLE)]))).toBe(true);
    const parametric = para(3, [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045]);
    expect(isSrgbProfile(profile([...SRGB_COLORANTS, ...trcs(parametric)]))).toBe(true);
  });

  test('anything else is not sRGB', () => {
    const gamma22 = curv([2.2 / 256]); // one entry: a u8Fixed8 gamma
    const adobeColorants: Tag[] = [
      ['rXYZ', xyz(0.6097, 0.3111, 0.0195)],
      ['gXYZ', xyz(0.2053, 0.6257, 0.0609)],
      ['bXYZ', xyz(0.1492, 0.0632, 0.7446)],
    ];
    const pureGamma = curv(Array.from({ length: 1024 }, (_, i) => (i / 1023) ** 2.2));
    const cases: Buffer[] = [
      profile([...SRGB_COLORANTS, ...trcs(gamma22)]), // "sRGB-like" gamma 2.2
      profile([...SRGB_COLORANTS, ...trcs(pureGamma)]),
      profile([...adobeColorants, ...trcs(SRGB_TABLE)]),
      profile([...SRGB_COLORANTS, ...trcs(SRGB_TABLE), ['A2B0', Buffer.alloc(32)]]), // a LUT takes precedence
      profile([...SRGB_COLORANTS, ...trcs(SRGB_TABLE)], 'CMYK'),
      profile([...SRGB_COLORANTS, ['rTRC', SRGB_TABLE], ['gTRC', SRGB_TABLE]]), // a curve missing
      profile([...SRGB_COLORANTS, ...trcs(SRGB_TABLE)]).subarray(0, 200), // cut short
      Buffer.alloc(0),
      Buffer.from('not a profile at all, but long enough to have a header of 128 bytes'.repeat(3)),
    ];
    for (const icc of cases) expect(isSrgbProfile(icc)).toBe(false);
  });

  test("sharp's own profiles: sRGB is recognised, Display P3 and CMYK are not", async () => {
    const iccOf = async (name: string) => {
      const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
        .jpeg()
        .withIccProfile(name)
        .toBuffer();
      return (await sharp(jpeg).metadata()).icc as Buffer;
    };
    expect(isSrgbProfile(await iccOf('srgb'))).toBe(true);
    expect(isSrgbProfile(await iccOf('p3'))).toBe(false);
    expect(isSrgbProfile(await iccOf('cmyk'))).toBe(false);
  });

  test('the photos of the corpus: where a profile is recognised, applying it changes no pixel by more than a level', async () => {
    const dir = path.join(datasetsDir(), 'imagenet-1k-samples');
    const records = readFileSync(path.join(dir, 'index.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { shard: string; offset: number; size: number });
    const shard = readFileSync(path.join(dir, 'images-00.tar'));
    const photos = records
      .filter((r) => r.shard === 'images-00.tar')
      .map((r) => shard.subarray(r.offset, r.offset + r.size));
    const withProfile = photos.filter((p) => readJpegHeader(p)?.icc);
    const recognised = withProfile.filter((p) => isSrgbProfile(readJpegHeader(p)?.icc as Buffer));
    // Of the 250 photos of this shard, 65 carry a profile: 45 of them sRGB (IEC 61966-2.1 or a maker's copy;
    // the others are Adobe RGB, camera and display profiles).
    expect([withProfile.length, recognised.length]).toEqual([65, 45]);
    for (const photo of withProfile) expect(readJpegHeader(photo)?.icc).toEqual((await sharp(photo).metadata()).icc);
    for (const photo of recognised.slice(0, 12)) {
      const converted = await sharp(photo).raw().toBuffer();
      const ignored = await sharp(photo, { ignoreIcc: true }).raw().toBuffer();
      expect(converted.reduce((m, v, i) => Math.max(m, Math.abs(v - ignored[i])), 0)).toBeLessThanOrEqual(1);
    }
  });
});
