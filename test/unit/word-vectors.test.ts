import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryTableFiles, readWordVectorTable, sourceVersion } from '../../activities/concepts/word-vectors';

let dir: string;
let source: string;
let cacheDir: string;
/** Whole seconds, which every file system keeps exactly. */
const SOURCE_MTIME_S = 1_700_000_000;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'word-vectors-'));
  source = path.join(dir, 'tiny-embeddings.json');
  cacheDir = path.join(dir, 'cache');
  // The wink layout: dim values, then the norm and the word's index (ignored).
  const vectors = { dog: [3, 4, 0, 5, 0], cat: [0, 0, 2, 2, 1], void: [0, 0, 0, 0, 2] };
  writeFileSync(source, JSON.stringify({ dimensions: 3, vectors }));
  utimesSync(source, SOURCE_MTIME_S, SOURCE_MTIME_S);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Replaces the source's bytes by others of the same size and mtime, so only its binary copy can answer. */
function garbleKeepingSizeAndMtime(file: string): void {
  writeFileSync(file, 'x'.repeat(statSync(file).size));
  utimesSync(file, SOURCE_MTIME_S, SOURCE_MTIME_S);
}

test('the first read keeps the table in binary; a later read answers from it, with the same unit vectors', async () => {
  const first = await readWordVectorTable(source, cacheDir);
  expect(first.size).toBe(2); // the zero vector carries no direction
  expect(first.row('void')).toBe(-1);
  expect(Array.from(first.vectors.subarray(first.row('dog') * 3, first.row('dog') * 3 + 3))).toEqual(
    [0.6, 0.8, 0].map(Math.fround),
  );
  const files = binaryTableFiles(source, cacheDir, await sourceVersion(source));
  expect(existsSync(files.vectors) && existsSync(files.words)).toBe(true);

  garbleKeepingSizeAndMtime(source);
  const second = await readWordVectorTable(source, cacheDir);
  expect(second.dim).toBe(3);
  expect(second.size).toBe(2);
  for (const word of ['dog', 'cat'])
    expect(second.vectors.subarray(second.row(word) * 3, second.row(word) * 3 + 3)).toEqual(
      first.vectors.subarray(first.row(word) * 3, first.row(word) * 3 + 3),
    );
});

test('a source changed since its binary copy was made is parsed again, and a torn copy is made again', async () => {
  await readWordVectorTable(source, cacheDir);
  // A newer source: the copy no longer matches its mtime, so the (now unreadable) JSON is what is read.
  garbleKeepingSizeAndMtime(source);
  utimesSync(source, SOURCE_MTIME_S + 10, SOURCE_MTIME_S + 10);
  await expect(readWordVectorTable(source, cacheDir)).rejects.toThrow(/JSON/);

  const olderCopies = readdirSync(cacheDir);
  expect(olderCopies).toHaveLength(2);
  writeFileSync(source, JSON.stringify({ dimensions: 3, vectors: { dog: [1, 0, 0, 1, 0] } }));
  await readWordVectorTable(source, cacheDir);
  const files = binaryTableFiles(source, cacheDir, await sourceVersion(source));
  // The new version's pair replaced the older one.
  expect(readdirSync(cacheDir).sort()).toEqual([path.basename(files.vectors), path.basename(files.words)].sort());
  for (const f of olderCopies) expect(readdirSync(cacheDir)).not.toContain(f);
  writeFileSync(files.vectors, statSync(files.vectors).size > 8 ? 'torn' : '');
  const again = await readWordVectorTable(source, cacheDir);
  expect(again.size).toBe(1);
  expect(statSync(files.vectors).size).toBeGreaterThan(12);
});

test("a source of the same name elsewhere keeps its own copy: a new version of one never removes the other's", async () => {
  const elsewhere = path.join(dir, 'other', path.basename(source));
  mkdirSync(path.dirname(elsewhere));
  writeFileSync(elsewhere, JSON.stringify({ dimensions: 3, vectors: { owl: [0, 1, 0, 1, 0] } }));
  await readWordVectorTable(elsewhere, cacheDir);
  await readWordVectorTable(source, cacheDir);
  writeFileSync(source, JSON.stringify({ dimensions: 3, vectors: { dog: [1, 0, 0, 1, 0] } }));
  await readWordVectorTable(source, cacheDir);
  const other = binaryTableFiles(elsewhere, cacheDir, await sourceVersion(elsewhere));
  const current = binaryTableFiles(source, cacheDir, await sourceVersion(source));
  expect(readdirSync(cacheDir).sort()).toEqual(
    [other.vectors, other.words, current.vectors, current.words].map((f) => path.basename(f)).sort(),
  );
});
