import fs from 'node:fs/promises';
import path from 'node:path';
import { reportProgress } from '../heartbeat';
import { NO_INIT, resolveInitCheckpoint } from '../../lib/base-encoder';
import { parseRunConfig } from '../../lib/config';
import { db } from '../../lib/db';
import { logger } from '../../lib/logger';
import { ensureConceptTable } from '../concepts/concept-table';
import { ensureConceptEmbeddings } from '../concepts/embeddings-cache';
import { normaliseImage } from '../store/normalise';
import { imageAvailable, putImage, sha256 } from '../store/content-store';
import { checkTargetReadable, listTarget } from '../target';
import type { StageRef } from '../../lib/contract';

export interface PrepareRunInput {
  runId: string;
  config: unknown;
}

export interface PreparedRun {
  iterations: number;
  /** The target folder's name (the run's `IeTarget` search attribute). */
  target: string;
  mode: string;
  targetCount: number;
  hasLabels: boolean;
  labels: string[];
  downloadShards: number;
}

/**
 * Validates the config and the target (every image must decode) before any work starts, stores the
 * run, normalises the target into the content store and makes sure the concept vocabulary and its
 * embeddings exist. Idempotent: a second call finds everything in place.
 */
export async function prepareRun({ runId, config: rawConfig }: PrepareRunInput): Promise<PreparedRun> {
  const log = logger.child({ runId, stage: 'prepare' });
  const parsed = parseRunConfig(rawConfig);
  const listing = await listTarget(parsed.target);
  await checkTargetReadable(listing, parsed.download.maxPixels);
  log.info({ target: listing.dir, images: listing.files.length, labels: listing.labels.length }, 'target validated');
  // The starting encoder as a file (or none): the run stores what it starts from, whichever door started it.
  const initCheckpoint = resolveInitCheckpoint(parsed.train.initCheckpoint, parsed.train.preset) ?? NO_INIT;
  const config = { ...parsed, train: { ...parsed.train, initCheckpoint } };

  const runRow = {
    mode: config.mode,
    config: config as object,
    targetDir: listing.dir,
    targetCount: listing.files.length,
    hasLabels: listing.labels.length > 0,
    labelNames: listing.labels,
  };
  await db().run.upsert({
    where: { id: runId },
    create: { id: runId, workflowId: runId, status: 'running', ...runRow },
    update: runRow,
  });

  for (const [idx, file] of listing.files.entries()) {
    const bytes = await fs.readFile(file.path);
    const sha = sha256(bytes);
    // Stored again when the row is new or the store cannot give its file back (a local store wiped).
    const known = await db().image.findUnique({ where: { sha256: sha }, select: { sha256: true } });
    if (!known || !imageAvailable(sha)) {
      const image = await normaliseImage(bytes, config.download);
      const stored = await putImage(sha, image.jpeg);
      await db().image.upsert({
        where: { sha256: sha },
        create: {
          sha256: sha,
          path: stored,
          width: image.width,
          height: image.height,
          bytes: bytes.length,
          sourceUrl: `file://${file.path}`,
          phash: image.phash,
        },
        update: { path: stored },
      });
    }
    await db().targetImage.upsert({
      where: { runId_idx: { runId, idx } },
      create: { runId, idx, sha256: sha, source: file.path, label: file.label },
      update: { sha256: sha, source: file.path, label: file.label },
    });
    if (idx % 50 === 0) reportProgress({ ingested: idx });
  }
  log.info({ images: listing.files.length }, 'target ingested');

  await ensureConceptTable();
  reportProgress({ concepts: 'table' });
  const embeddings = await ensureConceptEmbeddings();
  log.info(
    { concepts: embeddings.count, dim: embeddings.dim, encoder: embeddings.encoder },
    'concept embeddings ready',
  );

  return {
    iterations: config.iterations,
    target: path.basename(listing.dir),
    mode: config.mode,
    targetCount: listing.files.length,
    hasLabels: runRow.hasLabels,
    labels: listing.labels,
    downloadShards: config.download.shards,
  };
}

export async function finishRun({
  runId,
  status,
}: {
  runId: string;
  status: 'completed' | 'stopped' | 'failed';
}): Promise<void> {
  await db().run.update({ where: { id: runId }, data: { status } });
  logger.info({ runId, status }, 'run finished');
}

/** Marks the iteration finished and returns each stage's wall time. */
export async function finishIteration({ runId, iteration, wallMs }: StageRef & { wallMs: number }): Promise<{
  stageMs: Record<string, number>;
}> {
  const stages = await db().stageTiming.findMany({ where: { runId, iteration } });
  await db().iteration.update({
    where: { runId_index: { runId, index: iteration } },
    data: { status: 'completed', stage: 'done', finishedAt: new Date(), wallMs },
  });
  logger.info({ runId, iteration, wallMs }, 'iteration finished');
  return { stageMs: Object.fromEntries(stages.map((s) => [s.stage, s.ms])) };
}
