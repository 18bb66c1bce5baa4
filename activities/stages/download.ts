import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { fetchBytes } from '../download/fetch';
import { ImageDecodeError, normaliseImage, type NormaliseOptions } from '../store/normalise';
import { recordFetch } from '../download/record';
import { putImage, sha256, storedImage } from '../store/content-store';
import type { StageRef } from '../../workflows/types';

export const USER_AGENT =
  process.env.IE_USER_AGENT ?? 'InternetExplorerBot/0.1 (+https://github.com/internet-explorer; research crawler)';

interface ResultRow {
  conceptId: number;
  url: string;
  rank: number;
}

/**
 * Downloads every result of this iteration's queries. Each URL is fetched at most once ever (the Fetch
 * table keeps its outcome, ok or the reason it failed), each distinct content is normalised and stored
 * once (keyed by the SHA-256 of its bytes), and a retried stage only fetches URLs with no outcome yet.
 */
export async function downloadCandidates(
  ref: StageRef,
): Promise<{ urls: number; fetched: number; reused: number; downloaded: number; failed: number }> {
  const run = await loadRun(ref.runId);
  return runStage('download', ref, async (ctx) => {
    const { download, resultsPerQuery } = run.config;
    const rows = await db().$queryRaw<ResultRow[]>`
      SELECT q."conceptId", r.url, r.rank
      FROM "Query" q JOIN "SearchResult" r ON r.query = q."searchKey" AND r.provider = q.provider
      WHERE q."runId" = ${ref.runId} AND q.iteration = ${ref.iteration} AND r.rank < ${resultsPerQuery}`;
    const urls = [...new Set(rows.map((r) => r.url))];
    const known = new Set(
      (await db().fetch.findMany({ where: { url: { in: urls } }, select: { url: true } })).map((f) => f.url),
    );
    const todo = urls.filter((u) => !known.has(u));
    ctx.log.info({ urls: urls.length, alreadyFetched: known.size, toFetch: todo.length }, 'download planned');

    const limit = pLimit(download.concurrency);
    // Every in-flight request listens for cancellation on the same signal.
    setMaxListeners(download.concurrency + 10, ctx.signal);
    let done = 0;
    let lastBeat = 0;
    await Promise.all(
      todo.map((url) =>
        limit(async () => {
          if (ctx.signal.aborted) return;
          await fetchOne(url, ref, run.config.download, ctx.signal);
          done++;
          if (Date.now() - lastBeat > 1000) {
            lastBeat = Date.now();
            ctx.heartbeat({ fetched: done, of: todo.length });
          }
        }),
      ),
    );
    if (ctx.signal.aborted) throw new Error('download cancelled');

    // Link each fetched image to the concepts whose queries found it (idempotent).
    const fetches = await db().fetch.findMany({ where: { url: { in: urls } } });
    const shaOf = new Map(fetches.filter((f) => f.status === 'ok' && f.sha256).map((f) => [f.url, f.sha256 as string]));
    const candidates = rows.flatMap((r) => {
      const sha = shaOf.get(r.url);
      return sha
        ? [{ runId: ref.runId, iteration: ref.iteration, conceptId: r.conceptId, sha256: sha, rank: r.rank }]
        : [];
    });
    await db().candidate.createMany({ data: candidates, skipDuplicates: true });
    const distinct = new Set(candidates.map((c) => c.sha256)).size;
    const failed = fetches.filter((f) => f.status !== 'ok').length;
    const reasons: Record<string, number> = {};
    for (const f of fetches)
      if (f.status !== 'ok') reasons[f.reason ?? 'unknown'] = (reasons[f.reason ?? 'unknown'] ?? 0) + 1;
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { downloaded: distinct, failed },
    });
    ctx.log.info({ urls: urls.length, fetched: todo.length, images: distinct, failed, reasons }, 'download finished');
    return { urls: urls.length, fetched: todo.length, reused: known.size, downloaded: distinct, failed };
  });
}

async function fetchOne(
  url: string,
  ref: StageRef,
  opts: { timeoutMs: number; maxBytes: number; maxRedirects: number; maxSide: number; maxPixels: number },
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  const outcome = await fetchBytes(url, { ...opts, userAgent: USER_AGENT, signal });
  if (signal.aborted) return; // leave no outcome: the retry fetches it
  const base = { url, runId: ref.runId, iteration: ref.iteration };
  const elapsed = () => Math.round(performance.now() - started);
  if (!outcome.ok) {
    await recordFetch({
      ...base,
      status: 'failed',
      reason: outcome.reason,
      httpStatus: outcome.httpStatus,
      ms: elapsed(),
    });
    return;
  }
  const sha = sha256(outcome.bytes);
  const fetched = { ...base, sha256: sha, bytes: outcome.bytes.length, httpStatus: outcome.httpStatus };
  let image: { path: string; width: number; height: number };
  try {
    // The same bytes are normalised and stored once, whichever URL served them.
    image = (await storedImage(sha)) ?? (await storeNew(sha, outcome.bytes, opts));
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    await recordFetch({ ...fetched, status: 'failed', reason: 'decode_error', ms: elapsed() });
    return;
  }
  await recordFetch(
    { ...fetched, status: 'ok', ms: elapsed() },
    { sha256: sha, ...image, bytes: outcome.bytes.length, sourceUrl: url },
  );
}

async function storeNew(sha: string, bytes: Buffer, opts: NormaliseOptions) {
  const image = await normaliseImage(bytes, opts);
  return { path: await putImage(sha, image.jpeg), width: image.width, height: image.height };
}
