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

/**
 * Stops SeaweedFS, then runs `request` under a wait that starts the server again (on the same data folder) a
 * few seconds after the request began waiting; resolves to the request's result and the wait's events.
 */
async function acrossRestart<T>(request: () => Promise<T>): Promise<{ value: T; events: string[]; ms: number }> {
  expect(await stopSeaweedFs(NAME)).toBe(true);
  const events: string[] = [];
  let restarted: Promise<unknown> = Promise.resolve();
  const started = Date.now();
  const value = await withStoreWait(
    {
      deadline: Date.now() + 240_000,
      onWait: () => {
        events.push('wait');
        restarted = new Promise((resolve) => setTimeout(resolve, 3000)).then(() =>
          ensureSeaweedFs({ s3Port: PORT, name: NAME }),
        );
      },
      onBack: () => events.push('back'),
      onGiveUp: () => events.push('give up'),
    },
    request,
  );
  await restarted;
  return { value, events, ms: Date.now() - started };
}

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

    const copy = path.join(root, 'copy.pt');
    const fetched = await acrossRestart(() => store.download('runs/r/iter-000/train/ckpt-000004.pt', copy));
    expect(fetched).toMatchObject({ value: true, events: ['wait', 'back'] });
    expect(fetched.ms).toBeGreaterThan(3000);
    expect(fs.readFileSync(copy).equals(weights)).toBe(true);

    // The same for an upload (its body is a fresh stream of the file each time it is sent).
    const uploaded = await acrossRestart(() => store.upload('runs/r/iter-000/train/ckpt-000008.pt', source));
    expect(uploaded).toMatchObject({ value: undefined, events: ['wait', 'back'] });
    const again = path.join(root, 'again.pt');
    expect(await store.download('runs/r/iter-000/train/ckpt-000008.pt', again)).toBe(true);
    expect(fs.readFileSync(again).equals(weights)).toBe(true);
  } finally {
    store.close();
  }
});
