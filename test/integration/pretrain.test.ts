import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runTrainer, type TrainerEvent } from '../../activities/train/trainer-process';
import { ensureBaseEncoder, withBaseEncoder } from '../../cli/pretrain';
import { baseEncoderCheckpoint, resolveInitCheckpoint } from '../../lib/base-encoder';
import { prepareUnlabelledTinyTest } from '../../lib/targets';
import { ConfigError, parseRunConfig } from '../../lib/config';
import { PROJECT_ROOT, datasetsDir, pythonExecutable } from '../../lib/paths';
import { smallPetsTarget } from './harness';

jest.setTimeout(5 * 60_000);

const previousStateDir = process.env.IE_STATE_DIR;
let stateDir: string;

beforeAll(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-pretrain-'));
  process.env.IE_STATE_DIR = stateDir;
});

afterAll(() => {
  if (previousStateDir === undefined) delete process.env.IE_STATE_DIR;
  else process.env.IE_STATE_DIR = previousStateDir;
  fs.rmSync(stateDir, { recursive: true, force: true });
});

/** 30 unlabelled images in one flat folder (pretraining ignores any class structure). */
function unlabelledImages(): string {
  const dir = path.join(stateDir, 'unlabelled');
  fs.mkdirSync(dir, { recursive: true });
  const target = smallPetsTarget();
  for (const cls of fs.readdirSync(target).filter((d) => !d.startsWith('.'))) {
    for (const file of fs.readdirSync(path.join(target, cls))) {
      fs.copyFileSync(path.join(target, cls, file), path.join(dir, `${cls}-${file}`));
    }
  }
  return dir;
}

test("the default pretraining set is Tiny ImageNet's unlabelled test split, byte for byte", () => {
  const dir = prepareUnlabelledTinyTest();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.JPEG'));
  expect(files).toHaveLength(10_000);
  expect(files.every((f) => /^test_\d+\.JPEG$/.test(f))).toBe(true);
  // Spot-check one image against the dataset's own index: same bytes, nothing re-encoded.
  const tiny = path.join(datasetsDir(), 'tiny-imagenet-200-32px');
  const first = JSON.parse(
    gunzipSync(fs.readFileSync(path.join(tiny, 'test.jsonl.gz')))
      .toString('utf8')
      .split('\n')[0],
  ) as { path: string; offset: number; size: number };
  const tar = gunzipSync(fs.readFileSync(path.join(tiny, 'test.tar.gz')));
  const written = fs.readFileSync(path.join(dir, path.basename(first.path)));
  expect(written.equals(tar.subarray(first.offset, first.offset + first.size))).toBe(true);
  // A second call finds the folder complete and writes nothing.
  const mtime = fs.statSync(path.join(dir, path.basename(first.path))).mtimeMs;
  expect(prepareUnlabelledTinyTest()).toBe(dir);
  expect(fs.statSync(path.join(dir, path.basename(first.path))).mtimeMs).toBe(mtime);
});

test('a base encoder is built once per images and settings, and a run can start from it', async () => {
  const images = unlabelledImages();
  const out = path.join(stateDir, 'models', 'base.pt');
  const lines: string[] = [];
  const first = await ensureBaseEncoder({ images, steps: 4, batchSize: 8, out, print: (l) => lines.push(l) });
  expect(first.built).toBe(true);
  expect(fs.existsSync(out)).toBe(true);
  const provenance = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')) as Record<string, unknown>;
  expect(provenance).toMatchObject({ preset: 'cpu-small', steps: 4, batchSize: 8, imageCount: 30, images });
  expect(typeof provenance.finalLoss).toBe('number');
  expect(lines.some((l) => l.includes('30 images'))).toBe(true);

  // Same images and settings: nothing is trained again.
  const mtime = fs.statSync(out).mtimeMs;
  const again = await ensureBaseEncoder({ images, steps: 4, batchSize: 8, out });
  expect(again.built).toBe(false);
  expect(fs.statSync(out).mtimeMs).toBe(mtime);

  // Other images behind the same folder name: rebuilt.
  fs.rmSync(path.join(images, fs.readdirSync(images)[0]));
  const rebuilt = await ensureBaseEncoder({ images, steps: 4, batchSize: 8, out });
  expect(rebuilt.built).toBe(true);
  expect(rebuilt.provenance.imageCount).toBe(29);

  // The trainer takes it as train.initCheckpoint: our own layout, every tensor loaded, nothing skipped.
  const manifest = path.join(stateDir, 'manifest.json');
  const files = fs.readdirSync(images).map((f) => path.join(images, f));
  fs.writeFileSync(manifest, JSON.stringify({ target: files, candidates: [], replay: [] }));
  const initEvents: TrainerEvent[] = [];
  await runTrainer({
    python: pythonExecutable(),
    args: [
      '--manifest',
      manifest,
      '--out-dir',
      path.join(stateDir, 'run-init'),
      '--steps',
      '1',
      '--batch-size',
      '8',
      '--init-checkpoint',
      out,
    ],
    signal: new AbortController().signal,
    onEvent: (e) => void initEvents.push(e),
  });
  const initialised = initEvents.find((e) => e.event === 'initialised');
  expect(initialised).toMatchObject({ event: 'initialised', layout: 'ietrainer', skippedCount: 0 });
});

test('every door resolves the starting encoder the same way: base (built on first use by the demo), none, or a file', async () => {
  const target = smallPetsTarget();
  const lines: string[] = [];
  // A file that is not there fails before anything starts, and so does the run's own check on the worker.
  const given = parseRunConfig({ target, train: { initCheckpoint: '/models/mine.pt' } });
  await expect(withBaseEncoder(given, {}, (l) => lines.push(l))).rejects.toThrow(
    /train\.initCheckpoint: \/models\/mine\.pt is not a readable file/,
  );
  expect(() => resolveInitCheckpoint('/models/mine.pt', 'cpu-small')).toThrow(ConfigError);
  // --no-base: random weights, said in the config the run gets.
  const plain = parseRunConfig({ target });
  expect(plain.train.initCheckpoint).toBe('base');
  expect((await withBaseEncoder(plain, { base: false }, (l) => lines.push(l))).train.initCheckpoint).toBe('none');
  expect(resolveInitCheckpoint('none', 'cpu-small')).toBeNull();
  // gpu-r50 has no built-in base here: every door says how to build one or what to give instead.
  const gpu = parseRunConfig({ target, train: { preset: 'gpu-r50' } });
  await expect(withBaseEncoder(gpu, {}, (l) => lines.push(l))).rejects.toThrow(
    /no starting encoder for gpu-r50.*ie pretrain --preset gpu-r50.*'none' for random weights/,
  );
  expect(() => resolveInitCheckpoint('base', 'gpu-r50')).toThrow(/ie pretrain --preset gpu-r50/);
  expect(fs.existsSync(baseEncoderCheckpoint('cpu-small'))).toBe(false);
});

test('ie pretrain refuses bad numbers with exit code 2 and says which flag', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'pretrain', '--steps', '0'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, IE_STATE_DIR: stateDir },
    encoding: 'utf8',
  });
  expect(result.status).toBe(2);
  expect(result.stderr + result.stdout).toContain("--steps must be a positive integer, got '0'");
});
