import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyRetention } from '../../activities/train/retention';
import { iterationFiles } from '../../activities/iteration-files';

let state: string;
const previous = process.env.IE_STATE_DIR;
beforeEach(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-retention-'));
  process.env.IE_STATE_DIR = state;
});
afterEach(() => {
  if (previous === undefined) delete process.env.IE_STATE_DIR;
  else process.env.IE_STATE_DIR = previous;
  fs.rmSync(state, { recursive: true, force: true });
});

/** An iteration's folder as the train stage leaves it: three checkpoints, an encoder, a manifest. */
function trainedIteration(runId: string, iteration: number): void {
  const files = iterationFiles({ runId, iteration });
  fs.mkdirSync(files.trainDir, { recursive: true });
  for (const step of [20, 40, 50]) fs.writeFileSync(path.join(files.trainDir, `ckpt-0000${step}.pt`), 'x'.repeat(1000));
  fs.writeFileSync(files.manifest, '{}');
  fs.writeFileSync(files.encoder, 'onnx');
  fs.writeFileSync(`${files.encoder}.json`, '{}');
  fs.writeFileSync(files.targetEmbeddings, 'emb');
  fs.writeFileSync(files.probeFeatures('current'), 'features');
  fs.mkdirSync(files.gpDir, { recursive: true });
  fs.writeFileSync(path.join(files.gpDir, 'predicted.f32'), 'p'.repeat(500));
}

function allBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  return total;
}

/** Bytes of checkpoints and encoders under `dir`: what grows by ~0.5 GB an iteration for gpu-r50. */
function checkpointBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile() && /^(ckpt-|encoder)/.test(entry.name))
      total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  return total;
}

test('checkpoint disk stays flat: the newest iterations keep their final checkpoint, older ones keep nothing large', async () => {
  const sizes: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < 8; i++) {
    trainedIteration('r', i);
    const retained = await applyRetention('r', i, { keepIterations: 2, keepEvery: 0 });
    expect(retained.keptStep).toBe(50);
    sizes.push(checkpointBytes(path.join(state, 'runs', 'r')));
    totals.push(allBytes(path.join(state, 'runs', 'r')));
  }
  // From the third iteration on, the run's folder holds the same bytes after every iteration.
  expect(new Set(sizes.slice(2)).size).toBe(1);
  const kept = (i: number) => fs.readdirSync(iterationFiles({ runId: 'r', iteration: i }).trainDir).sort();
  expect(kept(7)).toEqual(['ckpt-000050.pt', 'manifest.json']);
  expect(kept(6)).toEqual(['ckpt-000050.pt', 'manifest.json']);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 5 }).trainDir)).toBe(false);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 5 }).encoder)).toBe(false);
  // What the stages of an iteration handed each other goes with it; the window keeps its own.
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 0 }).targetEmbeddings)).toBe(false);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 0 }).gpDir)).toBe(false);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 0 }).probeFeatures('current'))).toBe(false);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 6 }).targetEmbeddings)).toBe(true);
  expect(fs.existsSync(iterationFiles({ runId: 'r', iteration: 6 }).gpDir)).toBe(true);
  // The run's folder holds the same bytes of everything after every iteration from the third on.
  expect(new Set(totals.slice(2)).size).toBe(1);
});

test('milestones are kept, and temp files a killed writer left are swept once old', async () => {
  for (let i = 0; i < 5; i++) trainedIteration('m', i);
  const files = iterationFiles({ runId: 'm', iteration: 4 });
  const stale = path.join(files.trainDir, 'ckpt-000060.pt.tmp.4242');
  const fresh = path.join(files.dir, 'target-embeddings.f32.4242.0a1b2c3d.tmp');
  fs.writeFileSync(stale, 'partial');
  fs.writeFileSync(fresh, 'partial');
  const old = new Date(Date.now() - 3_600_000);
  fs.utimesSync(stale, old, old);
  const retained = await applyRetention('m', 4, { keepIterations: 1, keepEvery: 2 });
  expect(retained.pruned.sort()).toEqual([1, 3]);
  expect(fs.existsSync(iterationFiles({ runId: 'm', iteration: 2 }).encoder)).toBe(true);
  expect(fs.existsSync(iterationFiles({ runId: 'm', iteration: 3 }).encoder)).toBe(false);
  expect(fs.existsSync(stale)).toBe(false);
  // A temp file of a writer that may still be running stays.
  expect(fs.existsSync(fresh)).toBe(true);
});
