/**
 * A user-named source turned into a corpus manifest the local search engine serves: an img2dataset-style
 * webdataset folder (`.tar` shards of `<key>.jpg` + `<key>.txt`/`.json`), or a plain folder of images, one
 * subfolder per class or flat. Images stay where they are; the manifest points at their bytes.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { buildWebdatasetManifest } from './webdataset-corpus';
import { classCaption } from './captions';
import { type ManifestRecord, writeManifest } from './corpus';
import { loadNouns, type WordNetNouns } from '../lib/wordnet';
import { SourceError } from '../lib/datasets/source-tree';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export interface UserCorpus {
  kind: 'webdataset' | 'image folder';
  manifestPath: string;
  images: number;
  /** Images left out: no caption could be made for them (webdataset: no image or no caption). */
  skipped: number;
}

/** Builds `<outDir>/manifest.jsonl` for the folder `source`. */
export async function buildUserCorpus(source: string, outDir: string, wordnetDir?: string): Promise<UserCorpus> {
  const folder = path.resolve(source);
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) throw new SourceError(`${source} is not a folder (an image folder or a webdataset folder)`);
  const manifestPath = path.join(outDir, 'manifest.jsonl');
  const top = await readdir(folder);
  if (top.some((n) => n.endsWith('.tar'))) {
    const built = await buildWebdatasetManifest(folder, manifestPath);
    return { kind: 'webdataset', manifestPath, images: built.samples, skipped: built.skipped };
  }
  const { records, skipped } = await imageFolderRecords(folder, wordnetDir);
  if (records.length === 0) throw new SourceError(`${source} holds no .jpg, .jpeg, .png or .webp images`);
  await writeManifest(manifestPath, records);
  return { kind: 'image folder', manifestPath, images: records.length, skipped };
}

/**
 * One record per image. Caption: a sidecar `<image>.txt` if there is one; else the class folder's name
 * (a WordNet id such as `n02099601` or `n02099601_golden_retriever` is captioned like the built-in corpus
 * and kept as the ground-truth class); else, for a flat folder, the words of the file name.
 */
async function imageFolderRecords(
  folder: string,
  wordnetDir?: string,
): Promise<{ records: ManifestRecord[]; skipped: number }> {
  const names = (await readdir(folder, { recursive: true }))
    .map((n) => n.split(path.sep).join('/'))
    .filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()))
    .sort();
  let wordnet: WordNetNouns | undefined;
  const classCaptions = new Map<string, { caption: string; wnid?: string }>();
  const captionOfClass = (dir: string): { caption: string; wnid?: string } => {
    let known = classCaptions.get(dir);
    if (!known) {
      const wnid = /^(n\d{8})(?:[_\s-]|$)/.exec(dir)?.[1];
      if (wnid) wordnet ??= loadNouns(wordnetDir);
      const synset = wnid ? wordnet?.synsets.get(wnid) : undefined;
      known =
        wnid && synset && wordnet
          ? {
              caption: classCaption(
                { wnid, name: synset.lemmas[0], lemmas: synset.lemmas, gloss: synset.gloss },
                wordnet,
              ),
              wnid,
            }
          : { caption: words(dir.replace(/^n\d{8}[_\s-]*/, '')) };
      classCaptions.set(dir, known);
    }
    return known;
  };

  const records: ManifestRecord[] = [];
  let skipped = 0;
  for (const name of names) {
    const file = path.join(folder, name);
    const { size } = await stat(file);
    const stem = name.slice(0, name.length - path.extname(name).length);
    const sidecar = (await readFile(path.join(folder, `${stem}.txt`), 'utf8').catch(() => '')).trim();
    const slash = name.indexOf('/');
    const cls = slash > 0 ? captionOfClass(name.slice(0, slash)) : undefined;
    const caption = sidecar || cls?.caption || words(path.basename(stem).replace(/\d+/g, ' '));
    if (size === 0 || caption === '') {
      skipped++;
      continue;
    }
    records.push({ key: stem, caption, file, offset: 0, size, ...(cls?.wnid ? { meta: { wnid: cls.wnid } } : {}) });
  }
  return { records, skipped };
}

/** `golden_retriever-12` → `golden retriever 12`. */
function words(text: string): string {
  return text
    .replace(/[_\-.]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
