import pLimit from 'p-limit';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { createProvider } from '../search/providers';
import type { StageRef } from '../../workflows/types';

const SEARCH_CONCURRENCY = 8;

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
    const limit = pLimit(SEARCH_CONCURRENCY);
    let done = 0;
    let cached = 0;
    await Promise.all(
      queries.map((query) =>
        limit(async () => {
          const key = query.searchKey;
          let response = await db().searchResponse.findUnique({
            where: { provider_query: { provider: provider.name, query: key } },
          });
          if (response) cached++;
          else {
            try {
              const hits = await provider.search(key, run.config.resultsPerQuery, ctx.signal);
              await db().$transaction([
                db().searchResponse.upsert({
                  where: { provider_query: { provider: provider.name, query: key } },
                  create: { provider: provider.name, query: key, total: hits.length },
                  update: {},
                }),
                db().searchResult.createMany({
                  data: hits.map((h) => ({
                    provider: provider.name,
                    query: key,
                    rank: h.rank,
                    url: h.url,
                    pageUrl: h.pageUrl,
                    title: h.title,
                  })),
                  skipDuplicates: true,
                }),
              ]);
              response = { provider: provider.name, query: key, total: hits.length, fetchedAt: new Date() };
            } catch (error) {
              ctx.log.warn({ query: query.text, err: (error as Error).message }, 'search failed');
              await db().query.update({
                where: {
                  runId_iteration_conceptId: { runId: ref.runId, iteration: ref.iteration, conceptId: query.conceptId },
                },
                data: { error: (error as Error).message, results: 0 },
              });
              return;
            }
          }
          // The cache may hold more results than this run asks for.
          const results = Math.min(response.total, run.config.resultsPerQuery);
          await db().query.update({
            where: {
              runId_iteration_conceptId: { runId: ref.runId, iteration: ref.iteration, conceptId: query.conceptId },
            },
            data: { results, error: null },
          });
          done++;
          ctx.heartbeat({ searched: done });
        }),
      ),
    );
    const searched = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
    const results = searched.reduce((sum, q) => sum + (q.results ?? 0), 0);
    const withResults = searched.filter((q) => (q.results ?? 0) > 0).length;
    const failed = searched.filter((q) => q.error).length;
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { results },
    });
    ctx.log.info({ queries: searched.length, withResults, results, cached, failed }, 'search finished');
    if (failed === searched.length && searched.length > 0) {
      throw new Error(
        `every search of iteration ${ref.iteration} failed (e.g. ${searched[0].error}); is the search engine up?`,
      );
    }
    return { queries: searched.length, withResults, results };
  });
}
