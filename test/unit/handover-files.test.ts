import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkedManifest } from '../../activities/stages/train';
import {
  encodeFloat32File,
  HandoverFileError,
  hashFiles,
  readFloat32File,
  removeOtherVersions,
  writeFileAtomic,
  writeFloat32File,
} from '../../lib/files';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-handover-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const grid = (rows: number, dim: number, value?: number) =>
  Float32Array.from({ length: rows * dim }, (_, i) => value ?? i / 7);

test('a float32 file reads back with its shape; the data is 16-byte aligned', async () => {
  const file = path.join(dir, 'target-embeddings.f32');
  await writeFloat32File(file, grid(5, 3), { rows: 5, dim: 3 });
  const read = await readFloat32File(file, { rows: 5, dim: 3 });
  expect(read).toMatchObject({ rows: 5, dim: 3 });
  expect(Array.from(read.values)).toEqual(Array.from(grid(5, 3)));
  expect((fs.statSync(file).size - 5 * 3 * 4) % 16).toBe(0);
});

test('a torn, altered, headerless or misshapen file is refused with an error that names it', async () => {
  const file = path.join(dir, 'predicted.f32');
  const whole = encodeFloat32File(grid(10, 8), { rows: 10, dim: 8 });
  const refused = async (bytes: Buffer, message: string | RegExp, expect_ = {}) => {
    fs.writeFileSync(file, bytes);
    const error = await readFloat32File(file, expect_).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandoverFileError);
    expect((error as HandoverFileError).file).toBe(file);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(message);
  };
  // Cut short, as a crash or a full disk leaves a file written in place.
  await refused(whole.subarray(0, whole.length - 20), /is torn: its header announces 10 × 8 floats \(320 bytes\)/);
  await refused(whole.subarray(0, 30), /torn/);
  const altered = Buffer.from(whole);
  altered[altered.length - 1] ^= 0xff;
  await refused(altered, /does not match its checksum/);
  await refused(Buffer.from(grid(10, 8).buffer), /not a checked float32 file \(no header\)/);
  await refused(whole, /holds 10 × 8 floats, expected 12 × any/, { rows: 12 });
  fs.rmSync(file);
  await expect(readFloat32File(file)).rejects.toThrow(`${file} is missing`);
});

test('two writers at once never leave a mixed file: every read is one whole write', async () => {
  const file = path.join(dir, 'concurrent.f32');
  const shape = { rows: 256, dim: 256 };
  await writeFloat32File(file, grid(256, 256, 1), shape);
  let writing = true;
  const writer = async (value: number) => {
    for (let i = 0; i < 40; i++) await writeFloat32File(file, grid(256, 256, value), shape);
  };
  const reads: number[] = [];
  const reader = (async () => {
    while (writing) {
      const { values } = await readFloat32File(file, shape);
      expect(values.every((v) => v === values[0])).toBe(true);
      reads.push(values[0]);
    }
  })();
  await Promise.all([writer(1), writer(2)]);
  writing = false;
  await reader;
  expect(reads.length).toBeGreaterThan(0);
  expect(new Set(reads).size).toBeLessThanOrEqual(2);
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('the trainer package reads what Node writes and Node reads what it writes (one format)', async () => {
  const fromNode = path.join(dir, 'from-node.f32');
  const fromPython = path.join(dir, 'from-python.f32');
  await writeFloat32File(fromNode, grid(4, 3), { rows: 4, dim: 3 });
  const script = [
    'import sys, numpy as np',
    'from ietrainer import handover',
    'a = handover.read_f32(sys.argv[1], rows=4, dim=3)',
    'handover.write_f32(sys.argv[2], a * 2)',
  ].join('\n');
  execFileSync(pythonExecutable(), ['-c', script, fromNode, fromPython], {
    env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'trainer') },
  });
  const read = await readFloat32File(fromPython, { rows: 4, dim: 3 });
  expect(Array.from(read.values)).toEqual(Array.from(grid(4, 3).map((v) => v * 2)));
});

test('a training manifest is checked against the counts its writer recorded', async () => {
  const file = path.join(dir, 'train', 'manifest.json');
  const manifest = { target: ['a.jpg', 'b.jpg'], candidates: ['c.jpg'], replay: [] };
  const counts = { target: 2, candidates: 1, replay: 0 };
  await writeFileAtomic(file, JSON.stringify({ ...manifest, counts }));
  expect(checkedManifest(file, fs.readFileSync(file, 'utf8'))).toEqual(manifest);
  // Written before counts existed: still read.
  expect(checkedManifest(file, JSON.stringify(manifest))).toEqual(manifest);
  const text = JSON.stringify({ ...manifest, counts });
  expect(() => checkedManifest(file, text.slice(0, text.length - 25))).toThrow(
    new RegExp(`the training manifest ${file} is torn or altered .*remove the folder ${path.dirname(file)}`),
  );
  expect(() => checkedManifest(file, JSON.stringify({ ...manifest, replay: ['d.jpg'], counts }))).toThrow(
    /lists 2 target, 1 candidates, 1 replay but was written with/,
  );
});

test('removeOtherVersions removes older versions of a kept file, never the kept one, a temp file or another file', async () => {
  const cache = fs.mkdtempSync(path.join(dir, 'versions-'));
  const names = [
    'bundle-aaaa.js', // older version
    'bundle-bbbb.js', // kept
    'bundle-cccc.js.4242.a1b2c3d4.tmp', // a writer still at work
    'bundle-notes.txt', // not a version
    'other-aaaa.js', // another prefix
  ];
  for (const name of names) fs.writeFileSync(path.join(cache, name), '');
  await removeOtherVersions(cache, 'bundle-', /^[0-9a-f]{4}\.js$/, ['bundle-bbbb.js']);
  expect(fs.readdirSync(cache).sort()).toEqual(names.slice(1).sort());
  await expect(removeOtherVersions(path.join(cache, 'missing'), 'bundle-', /^x$/, [])).resolves.toBeUndefined();
});

test('hashFiles keys on each file name and content, so moving bytes between files or renaming one changes it', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'hash-'));
  const write = (files: Record<string, string>) => {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(root, name), content);
  };
  const key = async (files: string[]) => (await hashFiles(createHash('sha256'), root, files)).digest('hex');
  write({ a: 'ab', b: 'c' });
  const first = await key(['a', 'b']);
  expect(await key(['a', 'b'])).toBe(first);
  write({ a: 'a', b: 'bc' });
  expect(await key(['a', 'b'])).not.toBe(first);
  write({ a: 'ab', b: 'c', c: 'c' });
  expect(await key(['a', 'c'])).not.toBe(first);
  await expect(key(['a', 'missing'])).rejects.toThrow(/missing/);
});
