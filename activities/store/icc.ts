/**
 * Recognises embedded ICC profiles that describe sRGB itself, so that converting an image from its profile
 * to sRGB can be skipped: that conversion is the identity (within a level), but building the colour
 * transform costs libvips/lcms ≈ 2 ms per image whatever its size — more than decoding a typical web photo.
 * About a fifth of web photos carry such a profile (the ImageNet samples: 196 of 1,000).
 *
 * Only matrix/TRC RGB profiles are recognised, judged by what they do rather than by their name: the three
 * colorants equal sRGB's (D50-adapted, as ICC stores them) and every tone curve is sRGB's transfer function
 * to within one 8-bit level. Profiles with lookup tables (A2B/B2A/D2B tags, which a colour engine prefers
 * to the matrix) are never recognised, nor gamma-2.2 "sRGB-like" curves: they are converted as before.
 */

/** sRGB's colorants adapted to D50 (Bradford), as the IEC 61966-2-1 profile stores them. */
const SRGB_COLORANTS: Record<string, [number, number, number]> = {
  rXYZ: [0.436066, 0.222488, 0.013916],
  gXYZ: [0.385147, 0.716873, 0.097076],
  bXYZ: [0.143066, 0.060608, 0.714096],
};
/** Colorant tolerance: profiles in the wild round these to 4 decimals (s15Fixed16 steps are 1.5e-5). */
const COLORANT_TOLERANCE = 0.0015;
const TRC_TAGS = ['rTRC', 'gTRC', 'bTRC'];
const LUT_TAG = /^(A2B|B2A|D2B|B2D)\d$/;

/** Whether `icc` is an RGB matrix/TRC profile equivalent to sRGB (see the module comment). */
export function isSrgbProfile(icc: Uint8Array): boolean {
  const b = Buffer.from(icc.buffer, icc.byteOffset, icc.byteLength);
  if (b.length < 132 || b.toString('latin1', 36, 40) !== 'acsp') return false;
  if (b.toString('latin1', 16, 20) !== 'RGB ' || b.toString('latin1', 20, 24) !== 'XYZ ') return false;
  const tags = tagTable(b);
  if (!tags) return false;
  for (const sig of tags.keys()) if (LUT_TAG.test(sig)) return false;
  for (const [sig, expected] of Object.entries(SRGB_COLORANTS)) {
    const at = tags.get(sig);
    if (!at || at.size < 20 || b.toString('latin1', at.offset, at.offset + 4) !== 'XYZ ') return false;
    for (let i = 0; i < 3; i++) {
      if (Math.abs(b.readInt32BE(at.offset + 8 + 4 * i) / 65536 - expected[i]) > COLORANT_TOLERANCE) return false;
    }
  }
  return TRC_TAGS.every((sig) => {
    const at = tags.get(sig);
    const curve = at && toneCurve(b, at.offset, at.size);
    return !!curve && isSrgbTransfer(curve);
  });
}

function tagTable(b: Buffer): Map<string, { offset: number; size: number }> | undefined {
  const count = b.readUInt32BE(128);
  if (132 + count * 12 > b.length) return undefined;
  const tags = new Map<string, { offset: number; size: number }>();
  for (let i = 0; i < count; i++) {
    const at = 132 + i * 12;
    const offset = b.readUInt32BE(at + 4);
    const size = b.readUInt32BE(at + 8);
    if (offset + size > b.length || size < 8) return undefined;
    tags.set(b.toString('latin1', at, at + 4), { offset, size });
  }
  return tags;
}

/** The tag's tone curve as a function of [0, 1] (encoded) to [0, 1] (linear), for `curv` and `para` tags. */
function toneCurve(b: Buffer, offset: number, size: number): ((x: number) => number) | undefined {
  const type = b.toString('latin1', offset, offset + 4);
  if (type === 'curv') {
    const n = b.readUInt32BE(offset + 8);
    // 0 entries is the identity and 1 a pure gamma: neither is sRGB's curve.
    if (n < 2 || 12 + 2 * n > size) return undefined;
    const table = Array.from({ length: n }, (_, i) => b.readUInt16BE(offset + 12 + 2 * i) / 65535);
    return (x) => {
      const at = x * (n - 1);
      const i = Math.min(Math.floor(at), n - 2);
      return table[i] + (table[i + 1] - table[i]) * (at - i);
    };
  }
  if (type === 'para') {
    const fn = b.readUInt16BE(offset + 8);
    const counts = [1, 3, 4, 5, 7];
    if (fn >= counts.length || 12 + 4 * counts[fn] > size) return undefined;
    const p = Array.from({ length: counts[fn] }, (_, i) => b.readInt32BE(offset + 12 + 4 * i) / 65536);
    const [g, a, b0, c, d, e, f] = p;
    // ICC.1 parametric curve types 0–4.
    switch (fn) {
      case 0:
        return (x) => x ** g;
      case 1:
        return (x) => (x >= -b0 / a ? (a * x + b0) ** g : 0);
      case 2:
        return (x) => (x >= -b0 / a ? (a * x + b0) ** g + c : c);
      case 3:
        return (x) => (x >= d ? (a * x + b0) ** g : c * x);
      default:
        return (x) => (x >= d ? (a * x + b0) ** g + e : c * x + f);
    }
  }
  return undefined;
}

/** Whether `curve` maps every 8-bit level to within one level of where sRGB's transfer function maps it. */
function isSrgbTransfer(curve: (x: number) => number): boolean {
  for (let level = 0; level <= 255; level++) {
    const x = level / 255;
    const linear = curve(x);
    if (!Number.isFinite(linear)) return false;
    const reencoded = linear <= 0.0031308 ? 12.92 * linear : 1.055 * Math.max(linear, 0) ** (1 / 2.4) - 0.055;
    if (Math.abs(reencoded - x) * 255 > 1) return false;
  }
  return true;
}
