/**
 * Per-URL outcome reasons. `ok` and `duplicate` (an image whose bytes were already stored) are
 * successes; every other reason is a failure, retryable or permanent.
 *
 * Retryable (the next run of the stage tries the URL again, up to `download.maxAttempts`): `timeout`,
 * `network_error:<code>`, `http_408`, `http_429`, `http_5xx`.
 * Permanent: `blocked_address`, `unsupported_scheme`, `dns_not_found`, `tls_error`, `bad_response`,
 * `too_many_redirects`, `http_<other status>`, `opted_out`, `too_large`, `not_an_image`,
 * `too_many_pixels`, `decode_error`, `too_small`, `bad_aspect_ratio`.
 * Per run (not a property of the URL, recorded in `Exclusion`): `near_duplicate_of_target`.
 */
export const NEAR_DUPLICATE_OF_TARGET = 'near_duplicate_of_target';

export function isRetryable(reason: string): boolean {
  if (reason === 'timeout' || reason.startsWith('network_error')) return true;
  const http = /^http_(\d{3})$/.exec(reason);
  if (!http) return false;
  const status = Number(http[1]);
  return status === 408 || status === 429 || status >= 500;
}

/** Milliseconds a Retry-After header asks to wait (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
