import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { logger } from '../lib/logger';
import { stateDir } from '../lib/paths';
import { ensureDefaultCorpus } from './build-corpus';
import { captionTitle } from './captions';
import { loadManifest, type ManifestRecord } from './corpus';
import { FaultAssets } from './fault-assets';
import { serveFault } from './fault-server';
import {
  FAULT_KINDS,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
  faultForKey,
  isFaultKind,
  noiseReplacement,
  parseFaultConfig,
  unitHash,
} from './faults';
import { ImageStore } from './image-store';
import { encodeKey } from './keys';
import { openSearchIndex } from './index-cache';
import type { SearchIndex } from './search-index';
import { normaliseText } from './text';

export { encodeKey } from './keys';
export { FAULT_KINDS, faultForKey, faultUrl, type FaultConfigInput, type FaultKind } from './faults';

const log = logger.child({ component: 'engine' });

export const MAX_PER_PAGE = 100;
export const DEFAULT_PER_PAGE = 20;

export interface EngineOptions {
  /** JSONL manifest to serve; defaults to the default corpus (built on first use). */
  manifestPath?: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /**
   * The base URL of the absolute links in results and pages (how clients reach it, e.g. behind a name or a
   * proxy); default `http://<host>:<port>` (127.0.0.1 when bound to every interface). Never the request's Host.
   */
  publicUrl?: string;
  /** Delay before each image response, as a slow web server would have (0 = none); overrides `faults.imageLatencyMs`. */
  imageLatencyMs?: number;
  /** Result noise, latency and per-URL faults (see `engine/faults.ts`); none by default. */
  faults?: FaultConfigInput;
  /** Where generated fault assets (huge image, bombs) are cached; default `<state>/engine/fault-assets`. */
  assetDir?: string;
}

export interface EngineStats {
  /** Image GETs per key, faulted ones and redirect hops included (so retries can be counted). */
  imageRequests: Record<string, number>;
  /** Image GETs answered with each fault kind. */
  faultRequests: Partial<Record<FaultKind, number>>;
  searchRequests: number;
}

export interface RunningEngine {
  /** Where it listens. */
  url: string;
  /** What its links name (EngineOptions.publicUrl). */
  publicUrl: string;
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
  const { index, loaded } = await openSearchIndex(manifestPath, records);
  log.info(
    { manifestPath, images: records.length, loadMs: loadedMs, indexMs: Date.now() - started - loadedMs },
    loaded ? 'index loaded' : 'index built',
  );

  const byKey = new Map(records.map((r) => [r.key, r]));
  const store = new ImageStore();
  const faults = parseFaultConfig(options.faults ?? {});
  if (options.imageLatencyMs !== undefined) faults.imageLatencyMs = options.imageLatencyMs;
  const assets = new FaultAssets(options.assetDir ?? path.join(stateDir(), 'engine', 'fault-assets'));
  const imageRequests = new Map<string, number>();
  const faultRequests = new Map<FaultKind, number>();
  /** GETs per (fault, key), for the faults that fail the first N requests. */
  const faultHits = new Map<string, number>();
  let searchRequests = 0;
  let requestNo = 0;
  const delay = async (ms: number): Promise<void> => {
    const jitter = faults.latencyJitterMs * unitHash(faults.seed, `jitter\u0000${requestNo++}`);
    if (ms + jitter > 0) await new Promise((resolve) => setTimeout(resolve, ms + jitter));
  };

  const serveImage = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: ManifestRecord,
    fault: FaultKind | undefined,
    base: string,
  ): Promise<void> => {
    const head = req.method === 'HEAD';
    let hits = 0;
    if (!head) {
      imageRequests.set(record.key, (imageRequests.get(record.key) ?? 0) + 1);
      if (fault) {
        faultRequests.set(fault, (faultRequests.get(fault) ?? 0) + 1);
        hits = (faultHits.get(`${fault}\u0000${record.key}`) ?? 0) + 1;
        faultHits.set(`${fault}\u0000${record.key}`, hits);
      }
    }
    await delay(faults.imageLatencyMs);
    const bytes = await store.read(record);
    await serveFault({ req, res, url, record, fault, base, bytes, hits, head, faults, assets });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, base: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed`);
    const url = new URL(req.url ?? '/', base);
    const route = url.pathname;
    if (route === '/search') {
      searchRequests++;
      const body = search(index, records, faults, url, base);
      await delay(faults.searchLatencyMs);
      return sendJson(res, 200, body);
    }
    if (route.startsWith('/images/') && route.endsWith('.jpg')) {
      const record = lookup(byKey, route.slice('/images/'.length, -'.jpg'.length));
      const forced = url.searchParams.get('fault');
      if (forced !== null && forced !== 'none' && !isFaultKind(forced)) {
        throw new HttpError(400, `unknown fault ${forced}; one of none, ${FAULT_KINDS.join(', ')}`);
      }
      const fault = forced === null ? faultForKey(record.key, faults) : forced === 'none' ? undefined : forced;
      return serveImage(req, res, url, record, fault as FaultKind | undefined, base);
    }
    if (route === '/faults' || route === '/faults/') {
      return sendJson(res, 200, { kinds: FAULT_KINDS, config: faults });
    }
    if (route.startsWith('/faults/') && route.endsWith('.jpg')) {
      const rest = route.slice('/faults/'.length, -'.jpg'.length);
      const slash = rest.indexOf('/');
      const kind = slash > 0 ? rest.slice(0, slash) : '';
      if (!isFaultKind(kind)) throw new HttpError(404, `unknown fault ${kind}; one of ${FAULT_KINDS.join(', ')}`);
      const record = lookup(byKey, rest.slice(slash + 1));
      return serveImage(req, res, url, record, kind, base);
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

  const stats = (): EngineStats => ({
    imageRequests: Object.fromEntries(imageRequests),
    faultRequests: Object.fromEntries(faultRequests),
    searchRequests,
  });

  // Absolute links name the configured base, never the request's Host header (which a client chooses:
  // reflected into pages, it would be markup an attacker writes; into results, links to wherever it says).
  let base = '';
  const server = createServer((req, res) => {
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
  base = publicBaseUrl(options.publicUrl, host, port);

  return {
    url: engineUrl,
    publicUrl: base,
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

/** The origin links use: the configured public URL (its origin), else where it listens (loopback for a wildcard). */
export function publicBaseUrl(configured: string | undefined, host: string, port: number): string {
  if (configured) return new URL(configured).origin;
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function search(
  index: SearchIndex,
  all: readonly ManifestRecord[],
  faults: FaultConfig,
  url: URL,
  base: string,
): SearchResponse {
  const query = url.searchParams.get('q');
  if (query === null || query.trim() === '') throw new HttpError(400, 'missing query parameter q');
  const page = intParam(url, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
  const perPage = intParam(url, 'per_page', DEFAULT_PER_PAGE, 1, MAX_PER_PAGE);
  const offset = (page - 1) * perPage;
  const { total, records: ranked } = index.search(query, offset, perPage);
  const q = normaliseText(query);
  const records = ranked.map((r, i) => {
    const noise = noiseReplacement(q, offset + i, all.length, faults);
    return noise === undefined ? r : all[noise];
  });
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
