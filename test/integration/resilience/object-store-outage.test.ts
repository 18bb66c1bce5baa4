// The object store stopped mid-request and started again: a request made under an activity's wait (as every
// stage's are, activities/store-wait.ts) goes on until SeaweedFS answers again and then succeeds, instead of
// failing the stage. SeaweedFS here is a server of this test's own (stopping the suites' shared one would
// cut off the other streams' tests).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSeaweedFs, SEAWEEDFS_CREDENTIALS, stopSeaweedFs } from '../../../lib/services/seaweedfs';
import { S3ObjectStore, withStoreWait } from '../../../lib/storage';
import { TEST_S3_PORT } from '../services';

jest.setTimeout(300_000);

const PORT = TEST_S3_PORT + 20;
const NAME = `seaweedfs-outage-${PORT}`;
const BUCKET = 'ie-outage';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-s3-outage-'));

beforeAll(async () => {
  await ensureSeaweedFs({ s3Port: PORT, name: NAME, buckets: [BUCKET] });
});

afterAll(async () => {
  await stopSeaweedFs(NAME);
  fs.rmSync(root, { recursive: true, force: true });
});

test('a download and an upload wait while SeaweedFS is stopped and complete once it is back', async () => {
  const store = new S3ObjectStore({
    bucket: BUCKET,
    prefix: 'outage/',
    endpoint: `http://127.0.0.1:${PORT}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: SEAWEEDFS_CREDENTIALS,
  });
  try {
    const weights = Buffer.alloc(2 ** 20 + 3, 0x3c);
    const source = path.join(root, 'ckpt.pt');
    fs.writeFileSync(source, weights);
    await store.upload('runs/r/iter-000/train/ckpt-000004.pt', source);

    expect(await stopSeaweedFs(NAME)).toBe(true);
    const events: string[] = [];
    let restarted: Promise<unknown> | undefined;
    const copy = path.join(root, 'copy.pt');
    const started = Date.now();
    const fetched = withStoreWait(
      {
        deadline: Date.now() + 240_000,
        onWait: () => {
          events.push('wait');
          // Back a few seconds after the request started waiting, on the same data folder.
          restarted = new Promise((resolve) => setTimeout(resolve, 3000)).then(() =>
            ensureSeaweedFs({ s3Port: PORT, name: NAME }),
          );
        },
        onBack: () => events.push('back'),
        onGiveUp: () => events.push('give up'),
      },
      () => store.download('runs/r/iter-000/train/ckpt-000004.pt', copy),
    );
    await expect(fetched).resolves.toBe(true);
    await restarted;
    expect(events).toEqual(['wait', 'back']);
    expect(Date.now() - started).toBeGreaterThan(3000);
    expect(fs.readFileSync(copy).equals(weights)).toBe(true);

    // The same for an upload (its body is a fresh stream of the file each time it is sent).
    expect(await stopSeaweedFs(NAME)).toBe(true);
    events.length = 0;
    const uploaded = withStoreWait(
      {
        deadline: Date.now() + 240_000,
        onWait: () => {
          events.push('wait');
          restarted = new Promise((resolve) => setTimeout(resolve, 3000)).then(() =>
            ensureSeaweedFs({ s3Port: PORT, name: NAME }),
          );
        },
        onBack: () => events.push('back'),
      },
      () => store.upload('runs/r/iter-000/train/ckpt-000008.pt', source),
    );
    await expect(uploaded).resolves.toBeUndefined();
    await restarted;
    expect(events).toEqual(['wait', 'back']);
    const again = path.join(root, 'again.pt');
    expect(await store.download('runs/r/iter-000/train/ckpt-000008.pt', again)).toBe(true);
    expect(fs.readFileSync(again).equals(weights)).toBe(true);
  } finally {
    store.close();
  }
});
