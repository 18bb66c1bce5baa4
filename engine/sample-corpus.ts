import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CLASSES_FILE, PHOTOS_DIR, tinySplitFiles } from '../lib/datasets/layout';
import { requireDatasets } from '../lib/datasets/require';
import { loadNouns } from '../lib/wordnet';
import { classCaption, type ClassInfo } from './captions';
import { readJsonl } from './jsonl';
import { type ManifestRecord, writeManifest } from './corpus';
import { photoRecords } from './build-corpus';

export interface SampleCorpusOptions {
  /** Tiny ImageNet classes whose first `perClass` train images are included. */
  tinyClasses: string[];
  perClass: number;
  /** Classes whose full-size sample photo is included. */
  photoClasses?: string[];
  datasetsDir?: string;
}

/**
 * Writes a small real-image corpus (manifest + one blob file) into `dir`, captioned like the default
 * corpus. Meant for tests and demos that need an engine in a second instead of the full corpus.
 */
export async function buildSampleCorpus(dir: string, options: SampleCorpusOptions): Promise<string> {
  const data = requireDatasets(
    [CLASSES_FILE, ...(options.tinyClasses.length > 0 ? tinySplitFiles('train') : []), `${PHOTOS_DIR}/index.jsonl`],
    options.datasetsDir,
  );
  const classes = new Map(readJsonl<ClassInfo>(path.join(data, 'classes.jsonl')).map((c) => [c.wnid, c]));
  const wordnet = loadNouns();
  const captionOf = (wnid: string): string => {
    const cls = classes.get(wnid);
    if (!cls) throw new Error(`unknown class ${wnid}`);
    return classCaption(cls, wordnet);
  };

  const records: ManifestRecord[] = [];
  const blobPath = path.join(dir, 'images.bin');
  const chunks: Buffer[] = [];
  let blobSize = 0;
  if (options.tinyClasses.length > 0) {
    const tinyDir = path.join(data, 'tiny-imagenet-200-32px');
    const rows = readJsonl<{ path: string; wnid: string; offset: number; size: number }>(
      path.join(tinyDir, 'train.jsonl.gz'),
    );
    const tar = gunzipSync(readFileSync(path.join(tinyDir, 'train.tar.gz')));
    for (const wnid of options.tinyClasses) {
      const picked = rows.filter((r) => r.wnid === wnid).slice(0, options.perClass);
      if (picked.length === 0) throw new Error(`no Tiny ImageNet train images for ${wnid}`);
      for (const r of picked) {
        chunks.push(tar.subarray(r.offset, r.offset + r.size));
        records.push({
          key: `tiny/${path.basename(r.path, path.extname(r.path))}`,
          caption: captionOf(wnid),
          file: blobPath,
          offset: blobSize,
          size: r.size,
          width: 32,
          height: 32,
          meta: { wnid },
        });
        blobSize += r.size;
      }
    }
  }

  const wanted = new Set(options.photoClasses ?? []);
  records.push(...photoRecords(data, captionOf, wanted));

  await mkdir(dir, { recursive: true });
  await writeFile(blobPath, Buffer.concat(chunks));
  const manifestPath = path.join(dir, 'manifest.jsonl');
  await writeManifest(manifestPath, records);
  return manifestPath;
}
