import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { datasetsDir, stateDir } from '../lib/paths';

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

interface ValRecord {
  path: string;
  wnid: string | null;
  offset: number;
  size: number;
}

/**
 * Writes a target folder (one subfolder per class, named `<wnid>_<name>`) carved from the labelled
 * validation split, which the search corpus never contains. Idempotent.
 */
export function prepareValTarget(name: string, classes: Record<string, string>, perClass = 50): string {
  const dir = path.join(stateDir(), 'targets', name);
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return dir;
  const tiny = path.join(datasetsDir(), 'tiny-imagenet-200-32px');
  const index = gunzipSync(fs.readFileSync(path.join(tiny, 'val.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ValRecord);
  const tar = gunzipSync(fs.readFileSync(path.join(tiny, 'val.tar.gz')));
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
