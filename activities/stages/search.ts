import pLimit from 'p-limit';
import { Prisma } from '@prisma/client';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { createProvider } from '../search/providers';
import { QuotaExhaustedError } from '../search/http';
import { ApplicationFailure } from '@temporalio/common';
import type { SearchHit } from '../search/provider';
import type { StageRef } from '../../workflows/types';

const SEARCH_CONCURRENCY = 8;
/** Queries whose responses are written together: one transaction per chunk, not per query. */
const CHUNK = 32;

interface Outcome {
  conceptId: number;
  key: string;
  hits?: SearchHit[];
  total?: number;
  error?: string;
}

/**
 * Searches every query of the iteration. Responses are cached per (provider, normalised query), so a
 * repeated query — in this iteration, an earlier one or another run — costs nothing, and a retried
 * stage only searches what is still missing. A failed search is recorded on its query, not dropped.
 */
export async function searchQueries(ref: StageRef): Promise<{ queries: number; withResults: number; results: number }> {
  const run = await loadRun(ref.runId);
  return runStage('search', ref, async (ctx) => {
    const provider = createProvider(run.config);
    const queries = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
    const cachedTotals = new Map(
      (
        await db().searchResponse.findMany({
          where: { provider: provider.name, query: { in: [...new Set(queries.map((q) => q.searchKey))] } },
          select: { query: true, total: true },
        })
      ).map((r) => [r.query, r.total]),
    );
    const limit = pLimit(SEARCH_CONCURRENCY);
    let searched = 0;
    let cached = 0;
    for (let start = 0; start < queries.length; start += CHUNK) {
      const outcomes: Outcome[] = await Promise.all(
        queries.slice(start, start + CHUNK).map((query) =>
          limit(async (): Promise<Outcome> => {
            const key = query.searchKey;
            const known = cachedTotals.get(key);
            if (known !== undefined) return { conceptId: query.conceptId, key, total: known };
            try {
              const hits = await provider.search(key, run.config.resultsPerQuery, ctx.signal);
              return { conceptId: query.conceptId, key, hits, total: hits.length };
            } catch (error) {
              if (error instanceof QuotaExhaustedError) throw quotaFailure(error);
              ctx.log.warn({ query: query.text, err: (error as Error).message }, 'search failed');
              return { conceptId: query.conceptId, key, error: (error as Error).message };
            }
          }),
        ),
      );
      await recordOutcomes(ref, provider.name, outcomes, run.config.resultsPerQuery);
      for (const o of outcomes) if (o.hits) cachedTotals.set(o.key, o.hits.length);
      searched += outcomes.length;
      cached += outcomes.filter((o) => !o.hits && o.error === undefined).length;
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
    ctx.log.info({ queries: rows.length, withResults, results, cached, failed }, 'search finished');
    if (failed === rows.length && rows.length > 0) {
      throw new Error(
        `every search of iteration ${ref.iteration} failed (e.g. ${rows[0].error}); is the search engine up?`,
      );
    }
    return { queries: rows.length, withResults, results };
  });
}

/** Writes a chunk's new responses and every query's result count (or error) in one transaction. */
async function recordOutcomes(ref: StageRef, provider: string, outcomes: Outcome[], perQuery: number): Promise<void> {
  const fresh = outcomes.filter((o) => o.hits);
  const values = outcomes.map(
    (o) =>
      Prisma.sql`(${o.conceptId}::int, ${o.error === undefined ? Math.min(o.total ?? 0, perQuery) : 0}::int, ${o.error ?? null}::text)`,
  );
  await db().$transaction([
    db().searchResponse.createMany({
      data: fresh.map((o) => ({ provider, query: o.key, total: o.hits?.length ?? 0 })),
      skipDuplicates: true,
    }),
    db().searchResult.createMany({
      data: fresh.flatMap((o) =>
        (o.hits ?? []).map((h) => ({
          provider,
          query: o.key,
          rank: h.rank,
          url: h.url,
          pageUrl: h.pageUrl,
          title: h.title,
        })),
      ),
      skipDuplicates: true,
    }),
    db().$executeRaw`
      UPDATE "Query" AS q SET "results" = v.results, "error" = v.error
      FROM (VALUES ${Prisma.join(values)}) AS v("conceptId", results, error)
      WHERE q."runId" = ${ref.runId} AND q."iteration" = ${ref.iteration} AND q."conceptId" = v."conceptId"`,
  ]);
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
