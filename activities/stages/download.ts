import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import type { RunConfig } from '../../lib/config';
import path from 'node:path';
import { db } from '../../lib/db';
import { stateDir } from '../../lib/paths';
import { loadRun } from '../run-config';
import { runStage, type StageContext } from '../stage';
import { dropEarlierCopies } from '../iteration-files';
import { fetchBytes, type FetchOptions } from '../download/fetch';
import { NEAR_DUPLICATE_OF_TARGET } from '../download/outcomes';
import { fetchPolicy, LOCAL_PROVIDER, localEngineHost } from '../download/policy';
import { shardOf } from '../download/shard-plan';
import { recordFetch } from '../download/record';
import { writeShards } from '../download/shards';
import {
  hammingDistance,
  ImageRejected,
  inspectImage,
  normaliseImage,
  perceptualHash,
  type ImageFilters,
  type NormaliseOptions,
} from '../store/normalise';
import { fetchFiles, publish, publishAll } from '../../lib/storage';
import { imageAvailable, imageFile, putImage, sha256, storedImage } from '../store/content-store';
import type { DownloadRef, DownloadShardRef, StageRef } from '../../lib/contract';

interface ResultRow {
  conceptId: number;
  url: string;
  rank: number;
  provider: string;
}

export interface DownloadSummary {
  /** Distinct result URLs of this iteration. */
  urls: number;
  /** URLs requested by this run of the stage. */
  fetched: number;
  /** URLs whose recorded outcome was reused (successes, permanent failures, exhausted retries). */
  reused: number;
  /** Distinct images linked to this iteration's concepts (what training and scoring get). */
  downloaded: number;
  /** URLs with a failed outcome. */
  failed: number;
  /** Downloaded images left out because they are near duplicates of a target image. */
  excluded: number;
  /** This iteration's URLs per outcome: ok, duplicate, near_duplicate_of_target or a failure reason. */
  reasons: Record<string, number>;
  /** Tar shards written (with `download.writeShards`). */
  shards?: string[];
}

/** This iteration's search results: the URLs its queries found, with the concept and rank of each. */
async function iterationResults(ref: StageRef, resultsPerQuery: number): Promise<ResultRow[]> {
  return db().$queryRaw<ResultRow[]>`
    SELECT q."conceptId", r.url, r.rank, COALESCE(r.source, r.provider) AS provider
    FROM "Query" q JOIN "SearchResult" r ON r.query = q."searchKey" AND r.provider = q.provider
    WHERE q."runId" = ${ref.runId} AND q.iteration = ${ref.iteration} AND r.rank < ${resultsPerQuery}`;
}

/**
 * Fetches those of `urls` without a settled outcome (an ok whose file is in this store, a permanent failure,
 * or a retryable one out of attempts), `download.concurrency` at once, recording each outcome. The first
 * unexpected error (a full disk, a lost database) stops the other fetches, and it is thrown only once none is
 * still running: a failed attempt leaves nothing writing behind it. Returns how many it fetched.
 */
async function fetchUnsettled(
  ctx: StageContext,
  run: Awaited<ReturnType<typeof loadRun>>,
  ref: StageRef,
  rows: ResultRow[],
  urls: string[],
): Promise<{ fetched: number }> {
  const { download } = run.config;
  const known = await db().fetch.findMany({
    where: { url: { in: urls } },
    select: { url: true, status: true, retryable: true, attempts: true, sha256: true },
  });
  // A fetched image the store cannot give back (a local store wiped) is fetched again rather than handed to
  // training as a file that does not exist.
  const settled = new Set(
    known
      .filter((f) => (f.status === 'ok' ? !f.sha256 || imageAvailable(f.sha256) : true))
      .filter((f) => f.status === 'ok' || !f.retryable || f.attempts >= download.maxAttempts)
      .map((f) => f.url),
  );
  const todo = interleaveByHost(urls.filter((u) => !settled.has(u)));
  ctx.log.info(
    { urls: urls.length, settled: settled.size, retrying: known.length - settled.size, toFetch: todo.length },
    'download planned',
  );

  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  let firstError: unknown;
  const policy = fetchPolicy(run.config, signal);
  // Only the local provider's own results may go to the local engine (never another provider's URL).
  const fromLocal = new Set(rows.filter((r) => r.provider === LOCAL_PROVIDER).map((r) => r.url));
  const limit = pLimit(download.concurrency);
  // Every in-flight request listens for cancellation on the same signal.
  setMaxListeners(download.concurrency * 2 + 10, ctx.signal, signal);
  let done = 0;
  let lastBeat = 0;
  // Progress for the heartbeat pump, which also beats while every slot waits (Retry-After, pacing).
  const beat = () => {
    lastBeat = Date.now();
    ctx.heartbeat({ fetched: done, of: todo.length });
  };
  await Promise.all(
    todo.map((url) =>
      limit(async () => {
        if (signal.aborted) return;
        try {
          await fetchOne(url, ref, run.config, fromLocal.has(url) ? policy.local : policy.web, signal);
        } catch (error) {
          firstError ??= error;
          stop.abort();
          return;
        }
        done++;
        if (Date.now() - lastBeat > 1000) beat();
      }),
    ),
  );
  if (firstError !== undefined) throw firstError;
  if (ctx.signal.aborted) throw new Error('download cancelled');
  return { fetched: todo.length };
}

/**
 * One shard of an iteration's downloads (`download.shards` > 1): the URLs `shardOf` gives it, fetched and
 * recorded as the closing pass would. Cost: its share of the iteration's URLs; nothing else of the run.
 */
export async function downloadShard(ref: DownloadShardRef): Promise<{ urls: number; fetched: number }> {
  const run = await loadRun(ref.runId);
  return runStage(
    'download',
    ref,
    async (ctx) => {
      const rows = await iterationResults(ref, run.config.resultsPerQuery);
      const spread = new Set([localEngineHost(run.config)].filter((h): h is string => h !== undefined));
      const urls = [...new Set(rows.map((r) => r.url))].filter((url) => shardOf(url, ref.shards, spread) === ref.shard);
      const { fetched } = await fetchUnsettled(ctx, run, ref, rows, urls);
      await dropEarlierCopies(ref.runId, ref.iteration);
      return { urls: urls.length, fetched };
    },
    { record: false, bind: { shard: ref.shard, shards: ref.shards } },
  );
}

/**
 * The download stage, or its closing pass after the shards: fetches every result of this iteration's queries
 * that has no settled outcome yet (after shards: what they left retryable). Each URL's outcome is recorded (ok
 * or the reason it failed, retryable or permanent); a URL with an outcome is fetched again only when its
 * failure is retryable and it has attempts left. Each distinct content is normalised and stored once (keyed by
 * the SHA-256 of its bytes). Images that are near duplicates of a target image get no Candidate row, so
 * training and scoring never see them; they are recorded in Exclusion. Cost: the iteration's URLs.
 */
export async function downloadCandidates(ref: DownloadRef): Promise<DownloadSummary> {
  const run = await loadRun(ref.runId);
  const stageRef = { runId: ref.runId, iteration: ref.iteration };
  const startedAt = ref.startedAtMs === undefined ? undefined : new Date(ref.startedAtMs);
  return runStage(
    'download',
    stageRef,
    async (ctx) => {
      const { download, resultsPerQuery } = run.config;
      const rows = await iterationResults(stageRef, resultsPerQuery);
      const urls = [...new Set(rows.map((r) => r.url))];
      const { fetched } = await fetchUnsettled(ctx, run, stageRef, rows, urls);

      // Link each fetched image to the concepts whose queries found it (idempotent), except near duplicates
      // of the run's targets, which are recorded as exclusions instead.
      const fetches = await db().fetch.findMany({ where: { url: { in: urls } } });
      const okFetches = fetches.filter((f) => f.status === 'ok' && f.sha256);
      const hashOf = await perceptualHashes(okFetches.map((f) => f.sha256 as string));
      const targets = await targetHashes(stageRef.runId);
      const exclusions = okFetches.flatMap((f) => {
        const near = nearestTarget(hashOf.get(f.sha256 as string), targets);
        return near && near.distance <= download.nearDuplicateDistance
          ? [
              {
                runId: stageRef.runId,
                iteration: stageRef.iteration,
                url: f.url,
                sha256: f.sha256 as string,
                reason: NEAR_DUPLICATE_OF_TARGET,
                targetSha256: near.sha256,
                distance: near.distance,
              },
            ]
          : [];
      });
      const excludedUrls = new Set(exclusions.map((e) => e.url));
      const excludedShas = new Set(exclusions.map((e) => e.sha256));
      const shaOf = new Map(
        okFetches.filter((f) => !excludedShas.has(f.sha256 as string)).map((f) => [f.url, f.sha256 as string]),
      );
      const candidates = rows.flatMap((r) => {
        const sha = shaOf.get(r.url);
        return sha
          ? [
              {
                runId: stageRef.runId,
                iteration: stageRef.iteration,
                conceptId: r.conceptId,
                sha256: sha,
                rank: r.rank,
              },
            ]
          : [];
      });
      await db().exclusion.createMany({ data: exclusions, skipDuplicates: true });
      await db().candidate.createMany({ data: candidates, skipDuplicates: true });
      const distinct = new Set(candidates.map((c) => c.sha256)).size;
      const failed = fetches.filter((f) => f.status !== 'ok').length;
      const reasons: Record<string, number> = {};
      for (const f of fetches) {
        const reason = excludedUrls.has(f.url)
          ? NEAR_DUPLICATE_OF_TARGET
          : f.status === 'ok'
            ? (f.reason ?? 'ok')
            : (f.reason ?? 'unknown');
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      }
      await db().iteration.update({
        where: { runId_index: { runId: stageRef.runId, index: stageRef.iteration } },
        data: { downloaded: distinct, failed },
      });
      const shards = download.writeShards
        ? await writeIterationShards(stageRef, run.config, candidates, rows, fetches)
        : [];
      const summary: DownloadSummary = {
        urls: urls.length,
        fetched,
        reused: urls.length - fetched,
        downloaded: distinct,
        failed,
        excluded: excludedUrls.size,
        reasons,
        ...(download.writeShards ? { shards } : {}),
      };
      ctx.log.info(summary, 'download finished');
      await dropEarlierCopies(stageRef.runId, stageRef.iteration);
      return summary;
    },
    { startedAt },
  );
}

/** Orders URLs round-robin over their hosts, so one slow or rate-limited host does not hold every slot. */
export function interleaveByHost(urls: string[]): string[] {
  const byHost = new Map<string, string[]>();
  for (const url of urls) {
    let host: string;
    try {
      host = new URL(url).host;
    } catch {
      host = '';
    }
    const list = byHost.get(host) ?? [];
    list.push(url);
    byHost.set(host, list);
  }
  const queues = [...byHost.values()];
  const out: string[] = [];
  for (let i = 0; out.length < urls.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]);
  return out;
}

async function fetchOne(
  url: string,
  ref: StageRef,
  config: RunConfig,
  fetchOpts: FetchOptions,
  signal: AbortSignal,
): Promise<void> {
  const d = config.download;
  const started = performance.now();
  const outcome = await fetchBytes(url, fetchOpts);
  if (signal.aborted) return; // leave no outcome: the retry fetches it
  const base = { url, runId: ref.runId, iteration: ref.iteration };
  const elapsed = () => Math.round(performance.now() - started);
  if (!outcome.ok) {
    await recordFetch({
      ...base,
      status: 'failed',
      reason: outcome.reason,
      retryable: outcome.retryable,
      detail: outcome.detail,
      httpStatus: outcome.httpStatus,
      ms: elapsed(),
    });
    return;
  }
  const sha = sha256(outcome.bytes);
  const fetched = { ...base, sha256: sha, bytes: outcome.bytes.length, httpStatus: outcome.httpStatus };
  const filters: ImageFilters = { minSide: d.minSide, maxAspectRatio: d.maxAspectRatio };
  let image: { path: string; width: number; height: number; phash: string | null };
  try {
    // The same bytes are normalised and stored once, whichever URL served them.
    const stored = await storedImage(sha);
    if (stored) {
      await inspectImage(outcome.bytes, d, filters);
      // No hash here: the Image row keeps the one made when the bytes were first normalised, and a row
      // without one gets it from `perceptualHashes` after the fetches. Published again: a crash between its
      // write and its upload may have left it only on this host.
      image = { ...stored, path: await publish(stored.path), phash: null };
    } else image = await storeNew(sha, outcome.bytes, d, filters);
  } catch (error) {
    if (!(error instanceof ImageRejected)) throw error;
    await recordFetch({ ...fetched, status: 'failed', reason: error.reason, detail: error.message, ms: elapsed() });
    return;
  }
  await recordFetch(
    { ...fetched, status: 'ok', ms: elapsed() },
    { sha256: sha, ...image, bytes: outcome.bytes.length, sourceUrl: url },
  );
}

async function storeNew(sha: string, bytes: Buffer, opts: NormaliseOptions, filters: ImageFilters) {
  const image = await normaliseImage(bytes, opts, filters);
  return { path: await putImage(sha, image.jpeg), width: image.width, height: image.height, phash: image.phash };
}

/** Perceptual hashes of stored images, computing (and saving) any that are missing. */
async function perceptualHashes(shas: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(shas)];
  const images = await db().image.findMany({
    where: { sha256: { in: unique } },
    select: { sha256: true, phash: true },
  });
  const out = new Map<string, string>();
  for (const image of images) {
    let phash = image.phash;
    if (!phash) {
      try {
        phash = await perceptualHash(await imageFile(image.sha256));
      } catch {
        continue; // a missing store file: no hash, so never judged a near duplicate
      }
      await db().image.update({ where: { sha256: image.sha256 }, data: { phash } });
    }
    out.set(image.sha256, phash);
  }
  return out;
}

async function targetHashes(runId: string): Promise<{ sha256: string; phash: string }[]> {
  const targets = await db().targetImage.findMany({ where: { runId }, select: { sha256: true } });
  const hashes = await perceptualHashes(targets.map((t) => t.sha256));
  return [...hashes].map(([sha, phash]) => ({ sha256: sha, phash }));
}

/** The target image whose hash is nearest, with its Hamming distance. */
export function nearestTarget(
  phash: string | undefined,
  targets: { sha256: string; phash: string }[],
): { sha256: string; distance: number } | undefined {
  if (!phash) return undefined;
  let best: { sha256: string; distance: number } | undefined;
  for (const t of targets) {
    const distance = hammingDistance(phash, t.phash);
    if (!best || distance < best.distance) best = { sha256: t.sha256, distance };
  }
  return best;
}

/** Writes the iteration's kept images (its candidates) as webdataset shards, ordered by SHA-256. */
async function writeIterationShards(
  ref: StageRef,
  config: RunConfig,
  candidates: { conceptId: number; sha256: string; rank: number }[],
  rows: ResultRow[],
  fetches: { url: string; sha256: string | null }[],
): Promise<string[]> {
  const shas = [...new Set(candidates.map((c) => c.sha256))].sort();
  const images = new Map(
    (await db().image.findMany({ where: { sha256: { in: shas } } })).map((image) => [image.sha256, image]),
  );
  const urlsOf = new Map<string, Set<string>>();
  for (const f of fetches) if (f.sha256) urlsOf.set(f.sha256, (urlsOf.get(f.sha256) ?? new Set()).add(f.url));
  // This host's files of the images, by their rows' keys (fetched 16 at a time where another host stored them).
  const present = shas.filter((sha) => images.has(sha));
  const files = await fetchFiles(present.map((sha) => (images.get(sha) as { path: string }).path));
  const fileOfSha = new Map(present.map((sha, i) => [sha, files[i] as string]));
  const samples = [];
  for (const sha of shas) {
    const image = images.get(sha);
    if (!image) continue;
    const urls = urlsOf.get(sha) ?? new Set<string>();
    const found = rows.filter((r) => urls.has(r.url)).map((r) => ({ conceptId: r.conceptId, rank: r.rank }));
    samples.push({
      key: sha,
      jpegPath: fileOfSha.get(sha) as string,
      meta: {
        sha256: sha,
        url: [...urls].sort()[0] ?? image.sourceUrl,
        width: image.width,
        height: image.height,
        phash: image.phash,
        runId: ref.runId,
        iteration: ref.iteration,
        found,
      },
    });
  }
  const root = config.download.shardsDir ?? path.join(stateDir(), 'shards');
  const dir = path.join(root, ref.runId, `iter-${String(ref.iteration).padStart(3, '0')}`);
  const shards = await writeShards(dir, samples, config.download.shardSize);
  // In the object store too, unless download.shardsDir sends them elsewhere (a folder of the user's choosing).
  if (!config.download.shardsDir) await publishAll(shards);
  return shards;
}
