import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FolderObjectStore,
  MissingObjectError,
  S3ObjectStore,
  fetchFile,
  imageKey,
  keyOfLocal,
  localFileOf,
  objectStoreFrom,
  publish,
  storedKeys,
  unpublish,
} from '../../lib/storage';
import { checkedKey } from '../../lib/storage/object-store';
import { UsageError } from '../../lib/errors';

const saved = { ...process.env };
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-storage-'));
  process.env.IE_STATE_DIR = path.join(root, 'host-a');
  delete process.env.IE_STORE_DIR;
  delete process.env.IE_OBJECT_STORE;
});

afterEach(() => {
  process.env = { ...saved };
  fs.rmSync(root, { recursive: true, force: true });
});

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};

test('keys map to this host’s files and back: images under IE_STORE_DIR, the rest under the state folder', () => {
  const sha = 'ab' + 'c'.repeat(62);
  expect(imageKey(sha)).toBe(`store/ab/${sha}.jpg`);
  expect(localFileOf(imageKey(sha))).toBe(path.join(root, 'host-a', 'store', 'ab', `${sha}.jpg`));
  process.env.IE_STORE_DIR = path.join(root, 'images');
  expect(localFileOf(imageKey(sha))).toBe(path.join(root, 'images', 'ab', `${sha}.jpg`));
  expect(keyOfLocal(path.join(root, 'images', 'ab', `${sha}.jpg`))).toBe(imageKey(sha));
  const encoder = path.join(root, 'host-a', 'runs', 'r', 'iter-001', 'encoder.onnx');
  expect(keyOfLocal(encoder)).toBe('runs/r/iter-001/encoder.onnx');
  expect(localFileOf('runs/r/iter-001/encoder.onnx')).toBe(encoder);
  // Rows written before keys name absolute paths: those are their own copies.
  expect(localFileOf('/old/store/ab/x.jpg')).toBe('/old/store/ab/x.jpg');
  expect(() => keyOfLocal('/elsewhere/file')).toThrow(/neither under the state folder/);
});

test('keys that could leave the store’s root are refused', () => {
  for (const bad of ['', '/abs', 'a/../b', 'a//b', './a', 'a/.'])
    expect(() => checkedKey(bad)).toThrow(/not an object key/);
  expect(checkedKey('runs/r/iter-000/x.f32')).toBe('runs/r/iter-000/x.f32');
});

test('IE_OBJECT_STORE: s3 buckets with their settings, folders, and clear errors for the rest', () => {
  const s3 = objectStoreFrom('s3://bucket/some/prefix', { IE_S3_ENDPOINT: 'http://seaweed:8333' });
  expect(s3).toBeInstanceOf(S3ObjectStore);
  expect(s3.description).toBe('s3://bucket/some/prefix/ at http://seaweed:8333');
  s3.close();
  const aws = objectStoreFrom('s3://bucket', {});
  expect(aws.description).toBe('s3://bucket/');
  aws.close();
  expect(objectStoreFrom('file:///mnt/shared', {})).toEqual(expect.objectContaining({ folder: '/mnt/shared' }));
  expect(objectStoreFrom('/mnt/shared', {})).toBeInstanceOf(FolderObjectStore);
  expect(() => objectStoreFrom('s3://', {})).toThrow(UsageError);
  expect(() => objectStoreFrom('s3://b', { IE_S3_ENDPOINT: 'seaweed:8333' })).toThrow(
    /IE_S3_ENDPOINT=seaweed:8333 is not a URL/,
  );
  expect(() => objectStoreFrom('s3://b', { IE_S3_PATH_STYLE: 'yes' })).toThrow(/write true or false/);
  expect(() => objectStoreFrom('relative/folder', {})).toThrow(/neither s3:\/\/<bucket>/);
});

test('without an object store the state folder is the store: publish costs nothing, a missing file is a clear error', async () => {
  const file = path.join(root, 'host-a', 'runs', 'r', 'iter-000', 'target-embeddings.f32');
  write(file, 'x');
  expect(await publish(file)).toBe('runs/r/iter-000/target-embeddings.f32');
  expect(await fetchFile('runs/r/iter-000/target-embeddings.f32')).toBe(file);
  expect(await storedKeys('runs/r/iter-000')).toEqual([]);
  const missing = fetchFile('runs/r/iter-001/encoder.onnx');
  await expect(missing).rejects.toThrow(MissingObjectError);
  await expect(missing).rejects.toThrow(
    /runs\/r\/iter-001\/encoder\.onnx is not in the object store \(the state folder/,
  );
});

test('a shared folder as the object store: one host publishes, another fetches, retention removes from both', async () => {
  process.env.IE_OBJECT_STORE = path.join(root, 'shared');
  const file = path.join(root, 'host-a', 'runs', 'r', 'iter-000', 'train', 'ckpt-000004.pt');
  write(file, 'weights');
  const key = await publish(file);
  const other = path.join(root, 'host-a', 'runs', 'r', 'iter-000', 'train', 'ckpt-000008.pt');
  write(other, 'later weights');
  await publish(other);
  expect(await storedKeys('runs/r/iter-000/train')).toEqual([key, 'runs/r/iter-000/train/ckpt-000008.pt']);

  process.env.IE_STATE_DIR = path.join(root, 'host-b');
  const fetched = await fetchFile(key);
  expect(fetched).toBe(path.join(root, 'host-b', 'runs', 'r', 'iter-000', 'train', 'ckpt-000004.pt'));
  expect(fs.readFileSync(fetched, 'utf8')).toBe('weights');
  // No temp file left beside it.
  expect(fs.readdirSync(path.dirname(fetched))).toEqual(['ckpt-000004.pt']);
  await expect(fetchFile('runs/r/iter-000/train/ckpt-000099.pt')).rejects.toThrow(
    new RegExp(`is not in the object store \\(the folder ${root}/shared\\)`),
  );

  // Host b removes the folder locally (retention); the store loses it too.
  fs.rmSync(path.join(root, 'host-b', 'runs', 'r', 'iter-000', 'train'), { recursive: true });
  await unpublish([path.join(root, 'host-b', 'runs', 'r', 'iter-000', 'train')]);
  expect(await storedKeys('runs/r/iter-000/train')).toEqual([]);
});
