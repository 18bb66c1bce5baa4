import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { db } from '../../lib/db';
import { putImage, storePath } from '../../activities/store/content-store';
import { repointImages } from '../../activities/store/image-rows';
import { useTestEnvironment } from './harness';

useTestEnvironment('image_rows');

const store = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-store-'));
const previousStore = process.env.IE_STORE_DIR;
beforeAll(() => {
  process.env.IE_STORE_DIR = store;
});
afterAll(() => {
  process.env.IE_STORE_DIR = previousStore;
  if (previousStore === undefined) delete process.env.IE_STORE_DIR;
  fs.rmSync(store, { recursive: true, force: true });
});

const row = (sha: string, file: string) => ({
  sha256: sha,
  path: file,
  width: 8,
  height: 8,
  bytes: 3,
  sourceUrl: `http://example.test/${sha}`,
});

test('rows naming another store are pointed at this store when the file is here, and only then', async () => {
  const here = 'a'.repeat(64);
  const gone = 'b'.repeat(64);
  const right = 'c'.repeat(64);
  await putImage(here, Buffer.from([0xff, 0xd8, 0xff]));
  await putImage(right, Buffer.from([0xff, 0xd8, 0xff]));
  await db().image.createMany({
    data: [
      row(here, '/elsewhere/store/aa/' + here + '.jpg'),
      row(gone, '/elsewhere/store/bb/' + gone + '.jpg'),
      row(right, storePath(right)),
    ],
  });

  expect(await repointImages([here, gone, right, here])).toBe(1);

  const paths = Object.fromEntries(
    (await db().image.findMany({ where: { sha256: { in: [here, gone, right] } } })).map((i) => [i.sha256, i.path]),
  );
  expect(paths[here]).toBe(storePath(here));
  expect(paths[here].startsWith(store)).toBe(true);
  // Not in this store: left as it is (the download stage fetches such an image again).
  expect(paths[gone]).toBe('/elsewhere/store/bb/' + gone + '.jpg');
  expect(paths[right]).toBe(storePath(right));
  expect(await repointImages([here, gone, right])).toBe(0);
});
