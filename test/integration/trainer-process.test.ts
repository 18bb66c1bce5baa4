import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonExecutable } from '../../lib/paths';
import { runTrainer, type TrainerEvent } from '../../activities/train/trainer-process';
import { smallPetsTarget } from './harness';
import { liveProcessesMatching } from '../processes';

jest.setTimeout(5 * 60_000);

function manifest(dir: string): string {
  const target = smallPetsTarget();
  const classes = fs.readdirSync(target, { withFileTypes: true }).filter((e) => e.isDirectory());
  const images = classes
    .map((e) => e.name)
    .flatMap((cls) =>
      fs
        .readdirSync(path.join(target, cls))
        .filter((f) => f.endsWith('.JPEG'))
        .map((f) => path.join(target, cls, f)),
    );
  const file = path.join(dir, 'manifest.json');
  fs.writeFileSync(file, JSON.stringify({ target: images, candidates: [], replay: [] }));
  return file;
}

test('cancelling the training activity stops the Python process', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-trainer-'));
  const controller = new AbortController();
  const events: TrainerEvent[] = [];
  const running = runTrainer({
    python: pythonExecutable(),
    args: [
      '--manifest',
      manifest(dir),
      '--out-dir',
      dir,
      '--steps',
      '10000',
      '--batch-size',
      '16',
      '--checkpoint-every',
      '1000',
    ],
    signal: controller.signal,
    onEvent: (event) => {
      events.push(event);
      if (event.event === 'step') controller.abort();
    },
  });
  await expect(running).rejects.toThrow('training cancelled');
  // The trainer's command line names its checkpoint folder.
  expect(liveProcessesMatching(dir)).toEqual([]);
  expect(events.some((e) => e.event === 'step')).toBe(true);
  expect(events.some((e) => e.event === 'done')).toBe(false);
});

test('a trainer failure surfaces its message', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-trainer-'));
  const bad = path.join(dir, 'manifest.json');
  fs.writeFileSync(bad, JSON.stringify({ target: [], candidates: [], replay: [] }));
  await expect(
    runTrainer({
      python: pythonExecutable(),
      args: ['--manifest', bad, '--out-dir', dir, '--steps', '2'],
      signal: new AbortController().signal,
      onEvent: () => undefined,
    }),
  ).rejects.toThrow(/trainer exited with code 2:[\s\S]*target/);
});
