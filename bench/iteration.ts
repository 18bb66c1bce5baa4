// Wall time per iteration, broken down by stage, and the share of Temporal + database overhead.
//
//   node --import tsx bench/iteration.ts [flags]    runs `ie demo` at its defaults (flags go to it)
//                                                           on a fresh database, so no search or download
//                                                           cache from earlier runs helps, then reports
//   node --import tsx bench/iteration.ts RUN_ID     reports on a finished run (DATABASE_URL)
//
// Overhead = time inside the iteration not spent computing in a stage: the gaps between stages (Temporal
// scheduling, workflow tasks, signals) plus the time stages spent waiting on PostgreSQL.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { db, closeDb } from '../lib/db';
import { PROJECT_ROOT } from '../lib/paths';
import { ensureDatabase, ensureLocalPostgres, localDatabaseUrl } from '../lib/services/postgres';
import { STAGES } from '../lib/contract';

const STAGE_ORDER = STAGES.filter((s) => s !== 'prepare');

async function report(runId: string): Promise<void> {
  const iterations = await db().iteration.findMany({
    where: { runId },
    orderBy: { index: 'asc' },
    include: { stages: true },
  });
  if (iterations.length === 0) throw new Error(`run ${runId} has no iterations in ${process.env.DATABASE_URL}`);
  const header = ['iter', ...STAGE_ORDER, 'wall', 'gaps', 'db', 'overhead'];
  console.log(header.map((h) => h.padStart(9)).join(''));
  let totalWall = 0;
  let totalOverhead = 0;
  for (const it of iterations) {
    const ms = Object.fromEntries(it.stages.map((s) => [s.stage, s]));
    const stageSum = it.stages.reduce((sum, s) => sum + s.ms, 0);
    const dbMs = it.stages.reduce((sum, s) => sum + s.dbMs, 0);
    const wall = it.wallMs ?? stageSum;
    const gaps = Math.max(0, wall - stageSum);
    const overhead = gaps + dbMs;
    totalWall += wall;
    totalOverhead += overhead;
    const cells = [
      String(it.index),
      ...STAGE_ORDER.map((s) => (ms[s] ? (ms[s].ms / 1000).toFixed(1) : '—')),
      (wall / 1000).toFixed(1),
      (gaps / 1000).toFixed(2),
      (dbMs / 1000).toFixed(2),
      `${((100 * overhead) / wall).toFixed(1)}%`,
    ];
    console.log(cells.map((c) => c.padStart(9)).join(''));
  }
  console.log(
    `\nmean iteration ${(totalWall / iterations.length / 1000).toFixed(1)} s; ` +
      `Temporal + database overhead ${((100 * totalOverhead) / totalWall).toFixed(2)}% of iteration time (seconds above)`,
  );
}

async function main(): Promise<void> {
  const given = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2] : undefined;
  let runId = given;
  if (!runId) {
    runId = `bench-demo-${Date.now().toString(36)}`;
    if (!process.env.DATABASE_URL) {
      await ensureLocalPostgres();
      process.env.DATABASE_URL = localDatabaseUrl(runId.replace(/-/g, '_'));
      await ensureDatabase(process.env.DATABASE_URL);
    }
    const demo = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'main.ts'), 'demo', '--id', runId, ...process.argv.slice(2)],
      { stdio: 'inherit', env: process.env },
    );
    if (demo.status !== 0) throw new Error(`demo failed with exit code ${demo.status}`);
  } else if (!process.env.DATABASE_URL) {
    await ensureLocalPostgres();
    process.env.DATABASE_URL = localDatabaseUrl('ie');
  }
  await report(runId);
}

main()
  .catch((error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => void closeDb());
