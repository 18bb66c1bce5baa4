import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import axios from 'axios';

/** A download that did not complete; the message names the address and what went wrong. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
}

export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/**
 * Downloads `url` to `target`, through `<target>.part` so an interrupted download resumes where it stopped
 * (a `Range` request; a server that ignores it sends the whole file again). A finished `target` is kept
 * as it is. `onProgress` gets bytes so far and the expected total when the server says it; `onResumed` the
 * bytes already on disk when the server takes up a partial download.
 */
export async function downloadFile(
  url: string,
  target: string,
  onProgress?: (done: number, total: number | undefined) => void,
  onResumed?: (from: number) => void,
): Promise<void> {
  if (await stat(target).catch(() => undefined)) return;
  await mkdir(path.dirname(target), { recursive: true });
  const part = `${target}.part`;
  const have = (await stat(part).catch(() => undefined))?.size ?? 0;
  let response;
  try {
    response = await axios.get<Readable>(url, {
      responseType: 'stream',
      headers: have > 0 ? { Range: `bytes=${have}-` } : {},
      // The bytes on disk are the bytes served: a .tar.gz stays gzipped whatever Content-Encoding says.
      decompress: false,
      timeout: 60_000,
      validateStatus: () => true,
    });
  } catch (err) {
    throw new DownloadError(`could not download ${url}: ${(err as Error).message}`);
  }
  const { status, headers, data } = response;
  const resumed = status === 206 && String(headers['content-range'] ?? '').startsWith(`bytes ${have}-`);
  if (status !== 200 && !resumed) {
    data.resume();
    if (status === 416) await rm(part, { force: true }); // the partial file does not fit the file served now
    throw new DownloadError(`could not download ${url}: HTTP ${status}${status === 416 ? ' (run again)' : ''}`);
  }
  const start = resumed ? have : 0;
  if (resumed) onResumed?.(start);
  const length = Number(headers['content-length']);
  const total = Number.isFinite(length) && length > 0 ? start + length : undefined;
  let done = start;
  data.on('data', (chunk: Buffer) => {
    done += chunk.length;
    onProgress?.(done, total);
  });
  try {
    await pipeline(data, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
  } catch (err) {
    throw new DownloadError(
      `download of ${url} broke off after ${done} bytes: ${(err as Error).message}; run again to resume`,
    );
  }
  if (total !== undefined && done !== total) {
    throw new DownloadError(`download of ${url} ended after ${done} of ${total} bytes; run again to resume`);
  }
  await rename(part, target);
}
