import type { FaultConfigInput, FaultKind } from '../engine/faults';

/** Engine fault settings the fault tests share: few failures, short waits, bodies just past FAULT_DOWNLOAD.maxBytes. */
export const FAULT_OPTIONS: FaultConfigInput = {
  transientFailures: 2,
  rateLimitFailures: 1,
  retryAfterS: 1,
  slowBodyIntervalMs: 200,
  oversizeBytes: 3 * 1024 * 1024,
  endlessCapBytes: 8 * 1024 * 1024,
};

/**
 * The run's download settings in the fault tests: retries that recover the transient faults, and a timeout
 * long enough for a valid full-size photo (up to 440 KB, 16 fetches at once on a busy 2-core machine took
 * over 1.5 s) — a slow body trickles one byte per 200 ms, so it times out all the same.
 */
export const FAULT_DOWNLOAD = { timeoutMs: 5000, maxBytes: 2 * 1024 * 1024, retries: 2, backoffMs: 20 };

/** The outcome the downloader must record for each engine fault, with FAULT_OPTIONS and FAULT_DOWNLOAD. */
export const EXPECTED: Record<FaultKind, string> = {
  not_found: 'http_404',
  server_error: 'http_500',
  unavailable: 'ok', // 503 twice, retried
  rate_limit: 'ok', // 429 with Retry-After, waited for
  slow_body: 'timeout',
  truncated: 'network_error:ECONNRESET',
  html_as_jpeg: 'not_an_image',
  jpeg_as_html: 'ok', // the bytes decide, not Content-Type
  corrupt_jpeg: 'decode_error',
  huge_image: 'too_many_pixels',
  oversize_body: 'too_large',
  endless_body: 'too_large',
  bomb_png: 'too_many_pixels',
  bomb_gif: 'too_many_pixels',
  redirect: 'ok',
  redirect_loopback: 'blocked_address',
  redirect_metadata: 'blocked_address',
  redirect_private: 'blocked_address',
  animated_gif: 'ok',
  cmyk_jpeg: 'ok',
  png16: 'ok',
  palette_png: 'ok',
  exif_rotated: 'ok',
};
