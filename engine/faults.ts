import { z } from 'zod';
import { encodeKey } from './keys';
import { stableHash } from './text';

/**
 * Every way the engine can misbehave on an image URL, as the open web does. Each kind can be targeted:
 *
 * - explicitly: `GET /faults/<kind>/<key>.jpg` (see {@link faultUrl}),
 * - by query parameter: `GET /images/<key>.jpg?fault=<kind>` (`?fault=none` forces a clean response),
 * - at random: `faults.rates` gives each kind a fraction of keys, chosen by a seeded hash of the key, so a
 *   test can ask {@link faultForKey} which URL gets which fault.
 *
 * `/_stats` counts every image GET per key, faulted or not, so retries are observable.
 */
export const FAULT_KINDS = [
  /** 404 Not Found (permanent). */
  'not_found',
  /** 500 Internal Server Error (permanent). */
  'server_error',
  /** 503 Service Unavailable for the first `transientFailures` GETs of the key, then the image. */
  'unavailable',
  /** 429 Too Many Requests with `Retry-After: retryAfterS` for the first `rateLimitFailures` GETs, then the image. */
  'rate_limit',
  /** Correct headers, then the body one byte every `slowBodyIntervalMs` (outlasts any sane client timeout). */
  'slow_body',
  /** Content-Length of the whole image, half of it sent, then the connection is closed. */
  'truncated',
  /** An HTML page served as `image/jpeg`. */
  'html_as_jpeg',
  /** The real JPEG served as `text/html`. */
  'jpeg_as_html',
  /** The JPEG's header segments intact (size readable), garbage entropy data after, no end marker. */
  'corrupt_jpeg',
  /** A valid `hugeSide`×`hugeSide` PNG (default 12000², 144 Mpx, ~0.4 MB), generated once and cached. */
  'huge_image',
  /** A valid JPEG padded to `oversizeBytes` (default 32 MiB, above the 20 MB default maxBytes), with Content-Length. */
  'oversize_body',
  /** Chunked body with no Content-Length that goes on until the client leaves (capped at `endlessCapBytes`). */
  'endless_body',
  /** A ~0.3 MB valid 1-bit PNG whose header claims `bombSide`×`bombSide` pixels (default 50000²). */
  'bomb_png',
  /** A 35-byte GIF whose header claims `bombSide`×`bombSide` pixels. */
  'bomb_gif',
  /** `redirectHops` 302s on the engine, ending at the real image (a benign chain). */
  'redirect',
  /** 302 chain ending at a loopback address (`privateTargets.loopback`, default http://127.0.0.1:9/…). */
  'redirect_loopback',
  /** 302 chain ending at the cloud metadata endpoint (http://169.254.169.254/latest/meta-data/). */
  'redirect_metadata',
  /** 302 chain ending at a private-range address (http://10.0.0.1/). */
  'redirect_private',
  /** The image as an animated GIF (3 frames). */
  'animated_gif',
  /** The image as a CMYK JPEG. */
  'cmyk_jpeg',
  /** The image as a 16-bit-per-channel RGB PNG. */
  'png16',
  /** The image as a palette (indexed colour) PNG. */
  'palette_png',
  /** Pixels stored rotated 90° counter-clockwise with EXIF Orientation 6, so it displays upright. */
  'exif_rotated',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(value: string): value is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(value);
}

/** Redirect kinds whose chain ends off the engine; the engine only sends the Location, never connects. */
export const PRIVATE_REDIRECTS = ['redirect_loopback', 'redirect_metadata', 'redirect_private'] as const;

export const faultConfigSchema = z
  .object({
    /** Seed of every hash: per-key fault choice, result noise, garbage bytes. */
    seed: z.number().int().default(0),
    /** Fraction of keys (0..1) given each kind when the URL names none; the fractions must sum to at most 1. */
    rates: z.partialRecord(z.enum(FAULT_KINDS), z.number().min(0).max(1)).default({}),
    /** Fraction (0..1) of each query's results replaced by other corpus images (deterministic per query and rank). */
    noise: z.number().min(0).max(1).default(0),
    /** Delay before each search response, ms. */
    searchLatencyMs: z.number().nonnegative().default(0),
    /** Delay before each image response, ms. */
    imageLatencyMs: z.number().nonnegative().default(0),
    /** Each delay is lengthened by up to this many ms (uniform, per request). */
    latencyJitterMs: z.number().nonnegative().default(0),
    rateLimitFailures: z.number().int().nonnegative().default(2),
    retryAfterS: z.number().int().nonnegative().default(1),
    transientFailures: z.number().int().nonnegative().default(2),
    slowBodyIntervalMs: z.number().int().positive().default(500),
    hugeSide: z.number().int().positive().max(16384).default(12000),
    bombSide: z.number().int().positive().max(65535).default(50000),
    oversizeBytes: z
      .number()
      .int()
      .positive()
      .default(32 * 1024 * 1024),
    endlessCapBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024),
    redirectHops: z.number().int().min(1).max(50).default(2),
    privateTargets: z
      .object({
        loopback: z.string().default('http://127.0.0.1:9/latest/secret.jpg'),
        metadata: z.string().default('http://169.254.169.254/latest/meta-data/'),
        private: z.string().default('http://10.0.0.1/admin.jpg'),
      })
      .default({
        loopback: 'http://127.0.0.1:9/latest/secret.jpg',
        metadata: 'http://169.254.169.254/latest/meta-data/',
        private: 'http://10.0.0.1/admin.jpg',
      }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const sum = Object.values(config.rates).reduce((a, b) => a + (b ?? 0), 0);
    if (sum > 1 + 1e-9) ctx.addIssue({ code: 'custom', message: `fault rates sum to ${sum}, more than 1` });
  });

export type FaultConfigInput = z.input<typeof faultConfigSchema>;
export type FaultConfig = z.output<typeof faultConfigSchema>;

export function parseFaultConfig(input: unknown = {}): FaultConfig {
  return faultConfigSchema.parse(input);
}

/** Uniform in [0, 1) from a seeded hash of `text`. */
export function unitHash(seed: number, text: string): number {
  return stableHash(`${seed}\u0000${text}`) / 2 ** 32;
}

/** The fault `rates` assign to `key` (undefined: served cleanly). Kinds take consecutive slices of [0, 1). */
export function faultForKey(key: string, config: Pick<FaultConfig, 'seed' | 'rates'>): FaultKind | undefined {
  const u = unitHash(config.seed, `fault\u0000${key}`);
  let edge = 0;
  for (const kind of FAULT_KINDS) {
    edge += config.rates[kind] ?? 0;
    if (u < edge) return kind;
  }
  return undefined;
}

/** The URL that always serves `kind` for `key` on the engine at `engineUrl`. */
export function faultUrl(engineUrl: string, kind: FaultKind, key: string): string {
  return `${engineUrl.replace(/\/$/, '')}/faults/${kind}/${encodeKey(key)}.jpg`;
}

/**
 * Which corpus index (if any) replaces rank `rank` of `query`'s results: a `noise` fraction of ranks,
 * chosen and filled by seeded hashes, so the same query always gets the same noise.
 */
export function noiseReplacement(
  query: string,
  rank: number,
  corpusSize: number,
  config: Pick<FaultConfig, 'seed' | 'noise'>,
): number | undefined {
  if (config.noise <= 0 || corpusSize === 0) return undefined;
  if (unitHash(config.seed, `noise\u0000${query}\u0000${rank}`) >= config.noise) return undefined;
  return Math.floor(unitHash(config.seed, `pick\u0000${query}\u0000${rank}`) * corpusSize);
}
