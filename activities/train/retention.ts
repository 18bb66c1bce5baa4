/**
 * Disk retention of a run's training artefacts, so the disk a run uses for checkpoints and encoders stays
 * flat however many iterations it has: once an iteration has trained, its own folder keeps only its newest
 * checkpoint, and iterations older than the newest `keepIterations` lose their checkpoints, encoders and
 * manifest (what a resume or a retry needs is the current iteration's newest checkpoint and the previous
 * iteration's final one), and the files its stages handed each other. `keepEvery` > 0 keeps every N-th
 * iteration's folder whole as a milestone. Temp files a killed writer left behind are swept too. Per call: one listing of the run's folder
 * (one entry per iteration) and of the folders it prunes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { db } from '../../lib/db';
import { readdirOrEmpty } from '../../lib/files';
import { iterationFiles, iterationFolders } from '../iteration-files';

const CHECKPOINT = /^ckpt-(\d+)\.pt$/;
/** Temp files of lib/files.ts and the trainer's handover writer (`X.<pid>.<hex>.tmp`), and of its ONNX export (`X.tmp.<pid>`). */
const TEMP = /(\.\d+\.[0-9a-f]+\.tmp|\.tmp\.\d+)$/;
/** Files of an iteration's folder that only its own stages read: the encoder, embeddings, the probe's input. */
const HANDOVER = /^(encoder|target-embeddings|eval-features-|probe-spec)/;

export interface RetentionPolicy {
  /** Finished iterations (the newest ones, this one included) whose final checkpoint and encoder stay. */
  keepIterations: number;
  /** Also keep every N-th iteration's final checkpoint and encoder (0: none). */
  keepEvery: number;
  /** Temp files older than this are a killed writer's: removed. */
  tempAgeMs?: number;
}

async function remove(file: string, removed: string[]): Promise<void> {
  try {
    await fs.rm(file, { force: true, recursive: true });
    removed.push(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Removes temp files older than `ageMs` under `dir` (not recursive). */
export async function sweepTempFiles(dir: string, ageMs: number, removed: string[] = []): Promise<string[]> {
  const now = Date.now();
  for (const name of await readdirOrEmpty(dir)) {
    if (!TEMP.test(name)) continue;
    const file = path.join(dir, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat && now - stat.mtimeMs > ageMs) await remove(file, removed);
  }
  return removed;
}

export interface Retained {
  removed: string[];
  /** Earlier iterations whose checkpoints and encoders were removed now. */
  pruned: number[];
  /** The step of the iteration's checkpoint that stays (null: none found). */
  keptStep: number | null;
}

/** Applies the policy to the files after `iteration` has trained. */
export async function applyRetention(runId: string, iteration: number, policy: RetentionPolicy): Promise<Retained> {
  const removed: string[] = [];
  const tempAgeMs = policy.tempAgeMs ?? 10 * 60_000;
  // This iteration: its newest checkpoint is all a resume or the next iteration needs.
  const own = iterationFiles({ runId, iteration });
  const checkpoints = (await readdirOrEmpty(own.trainDir))
    .map((name) => ({ name, step: Number(CHECKPOINT.exec(name)?.[1] ?? NaN) }))
    .filter((c) => Number.isFinite(c.step))
    .sort((a, b) => a.step - b.step);
  for (const c of checkpoints.slice(0, -1)) await remove(path.join(own.trainDir, c.name), removed);
  await sweepTempFiles(own.trainDir, tempAgeMs, removed);
  await sweepTempFiles(own.dir, tempAgeMs, removed);

  // Iterations that fell out of the window, unless kept as milestones.
  const pruned: number[] = [];
  for (const index of await iterationFolders(runId)) {
    if (index > iteration - policy.keepIterations) continue;
    if (policy.keepEvery > 0 && index % policy.keepEvery === 0) continue;
    const files = iterationFiles({ runId, iteration: index });
    const before = removed.length;
    await remove(files.trainDir, removed);
    // The files its stages handed each other (target embeddings, the GP's input and output, the probe's
    // features) were read within that iteration; a few MB each at gpu-r50's width, so they go too.
    await remove(files.gpDir, removed);
    for (const name of await readdirOrEmpty(files.dir))
      if (HANDOVER.test(name)) await remove(path.join(files.dir, name), removed);
    if (removed.length > before) pruned.push(index);
  }
  return { removed, pruned, keptStep: checkpoints[checkpoints.length - 1]?.step ?? null };
}

/** Makes the database say what the files now hold: no rows point at removed checkpoints or encoders. */
export async function forgetRemoved(runId: string, iteration: number, retained: Retained): Promise<void> {
  if (retained.pruned.length) {
    await db().checkpoint.deleteMany({ where: { runId, iteration: { in: retained.pruned } } });
    await db().iteration.updateMany({
      where: { runId, index: { in: retained.pruned } },
      data: { checkpoint: null, onnxPath: null },
    });
  }
  if (retained.keptStep !== null)
    await db().checkpoint.deleteMany({ where: { runId, iteration, step: { lt: retained.keptStep } } });
}
