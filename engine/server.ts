import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../lib/logger';
import { ensureDefaultCorpus } from './build-corpus';
import { captionTitle } from './captions';
import { loadManifest, type ManifestRecord } from './corpus';
import { ImageStore, sniffContentType } from './image-store';
import { SearchIndex } from './search-index';

const log = logger.child({ component: 'engine' });

export const MAX_PER_PAGE = 100;
export const DEFAULT_PER_PAGE = 20;

export interface EngineOptions {
  /** JSONL manifest to serve; defaults to the default corpus (built on first use). */
  manifestPath?: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Delay before each image response, as a slow web server would have (0 = none). */
  imageLatencyMs?: number;
}

export interface EngineStats {
  /** Successful image GETs per key. */
  imageRequests: Record<string, number>;
  searchRequests: number;
}

export interface RunningEngine {
  url: string;
  port: number;
  images: number;
  close(): Promise<void>;
  stats(): EngineStats;
}

export interface SearchResult {
  url: string;
  page_url: string;
  title: string;
  width?: number;
  height?: number;
}

export interface SearchResponse {
  query: string;
  page: number;
  per_page: number;
  total: number;
  results: SearchResult[];
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Starts the local image search engine over a corpus manifest. */
export async function startEngine(options: EngineOptions = {}): Promise<RunningEngine> {
  const manifestPath = options.manifestPath ?? (await ensureDefaultCorpus());
  const started = Date.now();
  const records = await loadManifest(manifestPath);
  const loadedMs = Date.now() - started;
  const index = SearchIndex.build(records);
  log.info(
    { manifestPath, images: records.length, loadMs: loadedMs, indexMs: Date.now() - started - loadedMs },
    'index built',
  );

  const byKey = new Map(records.map((r) => [r.key, r]));
  const store = new ImageStore();
  const imageRequests = new Map<string, number>();
  let searchRequests = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse, base: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed`);
    const url = new URL(req.url ?? '/', base);
    const route = url.pathname;
    if (route === '/search') {
      searchRequests++;
      return sendJson(res, 200, search(index, url, base));
    }
    if (route.startsWith('/images/') && route.endsWith('.jpg')) {
      const record = lookup(byKey, route.slice('/images/'.length, -'.jpg'.length));
      const bytes = await store.read(record);
      if (options.imageLatencyMs) await new Promise((resolve) => setTimeout(resolve, options.imageLatencyMs));
      if (req.method === 'GET') imageRequests.set(record.key, (imageRequests.get(record.key) ?? 0) + 1);
      res.writeHead(200, {
        'Content-Type': sniffContentType(bytes),
        'Content-Length': bytes.length,
        'Cache-Control': 'public, max-age=86400',
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    if (route.startsWith('/pages/')) {
      const record = lookup(byKey, route.slice('/pages/'.length));
      const html = renderPage(record, base);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    if (route === '/health') return sendJson(res, 200, { ok: true, images: records.length });
    if (route === '/_stats') return sendJson(res, 200, stats());
    throw new HttpError(404, `no route for ${route}`);
  };

  const stats = (): EngineStats => ({ imageRequests: Object.fromEntries(imageRequests), searchRequests });

  const server = createServer((req, res) => {
    // Absolute URLs follow the Host the client used, like a real site behind any name.
    const base = req.headers.host ? `http://${req.headers.host}` : engineUrl;
    handle(req, res, base).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500) log.error({ err, url: req.url }, 'request failed');
      if (res.headersSent) res.destroy();
      else sendJson(res, status, { error: message });
    });
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const engineUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: engineUrl,
    port,
    images: records.length,
    stats,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await store.close();
    },
  };
}

function search(index: SearchIndex, url: URL, base: string): SearchResponse {
  const query = url.searchParams.get('q');
  if (query === null || query.trim() === '') throw new HttpError(400, 'missing query parameter q');
  const page = intParam(url, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
  const perPage = intParam(url, 'per_page', DEFAULT_PER_PAGE, 1, MAX_PER_PAGE);
  const { total, records } = index.search(query, (page - 1) * perPage, perPage);
  return {
    query,
    page,
    per_page: perPage,
    total,
    results: records.map((r) => ({
      url: `${base}/images/${encodeKey(r.key)}.jpg`,
      page_url: `${base}/pages/${encodeKey(r.key)}`,
      title: captionTitle(r.caption),
      width: r.width,
      height: r.height,
    })),
  };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new HttpError(400, `${name} must be an integer between ${min} and ${max}`);
  const value = Number(raw);
  if (value < min || value > max) throw new HttpError(400, `${name} must be an integer between ${min} and ${max}`);
  return value;
}

function lookup(byKey: ReadonlyMap<string, ManifestRecord>, encoded: string): ManifestRecord {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'malformed key');
  }
  const record = byKey.get(key);
  if (!record) throw new HttpError(404, `unknown image ${key}`);
  return record;
}

/** Keys may hold '/', kept as path separators; every segment is percent-encoded. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function renderPage(record: ManifestRecord, base: string): string {
  const title = escapeHtml(captionTitle(record.caption));
  const size = record.width && record.height ? ` width="${record.width}" height="${record.height}"` : '';
  return (
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n` +
    `<img src="${base}/images/${escapeHtml(encodeKey(record.key))}.jpg"${size} alt="${title}">\n` +
    `<p>${escapeHtml(record.caption)}</p>\n</body></html>\n`
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(json);
}
