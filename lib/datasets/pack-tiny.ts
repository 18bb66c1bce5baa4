/**
 * Tiny ImageNet source tree → the `tiny-imagenet-200-32px/` files of the datasets folder, as its README
 * describes them: one ustar archive and one JSONL index per split (gzip level 9), wnids.txt, words.txt.gz
 * and duplicates.json.
 */
import { createHash } from 'node:crypto';
import { gzipReference } from './gzip';
import { TINY_DIR } from './layout';
import type { StepProgress } from '../progress';
import { pyJsonIndent1, pyJsonLines } from './pyjson';
import { SourceError, type SourceTree } from './source-tree';
import { packUstar } from './ustar';

/** The files of the source tree the Tiny ImageNet files are made of (pattern for readSourceTree). */
export const TINY_SOURCE_FILES = [
  'wnids\\.txt',
  'words\\.txt',
  'train/n\\d{8}/images/n\\d{8}_\\d+\\.JPEG',
  'train/n\\d{8}/n\\d{8}_boxes\\.txt',
  'val/images/val_\\d+\\.JPEG',
  'val/val_annotations\\.txt',
  'test/images/test_\\d+\\.JPEG',
].join('|');

type Split = 'train' | 'val' | 'test';
type Box = [number, number, number, number];

interface TinyRow {
  path: string;
  split: Split;
  wnid: string | null;
  label: number | null;
  name: string | null;
  bbox64: Box | null;
  offset: number;
  size: number;
}

export type Emit = (file: string, data: Buffer) => Promise<void>;

/** wnid → lemmas, from words.txt (`<wnid>\t<lemma>, <lemma>, …`). */
export function parseWords(text: string): Map<string, string[]> {
  const words = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0)
      words.set(
        line.slice(0, tab),
        line
          .slice(tab + 1)
          .replace(/\r$/, '')
          .split(', '),
      );
  }
  return words;
}

export function parseWnids(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Lines of `<file>\t[<wnid>\t]x0\ty0\tx1\ty1` → file → [wnid, box]. */
function parseBoxes(text: string, withWnid: boolean): Map<string, { wnid?: string; box: Box }> {
  const out = new Map<string, { wnid?: string; box: Box }>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < (withWnid ? 6 : 5)) continue;
    const nums = f.slice(withWnid ? 2 : 1, withWnid ? 6 : 5).map(Number) as Box;
    out.set(f[0], { wnid: withWnid ? f[1] : undefined, box: nums });
  }
  return out;
}

function required(tree: SourceTree, file: string): Buffer {
  const data = tree.get(file);
  if (!data) throw new SourceError(`the Tiny ImageNet source has no ${file}`);
  return data;
}

/** The tree's images by split (train also by class), each list in image-number order. */
function imagesBySplit(tree: SourceTree): { train: Map<string, string[]>; val: string[]; test: string[] } {
  const train = new Map<string, [string, number][]>();
  const val: [string, number][] = [];
  const test: [string, number][] = [];
  for (const key of tree.keys()) {
    let m = /^train\/(n\d{8})\/images\/(n\d{8})_(\d+)\.JPEG$/.exec(key);
    if (m && m[1] === m[2]) {
      const list = train.get(m[1]) ?? [];
      list.push([key, Number(m[3])]);
      train.set(m[1], list);
    } else if ((m = /^val\/images\/val_(\d+)\.JPEG$/.exec(key))) val.push([key, Number(m[1])]);
    else if ((m = /^test\/images\/test_(\d+)\.JPEG$/.exec(key))) test.push([key, Number(m[1])]);
  }
  const byNumber = (list: [string, number][]) => list.sort((a, b) => a[1] - b[1]).map((p) => p[0]);
  return {
    train: new Map([...train].map(([wnid, list]) => [wnid, byNumber(list)])),
    val: byNumber(val),
    test: byNumber(test),
  };
}

/** Packs the tree and hands each finished file to `emit` (paths relative to the datasets folder). */
export async function packTiny(tree: SourceTree, mtime: number, emit: Emit, progress: StepProgress): Promise<void> {
  const wnidsTxt = required(tree, 'wnids.txt');
  const wordsTxt = required(tree, 'words.txt');
  const wnids = parseWnids(wnidsTxt.toString('utf8'));
  const sorted = [...wnids].sort();
  const labels = new Map(sorted.map((w, i) => [w, i]));
  const words = parseWords(wordsTxt.toString('utf8'));
  const nameOf = (wnid: string): string => {
    const lemmas = words.get(wnid);
    if (!lemmas) throw new SourceError(`words.txt has no line for ${wnid}`);
    return lemmas[0];
  };

  const images = imagesBySplit(tree);
  const train: TinyRow[] = [];
  for (const wnid of sorted) {
    const boxesFile = tree.get(`train/${wnid}/${wnid}_boxes.txt`);
    const boxes = boxesFile ? parseBoxes(boxesFile.toString('utf8'), false) : new Map();
    const own = images.train.get(wnid) ?? [];
    if (own.length === 0) throw new SourceError(`the Tiny ImageNet source has no train images of ${wnid}`);
    for (const p of own) train.push(row(p, 'train', wnid, boxes.get(p.slice(p.lastIndexOf('/') + 1))?.box));
  }
  const annotations = parseBoxes(required(tree, 'val/val_annotations.txt').toString('utf8'), true);
  const val = images.val.map((p) => {
    const a = annotations.get(p.slice(p.lastIndexOf('/') + 1));
    if (!a?.wnid || !labels.has(a.wnid)) throw new SourceError(`val_annotations.txt has no class for ${p}`);
    return row(p, 'val', a.wnid, a.box);
  });
  const test = images.test.map((p) => row(p, 'test', null, undefined));

  function row(p: string, split: Split, wnid: string | null, box: Box | undefined): TinyRow {
    return {
      path: p,
      split,
      wnid,
      label: wnid === null ? null : (labels.get(wnid) ?? null),
      name: wnid === null ? null : nameOf(wnid),
      bbox64: box ?? null,
      offset: 0,
      size: 0,
    };
  }

  for (const [split, rows] of [
    ['train', train],
    ['val', val],
    ['test', test],
  ] as const) {
    if (rows.length === 0) throw new SourceError(`the Tiny ImageNet source has no ${split} images`);
    progress.begin(`pack ${split} (${rows.length} images)`, rows.length, 'files');
    const { tar, members } = packUstar(
      rows.map((r) => ({ name: r.path, data: required(tree, r.path) })),
      mtime,
    );
    members.forEach((m, i) => Object.assign(rows[i], { offset: m.offset, size: m.size }));
    progress.update(rows.length);
    progress.end();
    progress.begin(`compress ${split}.tar`, tar.length, 'bytes');
    const gz = gzipReference(tar, (done) => progress.update(done));
    progress.end();
    await emit(`${TINY_DIR}/${split}.tar.gz`, gz);
    await emit(`${TINY_DIR}/${split}.jsonl.gz`, gzipReference(pyJsonLines(rows)));
  }
  await emit(`${TINY_DIR}/wnids.txt`, wnidsTxt);
  await emit(`${TINY_DIR}/words.txt.gz`, gzipReference(wordsTxt));
  await emit(`${TINY_DIR}/duplicates.json`, Buffer.from(pyJsonIndent1(duplicates(tree, [train, val, test].flat()))));
}

/**
 * Groups of byte-identical images (sha1), each group's members in index order (train, val, test), the
 * groups ordered by their first member's split name, then its place in that split.
 */
function duplicates(tree: SourceTree, rows: readonly TinyRow[]): { note: string; groups: object[][] } {
  const bySha = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const sha = createHash('sha1').update(required(tree, r.path)).digest('hex');
    const group = bySha.get(sha);
    if (group) group.push(i);
    else bySha.set(sha, [i]);
  });
  const groups = [...bySha.values()]
    .filter((g) => g.length > 1)
    .sort((a, b) => {
      const sa = rows[a[0]].split;
      const sb = rows[b[0]].split;
      return sa < sb ? -1 : sa > sb ? 1 : a[0] - b[0];
    });
  return {
    note: 'groups of byte-identical JPEG files (sha1) in this copy',
    groups: groups.map((g) => g.map((i) => ({ path: rows[i].path, split: rows[i].split, wnid: rows[i].wnid }))),
  };
}
