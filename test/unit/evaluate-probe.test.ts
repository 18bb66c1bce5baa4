import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { linearProbe } from '../../activities/evaluate/probe';
import { encodeFloat32File } from '../../lib/files';
import { pythonExecutable } from '../../lib/paths';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-probe-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** 40 rows of 4 features, two classes told apart by the first feature, every fourth row a test row. */
function input(signal?: AbortSignal) {
  const labels = Array.from({ length: 40 }, (_, i) => i % 2);
  const features = new Float32Array(40 * 4).map((_, j) =>
    j % 4 === 0 ? labels[j >> 2] * 2 - 1 : ((j * 37) % 11) / 11,
  );
  const file = path.join(dir, 'features.f32');
  fs.writeFileSync(file, encodeFloat32File(features, { rows: 40, dim: 4 }));
  const test = labels.map((_, i) => i % 4 < 1);
  return { python: pythonExecutable(), workDir: dir, labels, test, features: { current: file }, signal };
}

test('the linear probe reports one result per feature file', async () => {
  const results = await linearProbe(input());
  expect(results.current).toMatchObject({ accuracy: 1, dim: 4, train: 30, test: 10 });
});

test('the linear probe says why it failed, and that it was cancelled', async () => {
  await expect(linearProbe({ ...input(), test: input().test.map(() => false) })).rejects.toThrow(
    /linear probe failed: error: the test split is empty/,
  );
  const controller = new AbortController();
  controller.abort();
  await expect(linearProbe(input(controller.signal))).rejects.toThrow('linear probe cancelled');
  await expect(linearProbe({ ...input(), python: path.join(dir, 'none') })).rejects.toThrow(
    /could not start .* for the linear probe/,
  );
});

test('a torn feature file is refused by name, not probed', async () => {
  const torn = input();
  const bytes = fs.readFileSync(torn.features.current);
  fs.writeFileSync(torn.features.current, bytes.subarray(0, bytes.length - 64));
  await expect(linearProbe(torn)).rejects.toThrow(`${torn.features.current} is torn`);
});
