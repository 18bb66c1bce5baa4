import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tinySplitFiles } from './datasets/layout';
import { requireDatasets } from './datasets/require';
import { stateDir } from './paths';

/** The default target: Tiny ImageNet's 450 labelled validation images of 9 dog and cat classes. */
export const PETS_CLASSES: Record<string, string> = {
  n02085620: 'Chihuahua',
  n02094433: 'Yorkshire_terrier',
  n02099601: 'golden_retriever',
  n02099712: 'Labrador_retriever',
  n02106662: 'German_shepherd',
  n02113799: 'standard_poodle',
  n02123045: 'tabby',
  n02123394: 'Persian_cat',
  n02124075: 'Egyptian_cat',
};

interface SplitRecord {
  path: string;
  wnid: string | null;
  offset: number;
  size: number;
}

/** A Tiny ImageNet split: its index and its whole tar stream (the JPEGs are sliced out by offset). */
function readTinySplit(split: 'val' | 'test'): { index: SplitRecord[]; tar: Buffer } {
  const tiny = path.join(requireDatasets(tinySplitFiles(split)), 'tiny-imagenet-200-32px');
  const index = gunzipSync(fs.readFileSync(path.join(tiny, `${split}.jsonl.gz`)))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SplitRecord);
  return { index, tar: gunzipSync(fs.readFileSync(path.join(tiny, `${split}.tar.gz`))) };
}

/**
 * Writes a target folder (one subfolder per class, named `<wnid>_<name>`) carved from the labelled
 * validation split, which the search corpus never contains. Idempotent.
 */
export function prepareValTarget(name: string, classes: Record<string, string>, perClass = 50): string {
  const dir = path.join(stateDir(), 'targets', name);
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return dir;
  const { index, tar } = readTinySplit('val');
  const counts = new Map<string, number>();
  for (const record of index) {
    if (!record.wnid || !(record.wnid in classes)) continue;
    const n = counts.get(record.wnid) ?? 0;
    if (n >= perClass) continue;
    counts.set(record.wnid, n + 1);
    const classDir = path.join(dir, `${record.wnid}_${classes[record.wnid]}`);
    fs.mkdirSync(classDir, { recursive: true });
    fs.writeFileSync(
      path.join(classDir, path.basename(record.path)),
      tar.subarray(record.offset, record.offset + record.size),
    );
  }
  fs.writeFileSync(marker, '');
  return dir;
}

/**
 * Writes Tiny ImageNet's 10,000 unlabelled test images to one folder: generic photos that neither the
 * search corpus (the train split) nor the targets (carved from val) contain, for pretraining a starting
 * encoder. Idempotent.
 */
export function prepareUnlabelledTinyTest(): string {
  const dir = path.join(stateDir(), 'pretrain-images', 'tiny-imagenet-test');
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return dir;
  const { index, tar } = readTinySplit('test');
  fs.mkdirSync(dir, { recursive: true });
  for (const record of index) {
    fs.writeFileSync(
      path.join(dir, path.basename(record.path)),
      tar.subarray(record.offset, record.offset + record.size),
    );
  }
  fs.writeFileSync(marker, '');
  return dir;
}
