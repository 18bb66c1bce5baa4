// With an object store, a host's image files are copies kept within a cap, least recently used dropped first;
// without one they are the run's images and are never trimmed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RECENT_COPY_MS, imageCopiesCap, storePath, trimImageCopies } from '../../activities/store/content-store';
import { fetchFile, imageKey, publish } from '../../lib/storage';

const saved = { ...process.env };
let root: string;
const HOUR = 3600_000;
const NOW = Date.now();

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-copies-'));
  process.env.IE_STATE_DIR = path.join(root, 'host');
  delete process.env.IE_STORE_DIR;
  process.env.IE_OBJECT_STORE = path.join(root, 'shared');
});

afterEach(() => {
  process.env = { ...saved };
  fs.rmSync(root, { recursive: true, force: true });
});

const sha = (i: number) => i.toString(16).padStart(64, '0');

/** An image copy on this host, published to the store, last used `ageMs` ago. */
async function copy(i: number, ageMs: number): Promise<string> {
  const file = storePath(sha(i));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `image ${i}`);
  await publish(file);
  const t = new Date(NOW - ageMs);
  fs.utimesSync(file, t, t);
  return file;
}

const left = () => Array.from({ length: 40 }, (_, i) => i).filter((i) => fs.existsSync(storePath(sha(i))));

test('beyond the cap the least recently used copies go, down to 90 % of it; the store keeps them all', async () => {
  // 30 copies used 3 … 32 hours ago: copy i is i + 3 hours old.
  for (let i = 0; i < 30; i++) await copy(i, (i + 3) * HOUR);
  expect(await trimImageCopies(20, NOW)).toBe(12);
  expect(left()).toEqual(Array.from({ length: 18 }, (_, i) => i));
  expect(await trimImageCopies(20, NOW)).toBe(0); // within the cap now
  // A removed copy is fetched again from the store when a stage asks for it.
  expect(fs.readFileSync(await fetchFile(imageKey(sha(29))), 'utf8')).toBe('image 29');
});

test('copies used within the last two hours are kept whatever the count; using a copy renews it', async () => {
  for (let i = 0; i < 10; i++) await copy(i, i < 5 ? 30 * HOUR : RECENT_COPY_MS / 2);
  // Copy 0 is used now: it becomes the most recent.
  await fetchFile(imageKey(sha(0)));
  expect(fs.statSync(storePath(sha(0))).mtimeMs).toBeGreaterThan(NOW - HOUR);
  // A cap of 2 would keep 1; only the four old copies not used since may go.
  expect(await trimImageCopies(2, NOW)).toBe(4);
  expect(left()).toEqual([0, 5, 6, 7, 8, 9]);
});

test('without an object store, or with one whose images are these files, nothing is trimmed', async () => {
  delete process.env.IE_OBJECT_STORE;
  for (let i = 0; i < 5; i++) await copy(i, 30 * HOUR);
  expect(await trimImageCopies(1, NOW)).toBe(0);
  // A folder store at the state folder holds its images under store/: the very files of this host.
  process.env.IE_OBJECT_STORE = path.join(root, 'host');
  expect(await trimImageCopies(1, NOW)).toBe(0);
  expect(left()).toEqual([0, 1, 2, 3, 4]);
});

test('the cap comes from IE_IMAGE_COPIES', () => {
  delete process.env.IE_IMAGE_COPIES;
  expect(imageCopiesCap()).toBe(200_000);
  process.env.IE_IMAGE_COPIES = '5000';
  expect(imageCopiesCap()).toBe(5000);
  process.env.IE_IMAGE_COPIES = 'lots';
  expect(() => imageCopiesCap()).toThrow(/IE_IMAGE_COPIES=lots: give the number of image files/);
});
