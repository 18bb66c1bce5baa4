import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { db, closeDb } from '../../lib/db';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { loadManifest } from '../../engine/corpus';
import type { RunningEngine } from '../../engine/server';
import { runBenchmark, type BenchmarkOptions } from '../../bench/learning/run';
import { CorpusLabels, corpusKeyOfUrl } from '../../bench/learning/relevance';
import { collectArmFigures } from '../../bench/learning/figures';
import type { BenchmarkSummary } from '../../bench/learning/report';
import { createTestDatabase, smallPetsTarget, temporalClient, testEngine, uniqueId, withWorkers } from './harness';

jest.setTimeout(20 * 60_000);

let engine: RunningEngine;

beforeAll(async () => {
  await createTestDatabase('benchmark');
  engine = await testEngine();
});

afterAll(async () => {
  await engine?.close();
  await closeDb();
});

/** Options of a benchmark of two tiny arms on the small pets target, from random weights. */
async function tinyBenchmark(
  idPrefix: string,
  budget: { iterations: number; seed: number },
): Promise<BenchmarkOptions> {
  return {
    target: smallPetsTarget(),
    budget: { ...budget, queriesPerIteration: 24, resultsPerQuery: 10, trainSteps: 8 },
    config: { train: { checkpointEvery: 4, batchSize: 32, initCheckpoint: 'none' } },
    manifestPath: await ensureDefaultCorpus(),
    engineUrl: engine.url,
    outDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ie-benchmark-')),
    idPrefix,
  };
}

test('a benchmark of two tiny arms writes the table, the JSON summary and the HTML report with both arms', async () => {
  const { client, connection } = await temporalClient();
  const idPrefix = uniqueId('it-bench');
  const options = await tinyBenchmark(idPrefix, { iterations: 2, seed: 3 });
  const { manifestPath } = options;
  const lines: string[] = [];
  const result = await withWorkers(() => runBenchmark(client, { ...options, print: (line) => lines.push(line) }));
  await connection.close();

  // The files exist and the JSON summary holds both arms' per-iteration figures.
  for (const file of [result.files.csv, result.files.json, result.files.html]) expect(fs.existsSync(file)).toBe(true);
  const summary = JSON.parse(fs.readFileSync(result.files.json, 'utf8')) as BenchmarkSummary;
  expect(summary.budget).toEqual({
    iterations: 2,
    queriesPerIteration: 24,
    resultsPerQuery: 10,
    trainSteps: 8,
    seed: 3,
    startingEncoder: null,
  });
  expect(Object.values(summary.targetClasses).sort()).toEqual(['n02085620', 'n02094433', 'n02099601']);
  for (const arm of ['explore', 'random'] as const) {
    const figures = summary.arms[arm];
    expect(figures.runId).toBe(`${idPrefix}-${arm}`);
    expect(figures.mode).toBe(arm);
    expect(figures.status).toBe('completed');
    expect(figures.iterations.map((i) => i.iteration)).toEqual([0, 1]);
    for (const it of figures.iterations) {
      expect(it.queries).toBe(24);
      expect(it.relevant).toBeLessThanOrEqual(it.downloaded);
      expect(it.unlabelled).toBe(0); // every download came from the labelled corpus
      expect(it.knnAccuracy).not.toBeNull();
      // The best-scoring concepts are concepts this iteration queried.
      const asked = await db().query.findMany({
        where: { runId: figures.runId, iteration: it.iteration },
        select: { text: true },
      });
      expect(it.bestConcepts.length).toBeLessThanOrEqual(5);
      for (const concept of it.bestConcepts) expect(asked.map((q) => q.text)).toContain(concept);
      // Diagnostics: shares and correlations in range; the random arm's distribution has no most likely concepts.
      if (it.rewardAuc !== null) expect(it.rewardAuc).toBeGreaterThanOrEqual(0);
      if (it.rewardAuc !== null) expect(it.rewardAuc).toBeLessThanOrEqual(1);
      expect(it.nearQueries).not.toBeNull();
      if (arm === 'random' || it.iteration === 0) expect(it.gpRankCorrelation).toBeNull();
      if (arm === 'random') expect(it.mostLikely).toEqual([]);
    }
    expect(figures.iterations.some((i) => i.downloaded > 0)).toBe(true);
  }

  // Precision agrees with an independent count: each candidate image's source URL looked up in the manifest.
  const classOf = new Map((await loadManifest(manifestPath)).map((r) => [r.key, r.meta?.wnid]));
  const wanted = new Set(Object.values(summary.targetClasses));
  for (const arm of ['explore', 'random'] as const) {
    for (const it of summary.arms[arm].iterations) {
      const shas = await db().candidate.findMany({
        where: { runId: summary.arms[arm].runId, iteration: it.iteration },
        distinct: ['sha256'],
        select: { sha256: true },
      });
      const images = await db().image.findMany({ where: { sha256: { in: shas.map((s) => s.sha256) } } });
      const relevant = images.filter((i) => wanted.has(classOf.get(corpusKeyOfUrl(i.sourceUrl) ?? '') ?? '')).length;
      expect(it.downloaded).toBe(shas.length);
      expect(it.relevant).toBe(relevant);
    }
  }

  // The CSV has a row per arm and iteration; the HTML embeds both charts and names both runs.
  const rows = fs.readFileSync(result.files.csv, 'utf8').trimEnd().split('\r\n');
  expect(rows).toHaveLength(5);
  expect(rows.slice(1).map((r) => r.split(',').slice(0, 3).join(','))).toEqual([
    `explore,${idPrefix}-explore,0`,
    `explore,${idPrefix}-explore,1`,
    `random,${idPrefix}-random,0`,
    `random,${idPrefix}-random,1`,
  ]);
  const html = fs.readFileSync(result.files.html, 'utf8');
  expect(html.match(/<svg/g)).toHaveLength(2);
  expect(html).toContain(`${idPrefix}-explore`);
  expect(html).toContain(`${idPrefix}-random`);
  expect(result.printed).toMatch(/precision explore\/random/);
  expect(lines.some((l) => l.startsWith('[explore] iteration 1'))).toBe(true);
  expect(lines.some((l) => l.startsWith('[random] iteration 1'))).toBe(true);
});

test('an interrupted benchmark terminates both arms and still writes the report of what they finished', async () => {
  const { client, connection } = await temporalClient();
  const idPrefix = uniqueId('it-bench-stop');
  const interrupt = new AbortController();
  const lines: string[] = [];
  const result = await withWorkers(async () =>
    runBenchmark(client, {
      ...(await tinyBenchmark(idPrefix, { iterations: 3, seed: 4 })),
      signal: interrupt.signal,
      print: (line) => {
        lines.push(line);
        // Both arms are started right after this line: interrupt once they are under way.
        if (line.startsWith('benchmark on')) setTimeout(() => interrupt.abort(), 3000);
      },
    }),
  );
  const statuses = await Promise.all(
    ['explore', 'random'].map(async (arm) => (await client.workflow.getHandle(`${idPrefix}-${arm}`).describe()).status),
  );
  await connection.close();
  expect(statuses.map((s) => s.name)).toEqual(['TERMINATED', 'TERMINATED']);
  expect(lines).toContain('interrupted: terminating both arms');
  for (const arm of ['explore', 'random'] as const) expect(result.summary.arms[arm].status).not.toBe('completed');
  expect(fs.existsSync(result.files.json)).toBe(true);
});

test('an arm whose run was ended before its first stage recorded it is reported as not started', async () => {
  const labels = await CorpusLabels.load(await ensureDefaultCorpus());
  const runId = uniqueId('it-bench-never');
  expect(await collectArmFigures(runId, 'random', labels, new Set(['n02085620']))).toEqual({
    runId,
    mode: 'random',
    status: 'not started',
    iterations: [],
  });
});
