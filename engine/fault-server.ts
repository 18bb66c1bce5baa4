import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ManifestRecord } from './corpus';
import { type FaultAssets, buildBombGif, corruptJpeg, htmlInsteadOfImage } from './fault-assets';
import type { FaultConfig, FaultKind } from './faults';
import { sniffContentType } from './image-store';
import { encodeKey } from './keys';

export interface FaultContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  record: ManifestRecord;
  /** undefined: serve the image cleanly. */
  fault: FaultKind | undefined;
  base: string;
  /** The record's real bytes. */
  bytes: Buffer;
  /** This GET's number among GETs of (fault, key), from 1 (0 for HEAD). */
  hits: number;
  head: boolean;
  faults: FaultConfig;
  assets: FaultAssets;
}

const CACHE = { 'Cache-Control': 'public, max-age=86400' };

/** Writes the response for one image request, misbehaving as `fault` says. */
export async function serveFault(ctx: FaultContext): Promise<void> {
  const { res, record, fault, bytes, hits, head, faults, assets } = ctx;
  const send = (status: number, headers: Record<string, string | number>, body?: Buffer): void => {
    res.writeHead(status, body ? { ...headers, 'Content-Length': body.length } : headers);
    res.end(head ? undefined : body);
  };
  const image = (body: Buffer, type = sniffContentType(body)): void =>
    send(200, { 'Content-Type': type, ...CACHE }, body);
  const text = (status: number, message: string): void =>
    send(status, { 'Content-Type': 'text/plain; charset=utf-8' }, Buffer.from(`${message}\n`));

  switch (fault) {
    case undefined:
      return image(bytes);
    case 'not_found':
      return text(404, 'not found');
    case 'server_error':
      return text(500, 'internal server error');
    case 'unavailable':
      return hits <= faults.transientFailures && !head ? text(503, 'service unavailable') : image(bytes);
    case 'rate_limit':
      if (hits <= faults.rateLimitFailures && !head) {
        return send(
          429,
          { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': String(faults.retryAfterS) },
          Buffer.from('too many requests\n'),
        );
      }
      return image(bytes);
    case 'slow_body':
      return trickle(res, bytes, faults.slowBodyIntervalMs, head);
    case 'truncated':
      res.writeHead(200, { 'Content-Type': sniffContentType(bytes), 'Content-Length': bytes.length });
      if (head) return void res.end();
      // Half the promised bytes, then the connection drops.
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
      return;
    case 'html_as_jpeg':
      return image(htmlInsteadOfImage(record.key), 'image/jpeg');
    case 'jpeg_as_html':
      return image(bytes, 'text/html; charset=utf-8');
    case 'corrupt_jpeg':
      return image(corruptJpeg(bytes, faults.seed, record.key), 'image/jpeg');
    case 'huge_image':
      return image(await assets.hugePng(faults.hugeSide), 'image/png');
    case 'bomb_png':
      return image(await assets.bombPng(faults.bombSide), 'image/png');
    case 'bomb_gif':
      return image(buildBombGif(faults.bombSide), 'image/gif');
    case 'oversize_body':
      return pad(res, bytes, Math.max(bytes.length, faults.oversizeBytes), true, head);
    case 'endless_body':
      return pad(res, bytes, faults.endlessCapBytes, false, head);
    case 'redirect':
    case 'redirect_loopback':
    case 'redirect_metadata':
    case 'redirect_private':
      return redirect(ctx, fault);
    case 'animated_gif':
    case 'cmyk_jpeg':
    case 'png16':
    case 'palette_png':
    case 'exif_rotated':
      return image(await assets.variant(fault, record.key, bytes));
  }
}

/** 302 to the next hop on the engine, the last hop to the chain's end (the image, or an address off the engine). */
function redirect(ctx: FaultContext, fault: FaultKind): void {
  const { res, url, record, base, faults } = ctx;
  const hop = Number(url.searchParams.get('hop') ?? '0') || 0;
  let location: string;
  if (hop + 1 < faults.redirectHops) {
    location = `${base}/faults/${fault}/${encodeKey(record.key)}.jpg?hop=${hop + 1}`;
  } else if (fault === 'redirect_loopback') {
    location = faults.privateTargets.loopback;
  } else if (fault === 'redirect_metadata') {
    location = faults.privateTargets.metadata;
  } else if (fault === 'redirect_private') {
    location = faults.privateTargets.private;
  } else {
    location = `${base}/images/${encodeKey(record.key)}.jpg?fault=none`;
  }
  const body = Buffer.from(`redirecting to ${location}\n`);
  res.writeHead(302, {
    Location: location,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
  });
  res.end(ctx.head ? undefined : body);
}

/** Honest headers, then one byte per `intervalMs` until done or the client leaves. */
function trickle(res: ServerResponse, bytes: Buffer, intervalMs: number, head: boolean): Promise<void> {
  res.writeHead(200, { 'Content-Type': sniffContentType(bytes), 'Content-Length': bytes.length });
  if (head) {
    res.end();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return stop();
      res.write(bytes.subarray(sent, sent + 1));
      sent++;
      if (sent >= bytes.length) {
        res.end();
        stop();
      }
    }, intervalMs);
    const stop = (): void => {
      clearInterval(timer);
      resolve();
    };
    res.once('close', stop);
  });
}

/**
 * The image, then zeros up to `total` bytes (decoders ignore data after the end marker), with a
 * Content-Length (`declared`) or chunked; stops early when the client leaves.
 */
async function pad(res: ServerResponse, bytes: Buffer, total: number, declared: boolean, head: boolean): Promise<void> {
  res.writeHead(200, { 'Content-Type': sniffContentType(bytes), ...(declared ? { 'Content-Length': total } : {}) });
  if (head) return void res.end();
  const zeros = Buffer.alloc(64 * 1024);
  let sent = 0;
  const write = async (chunk: Buffer): Promise<boolean> => {
    if (res.destroyed) return false;
    sent += chunk.length;
    if (res.write(chunk)) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
    return !res.destroyed;
  };
  if (!(await write(bytes))) return;
  while (sent < total) {
    if (!(await write(zeros.subarray(0, Math.min(zeros.length, total - sent))))) return;
  }
  res.end();
}
