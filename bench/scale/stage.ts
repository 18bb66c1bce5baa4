// One stage of a seeded run (bench/scale.ts), in a process of its own so that its peak RSS is its own:
//
//   node --import tsx bench/scale/stage.ts STAGE RUN ITERATION [--encoder FILE] [--out DIR]
//
// STAGE: download (the post-processing: every URL of the iteration is already fetched), train, score
// (with --encoder: that ONNX file stands in for the iteration's trained encoder), update, evaluate, report.
// Prints one line `BENCH {"stage", "seconds", "cpuSeconds", "dbSeconds", "nodePeakRssMb", ...}` on stdout: the
// stage's wall and CPU time in this process (the stage function alone, not the process start-up), the part of
// it spent waiting on PostgreSQL (whose CPU is the server's, not this process's) and this process's peak RSS.
// Python processes the stage starts report their own through IE_PYTHON (bench/python_rss.py).
import fs from 'node:fs/promises';
import { db, closeDb } from '../../lib/db';
import { downloadCandidates } from '../../activities/stages/download';
import { trainEncoder } from '../../activities/stages/train';
import { scoreCandidates } from '../../activities/stages/score';
import { updateDistribution } from '../../activities/stages/update';
import { evaluateEncoder } from '../../activities/stages/evaluate';
import { iterationFiles } from '../../activities/iteration-files';
import { writeReport } from '../../report';
import type { StageRef } from '../../lib/contract';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const [stage, runId, index] = process.argv.slice(2);
  const ref: StageRef = { runId, iteration: Number(index) };
  let run: () => Promise<unknown>;
  switch (stage) {
    case 'download':
      run = () => downloadCandidates(ref);
      break;
    case 'train': {
      // A fresh start each time: no checkpoint to resume from and the manifest built again.
      await fs.rm(iterationFiles(ref).trainDir, { recursive: true, force: true });
      await db().checkpoint.deleteMany({ where: { runId, iteration: ref.iteration } });
      run = () => trainEncoder(ref);
      break;
    }
    case 'score': {
      const encoder = option('--encoder');
      if (encoder)
        await db().iteration.update({
          where: { runId_index: { runId, index: ref.iteration } },
          data: { onnxPath: encoder },
        });
      run = () => scoreCandidates(ref);
      break;
    }
    case 'update':
      run = () => updateDistribution(ref);
      break;
    case 'evaluate':
      run = () => evaluateEncoder(ref);
      break;
    case 'report': {
      const out = option('--out');
      if (!out) throw new Error('report needs --out DIR');
      run = () => writeReport(runId, out);
      break;
    }
    default:
      throw new Error(`unknown stage '${stage}'`);
  }
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  // The part of the stage with a database call in flight, as the stage recorded it (report has no row).
  const timing = await db().stageTiming.findUnique({
    where: { runId_iteration_stage: { runId, iteration: ref.iteration, stage } },
  });
  const dbSeconds = stage === 'report' ? null : (timing?.dbMs ?? 0) / 1000;
  const summary =
    stage === 'update'
      ? { observed: (result as { observed: number }).observed }
      : stage === 'report'
        ? { pngs: (result as { pngs: string[] }).pngs.length }
        : result;
  process.stdout.write(
    `BENCH ${JSON.stringify({ stage, seconds, cpuSeconds, dbSeconds, nodePeakRssMb: process.resourceUsage().maxRSS / 1024, result: summary })}\n`,
  );
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => void closeDb());
