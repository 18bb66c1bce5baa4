import axios, { AxiosError } from 'axios';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  userAgent: string;
  signal?: AbortSignal;
}

export type FetchOutcome =
  { ok: true; bytes: Buffer; httpStatus: number } | { ok: false; reason: string; httpStatus?: number };

/** Fetches one URL's bytes; never throws for what the remote side does, it returns the reason instead. */
export async function fetchBytes(url: string, opts: FetchOptions): Promise<FetchOutcome> {
  try {
    const response = await axios.get<ArrayBuffer>(url, {
      responseType: 'arraybuffer',
      timeout: opts.timeoutMs,
      maxContentLength: opts.maxBytes,
      maxBodyLength: opts.maxBytes,
      maxRedirects: opts.maxRedirects,
      headers: { 'User-Agent': opts.userAgent, Accept: 'image/*' },
      signal: opts.signal,
      validateStatus: () => true,
      decompress: true,
    });
    if (response.status < 200 || response.status >= 300) {
      return { ok: false, reason: `http_${response.status}`, httpStatus: response.status };
    }
    return { ok: true, bytes: Buffer.from(response.data), httpStatus: response.status };
  } catch (error) {
    return { ok: false, reason: failureReason(error) };
  }
}

function failureReason(error: unknown): string {
  if (error instanceof AxiosError) {
    if (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT') return 'timeout';
    if (error.code === 'ERR_FR_MAX_BODY_LENGTH_EXCEEDED' || /maxContentLength/.test(error.message)) return 'too_large';
    if (error.code === 'ERR_FR_TOO_MANY_REDIRECTS') return 'too_many_redirects';
    if (error.code === 'ERR_CANCELED') return 'cancelled';
    return `network_error:${error.code ?? 'unknown'}`;
  }
  return `network_error:${(error as Error).message}`;
}
