import pLimit from 'p-limit';
import { Prisma } from '@prisma/client';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { createProvider } from '../search/providers';
import { QuotaExhaustedError } from '../search/http';
import { ApplicationFailure } from '@temporalio/common';
import { cachedSearch, dbSearchStore } from '../search/cache';
import type { StageRef } from '../../lib/contract';

const SEARCH_CONCURRENCY = 8;
/** Queries whose result counts are written together: one statement per chunk, not per query. */
const CHUNK = 32;

interface Outcome {
  conceptId: number;
  /** Results ranked below resultsPerQuery. */
  results?: number;
  error?: string;
}

/**
 * Searches every query of the iteration. Responses are cached per (provider, normalised query, page)
 * (activities/search/cache.ts), so a repeated query — in this iteration, an earlier one or another run —
 * costs nothing, a deeper one fetches only the pages it lacks, and a retried stage only searches what is
 * still missing. A failed search is recorded on its query, not dropped.
 */
export async function searchQueries(ref: StageRef): Promise<{ queries: number; withResults: number; results: number }> {
  const run = await loadRun(ref.runId);
  return runStage('search', ref, async (ctx) => {
    const provider = createProvider(run.config, process.env, dbSearchStore);
    const perQuery = run.config.resultsPerQuery;
    const queries = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
    const limit = pLimit(SEARCH_CONCURRENCY);
    let searched = 0;
    let cached = 0;
    let requests = 0;
    for (let start = 0; start < queries.length; start += CHUNK) {
      const outcomes: Outcome[] = await Promise.all(
        queries.slice(start, start + CHUNK).map((query) =>
          limit(async (): Promise<Outcome> => {
            try {
              const result = await cachedSearch(provider, query.searchKey, perQuery, dbSearchStore, ctx.signal);
              if (result.requests === 0) cached++;
              requests += result.requests;
              return { conceptId: query.conceptId, results: result.hits.length };
            } catch (error) {
              if (error instanceof QuotaExhaustedError) throw quotaFailure(error);
              ctx.log.warn({ query: query.text, err: (error as Error).message }, 'search failed');
              return { conceptId: query.conceptId, error: (error as Error).message };
            }
          }),
        ),
      );
      await recordOutcomes(ref, outcomes);
      searched += outcomes.length;
      ctx.heartbeat({ searched });
    }

    const rows = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
    const results = rows.reduce((sum, q) => sum + (q.results ?? 0), 0);
    const withResults = rows.filter((q) => (q.results ?? 0) > 0).length;
    const failed = rows.filter((q) => q.error).length;
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { results },
    });
    ctx.log.info({ queries: rows.length, withResults, results, cached, requests, failed }, 'search finished');
    if (failed === rows.length && rows.length > 0) {
      throw new Error(
        `every search of iteration ${ref.iteration} failed (e.g. ${rows[0].error}); is the search engine up?`,
      );
    }
    return { queries: rows.length, withResults, results };
  });
}

/** Writes a chunk's result counts (or errors) on its queries in one statement (the pages are cached as fetched). */
async function recordOutcomes(ref: StageRef, outcomes: Outcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const values = outcomes.map(
    (o) =>
      Prisma.sql`(${o.conceptId}::int, ${o.error === undefined ? (o.results ?? 0) : 0}::int, ${o.error ?? null}::text)`,
  );
  await db().$executeRaw`
    UPDATE "Query" AS q SET "results" = v.results, "error" = v.error
    FROM (VALUES ${Prisma.join(values)}) AS v("conceptId", results, error)
    WHERE q."runId" = ${ref.runId} AND q."iteration" = ${ref.iteration} AND q."conceptId" = v."conceptId"`;
}

/**
 * A spent quota is not a failed search: retrying now would only burn attempts. When the provider says
 * when it resets, the stage is retried then (the run waits); otherwise the iteration stops, saying why.
 */
function quotaFailure(error: QuotaExhaustedError): ApplicationFailure {
  const waitMs = error.resetsAt ? error.resetsAt.getTime() - Date.now() : undefined;
  return ApplicationFailure.create({
    type: 'QuotaExhaustedError',
    message: error.message,
    nonRetryable: waitMs === undefined,
    nextRetryDelay: waitMs === undefined ? undefined : Math.max(1000, waitMs),
  });
}
