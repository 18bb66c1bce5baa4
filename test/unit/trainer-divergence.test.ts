import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import { divergenceMessage } from '../../activities/stages/train';
import { runTrainer, TRAINING_DIVERGED } from '../../activities/train/trainer-process';
import { pythonExecutable } from '../../lib/paths';

jest.setTimeout(3 * 60_000);

let dir: string;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function manifest(): Promise<string> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-diverge-'));
  const images = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const file = path.join(dir, `img-${i}.jpg`);
      const colour = { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 53) % 256 };
      await sharp({ create: { width: 40, height: 40, channels: 3, background: colour } })
        .jpeg()
        .toFile(file);
      return file;
    }),
  );
  const file = path.join(dir, 'manifest.json');
  fs.writeFileSync(file, JSON.stringify({ target: images, candidates: [], replay: [] }));
  return file;
}

test('a diverging loss stops the stage at once: a non-retryable failure saying what diverged and what to change', async () => {
  const file = await manifest();
  const out = path.join(dir, 'train');
  const ref = { runId: 'diverging', iteration: 2 };
  const failure = await runTrainer({
    python: pythonExecutable(),
    // An absurd learning rate: the loss is NaN within a few steps.
    args: [
      '--manifest',
      file,
      '--out-dir',
      out,
      '--steps',
      '40',
      '--batch-size',
      '8',
      '--checkpoint-every',
      '1',
      '--lr',
      '1e30',
    ],
    signal: new AbortController().signal,
    onEvent: () => undefined,
    describeDivergence: (d) => divergenceMessage(ref, d, 1e30),
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(ApplicationFailure);
  const { type, nonRetryable, message } = failure as ApplicationFailure;
  expect(type).toBe(TRAINING_DIVERGED);
  expect(nonRetryable).toBe(true);
  expect(message).toMatch(/^training diverged in iteration 2: the (loss became (nan|inf)|weights stopped) at step \d+/);
  expect(message).toContain('train.lr 1e+30, batch 8');
  expect(message).toContain('lower train.lr (e.g. 1e+29) or a smaller train.batchSize');
  expect(message).toMatch(/train\.initCheckpoint \S+ckpt-\d{6}\.pt \(the newest checkpoint/);
});
