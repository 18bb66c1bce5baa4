/**
 * The ImageNet-1k sample photos → `imagenet-1k-samples/` (uncompressed ustar shards of 250 photos in
 * label order, and index.jsonl) and `classes.jsonl`, as the datasets README describes them. Class names
 * and lemmas come from Tiny ImageNet's words.txt, glosses from WordNet 3.0's data.noun.
 */
import { CLASSES_FILE, PHOTOS_DIR } from './layout';
import type { StepProgress } from '../progress';
import { jpegInfo } from './jpeg';
import type { Emit } from './pack-tiny';
import { pyJsonLines } from './pyjson';
import { SourceError, type SourceTree } from './source-tree';
import { packUstar } from './ustar';

/** The files of the source tree the photo files are made of (pattern for readSourceTree). */
export const PHOTOS_SOURCE_FILES = 'n\\d{8}_[^/]+\\.JPEG';

export const PHOTOS_PER_SHARD = 250;

/** What the photo files take from Tiny ImageNet and WordNet. */
export interface ClassNames {
  /** Tiny ImageNet's 200 wnids (wnids.txt). */
  tinyWnids: readonly string[];
  /** wnid → lemmas (Tiny ImageNet's words.txt, which lists every ImageNet synset). */
  words: ReadonlyMap<string, readonly string[]>;
  /** wnid → WordNet gloss, for every photo's class. */
  glosses: ReadonlyMap<string, string>;
}

/** The wnids of the photos in a source tree (one photo per class), sorted: their ImageNet-1k label order. */
export function photoWnids(tree: SourceTree): string[] {
  const wnids = [...tree.keys()].map((p) => p.slice(0, 9));
  const seen = new Set<string>();
  for (const w of wnids) {
    if (seen.has(w)) throw new SourceError(`the photo source has more than one photo of ${w}`);
    seen.add(w);
  }
  if (wnids.length === 0) throw new SourceError('the photo source holds no <wnid>_<name>.JPEG files');
  return wnids.sort();
}

export async function packPhotos(
  tree: SourceTree,
  names: ClassNames,
  mtime: number,
  emit: Emit,
  progress: StepProgress,
): Promise<void> {
  const byWnid = new Map([...tree.keys()].map((p) => [p.slice(0, 9), p]));
  const wnids = photoWnids(tree);
  const tinyLabels = new Map([...names.tinyWnids].sort().map((w, i) => [w, i]));
  const lemmasOf = (wnid: string): readonly string[] => {
    const lemmas = names.words.get(wnid);
    if (!lemmas) throw new SourceError(`Tiny ImageNet's words.txt has no line for ${wnid}`);
    return lemmas;
  };

  progress.begin(`pack ${wnids.length} photos`, wnids.length, 'files');
  const rows: Record<string, unknown>[] = [];
  for (let first = 0, shard = 0; first < wnids.length; first += PHOTOS_PER_SHARD, shard++) {
    const shardName = `images-${String(shard).padStart(2, '0')}.tar`;
    const batch = wnids.slice(first, first + PHOTOS_PER_SHARD);
    const files = batch.map((w) => ({
      name: byWnid.get(w) as string,
      data: tree.get(byWnid.get(w) as string) as Buffer,
    }));
    const { tar, members } = packUstar(files, mtime);
    batch.forEach((wnid, i) => {
      let info;
      try {
        info = jpegInfo(files[i].data);
      } catch (err) {
        throw new SourceError(`${files[i].name}: ${(err as Error).message}`);
      }
      rows.push({
        path: files[i].name,
        split: 'sample',
        wnid,
        label: first + i,
        name: lemmasOf(wnid)[0],
        tiny_label: tinyLabels.get(wnid) ?? null,
        width: info.width,
        height: info.height,
        channels: info.channels,
        shard: shardName,
        offset: members[i].offset,
        size: members[i].size,
      });
    });
    await emit(`${PHOTOS_DIR}/${shardName}`, tar);
    progress.update(first + batch.length);
  }
  progress.end();
  await emit(`${PHOTOS_DIR}/index.jsonl`, pyJsonLines(rows));

  const classes = wnids.map((wnid, label) => {
    const gloss = names.glosses.get(wnid);
    if (gloss === undefined) throw new SourceError(`no WordNet gloss for ${wnid}`);
    const lemmas = lemmasOf(wnid);
    return { wnid, name: lemmas[0], lemmas, gloss, tiny_label: tinyLabels.get(wnid) ?? null, imagenet1k_label: label };
  });
  await emit(CLASSES_FILE, pyJsonLines(classes));
}
