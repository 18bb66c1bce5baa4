/**
 * The engine's search index at start: building it against loading the copy the engine keeps
 * (engine/index-cache.ts), over the default corpus (or --manifest). Prints each step's wall and CPU time and
 * the kept copy's size, and checks that the loaded index ranks every probe query exactly as the built one
 * (whole rankings).
 *
 *   node --import tsx bench/engine-index.ts [--manifest FILE] [--repeat N]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDefaultCorpus } from '../engine/build-corpus';
import { loadManifest } from '../engine/corpus';
import { openSearchIndex } from '../engine/index-cache';
import type { SearchIndex } from '../engine/search-index';

interface Timing {
  wallS: number;
  cpuS: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, Timing]> {
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return [value, { wallS: Number(process.hrtime.bigint() - wall) / 1e9, cpuS: (used.user + used.system) / 1e6 }];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { manifest: { type: 'string' }, repeat: { type: 'string', default: '3' } } });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1)
    throw new Error(`--repeat must be a whole number ≥ 1, got ${values.repeat}`);
  const manifestPath = values.manifest ?? (await ensureDefaultCorpus());
  const [records, load] = await timed(() => loadManifest(manifestPath));
  // Probe queries: words of the captions themselves, spread over the corpus.
  const probes = records
    .filter((_, i) => i % Math.max(1, Math.floor(records.length / 200)) === 0)
    .map((r) => r.caption.split(' ').slice(0, 3).join(' '));

  const builds: Timing[] = [];
  const loads: Timing[] = [];
  let keptBytes = 0;
  for (let round = 0; round < repeat; round++) {
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'ie-bench-index-'));
    try {
      const [built, buildTime] = await timed(() => openSearchIndex(manifestPath, records, cacheDir));
      const [kept, loadTime] = await timed(() => openSearchIndex(manifestPath, records, cacheDir));
      if (built.loaded || !kept.loaded) throw new Error('expected a build, then a load of the kept copy');
      const differing = probes.filter((q) => !sameRanking(built.index, kept.index, q));
      if (differing.length > 0) throw new Error(`the loaded index ranks ${differing.length} probe queries differently`);
      builds.push(buildTime);
      loads.push(loadTime);
      keptBytes = statSync(path.join(cacheDir, readdirSync(cacheDir)[0])).size;
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const row = (name: string, ts: Timing[]): string =>
    `| ${name} | ${median(ts.map((t) => t.wallS)).toFixed(2)} s | ${median(ts.map((t) => t.cpuS)).toFixed(2)} s |`;
  console.log(`manifest ${manifestPath}: ${records.length} images, read in ${load.wallS.toFixed(2)} s`);
  console.log(
    `median of ${repeat}; ${probes.length} probe queries rank alike; kept copy ${(keptBytes / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log('| engine start, index step | wall | CPU |');
  console.log('| --- | --- | --- |');
  console.log(row('build (first start: hash, build, write the copy)', builds));
  console.log(row('load the kept copy (later starts: hash, read, load)', loads));
  const ratio = median(builds.map((t) => t.cpuS)) / median(loads.map((t) => t.cpuS));
  console.log(`CPU ratio build / load: ${ratio.toFixed(1)}×`);
}

function sameRanking(a: SearchIndex, b: SearchIndex, query: string): boolean {
  const keys = (index: SearchIndex): string =>
    index
      .search(query, 0, index.size)
      .records.map((r) => r.key)
      .join('\n');
  return keys(a) === keys(b);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
