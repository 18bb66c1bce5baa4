// The S3 object store against a real S3-compatible server (SeaweedFS, started by the suites' global setup):
// what the stages of a run on many hosts hand each other goes through these calls.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SEAWEEDFS_CREDENTIALS } from '../../lib/services/seaweedfs';
import { fetchFile, MissingObjectError, publish, S3ObjectStore, storedKeys, unpublish } from '../../lib/storage';
import { uniqueId } from './harness';
import { TEST_BUCKET, TEST_S3_ENDPOINT } from './services';

jest.setTimeout(120_000);

const saved = { ...process.env };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-s3-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  process.env = { ...saved };
});

const storeAt = (prefix: string, credentials = SEAWEEDFS_CREDENTIALS, bucket = TEST_BUCKET) =>
  new S3ObjectStore({
    bucket,
    prefix,
    endpoint: TEST_S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
  });

const file = (name: string, bytes: Buffer | string) => {
  const p = path.join(root, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
};

test('upload, download, exists, list (past one page) and remove against SeaweedFS', async () => {
  const store = storeAt(`${uniqueId('s3-calls')}/`);
  try {
    const weights = Buffer.alloc(3 * 2 ** 20 + 7, 0x5a);
    await store.upload('runs/r/iter-000/train/ckpt-000004.pt', file('ckpt.pt', weights));
    expect(await store.exists('runs/r/iter-000/train/ckpt-000004.pt')).toBe(true);
    expect(await store.exists('runs/r/iter-000/train/ckpt-000008.pt')).toBe(false);
    const copy = path.join(root, 'copy', 'ckpt.pt');
    expect(await store.download('runs/r/iter-000/train/ckpt-000004.pt', copy)).toBe(true);
    expect(fs.readFileSync(copy).equals(weights)).toBe(true);
    expect(fs.readdirSync(path.dirname(copy))).toEqual(['ckpt.pt']);
    expect(await store.download('runs/r/nothing', path.join(root, 'copy', 'nothing'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'copy', 'nothing'))).toBe(false);

    // 1,005 small objects: ListObjectsV2 answers 1,000 a page, DeleteObjects takes 1,000 a request.
    const small = file('small.bin', 'x');
    const keys = Array.from(
      { length: 1005 },
      (_, i) => `store/${String(i % 7).padStart(2, '0')}/${String(i).padStart(5, '0')}.jpg`,
    );
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => store.upload(k, small)));
    expect(await store.list('store/')).toEqual([...keys].sort());
    expect(await store.list('runs/r/iter-000/')).toEqual(['runs/r/iter-000/train/ckpt-000004.pt']);
    await store.remove([...keys, 'store/never-written.jpg']);
    expect(await store.list('store/')).toEqual([]);
  } finally {
    store.close();
  }
});

test('keys the store refuses are errors that say what to set', async () => {
  const wrongKeys = storeAt('x/', { accessKeyId: 'nobody', secretAccessKey: 'nothing' });
  const noBucket = storeAt('x/', SEAWEEDFS_CREDENTIALS, 'no-such-bucket-here');
  try {
    await expect(wrongKeys.upload('a', file('a', 'a'))).rejects.toThrow(
      /refused the request \(InvalidAccessKeyId\): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    await expect(noBucket.list('')).rejects.toThrow(/refused the request \(NoSuchBucket\): create the bucket/);
  } finally {
    wrongKeys.close();
    noBucket.close();
  }
});

test('two hosts through IE_OBJECT_STORE: one publishes, the other fetches; a key nobody wrote is a MissingObjectError', async () => {
  const prefix = uniqueId('s3-hosts');
  Object.assign(process.env, {
    IE_OBJECT_STORE: `s3://${TEST_BUCKET}/${prefix}`,
    IE_S3_ENDPOINT: TEST_S3_ENDPOINT,
    AWS_ACCESS_KEY_ID: SEAWEEDFS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SEAWEEDFS_CREDENTIALS.secretAccessKey,
    IE_STATE_DIR: path.join(root, 'host-a'),
  });
  delete process.env.IE_STORE_DIR;
  const encoder = file('host-a/runs/r/iter-003/encoder.onnx', 'onnx bytes');
  expect(await publish(encoder)).toBe('runs/r/iter-003/encoder.onnx');

  process.env.IE_STATE_DIR = path.join(root, 'host-b');
  const fetched = await fetchFile('runs/r/iter-003/encoder.onnx');
  expect(fetched).toBe(path.join(root, 'host-b', 'runs', 'r', 'iter-003', 'encoder.onnx'));
  expect(fs.readFileSync(fetched, 'utf8')).toBe('onnx bytes');
  const missing = fetchFile('runs/r/iter-004/encoder.onnx');
  await expect(missing).rejects.toBeInstanceOf(MissingObjectError);
  await expect(missing).rejects.toThrow(
    `runs/r/iter-004/encoder.onnx is not in the object store (s3://${TEST_BUCKET}/${prefix}/ at ${TEST_S3_ENDPOINT})`,
  );

  fs.rmSync(path.join(root, 'host-b', 'runs', 'r', 'iter-003'), { recursive: true });
  await unpublish([path.join(root, 'host-b', 'runs', 'r', 'iter-003')]);
  expect(await storedKeys('runs/r')).toEqual([]);
});
