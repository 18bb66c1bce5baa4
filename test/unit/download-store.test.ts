import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { putImage, sha256, storedImage, storePath } from '../../activities/store/content-store';
import { imageKey, localFileOf } from '../../lib/storage';

let root: string;
const previous = process.env.IE_STORE_DIR;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ie-store-test-'));
  process.env.IE_STORE_DIR = root;
});

afterAll(async () => {
  if (previous === undefined) delete process.env.IE_STORE_DIR;
  else process.env.IE_STORE_DIR = previous;
  await rm(root, { recursive: true, force: true });
});

const jpeg = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#3a7' } })
    .jpeg()
    .toBuffer();

test('putImage stores the bytes under their SHA-256 once, leaving no temporary file, and returns its key', async () => {
  const bytes = await jpeg(40, 30);
  const sha = sha256(bytes);
  expect(await storedImage(sha)).toBeUndefined();
  const key = await putImage(sha, bytes);
  expect(key).toBe(`store/${sha.slice(0, 2)}/${sha}.jpg`);
  expect(key).toBe(imageKey(sha));
  const file = localFileOf(key);
  expect(file).toBe(storePath(sha));
  expect(file.startsWith(path.join(root, sha.slice(0, 2)))).toBe(true);
  expect(await readFile(file)).toEqual(bytes);
  // A second put of the same content keeps the first file.
  expect(await putImage(sha, Buffer.from('other bytes'))).toBe(key);
  expect(await readFile(file)).toEqual(bytes);
  expect(await readdir(path.dirname(file))).toEqual([path.basename(file)]);
  expect(await storedImage(sha)).toEqual({ path: file, width: 40, height: 30 });
});

test('a shard directory removed under a running process is made again', async () => {
  const first = await jpeg(20, 20);
  const sha = sha256(first);
  const file = localFileOf(await putImage(sha, first));
  await rm(path.dirname(file), { recursive: true, force: true });
  // Other bytes in the same shard (same first two hex digits) after the directory went away.
  let other = first;
  let otherSha = sha;
  for (let i = 0; otherSha === sha || otherSha.slice(0, 2) !== sha.slice(0, 2); i++) {
    other = Buffer.concat([first, Buffer.from(String(i))]);
    otherSha = sha256(other);
  }
  expect(await readFile(localFileOf(await putImage(otherSha, other)))).toEqual(other);
});
