/**
 * The offline datasets folder (`IE_DATASETS_DIR`, default `../shared/datasets`): which files it holds, the
 * public source each file is built from, and the sha256 of every file as published in the folder's README.
 */

export const TINY_DIR = 'tiny-imagenet-200-32px';
export const PHOTOS_DIR = 'imagenet-1k-samples';
export const CLASSES_FILE = 'classes.jsonl';

/** The two parts `ie data fetch` builds, each from one public source; `--only` names them. */
export const SUBSETS = ['tiny', 'photos'] as const;
export type SubsetId = (typeof SUBSETS)[number];

export interface PublicSource {
  id: SubsetId;
  /** What it is, in a few words, for progress lines and errors. */
  title: string;
  /** GitHub owner/name and the commit the published files were built from. */
  repo: string;
  commit: string;
  /** The commit's time (Unix seconds): the mtime of every tar member packed from this source. */
  commitTime: number;
  /** Environment variable that replaces the download address (a URL, or a local archive or folder). */
  env: string;
}

export const PUBLIC_SOURCES: Readonly<Record<SubsetId, PublicSource>> = {
  tiny: {
    id: 'tiny',
    title: 'Tiny ImageNet (32 px copy)',
    repo: 'DhanashriPalodkar/imageet32x32',
    commit: '17536f5460bd63802cddfccea1844857b2c0ec04',
    commitTime: 1550799187, // 2019-02-21 20:33:07 -0500
    env: 'IE_DATA_TINY_SOURCE',
  },
  photos: {
    id: 'photos',
    title: 'ImageNet-1k sample photos',
    repo: 'EliSchwartz/imagenet-sample-images',
    commit: 'bc69043e2862758a1906c6a24a792bb28c6bb2ff',
    commitTime: 1667850337, // 2022-11-07 21:45:37 +0200
    env: 'IE_DATA_PHOTOS_SOURCE',
  },
};

/** GitHub's archive of the source at its commit (the same tree `git archive` gives, in one top folder). */
export function defaultSourceUrl(source: PublicSource): string {
  return `https://codeload.github.com/${source.repo}/tar.gz/${source.commit}`;
}

/** Where a subset is fetched from: `--from <id>=…`, else its environment variable, else GitHub. */
export function sourceLocation(id: SubsetId, override?: string, env: NodeJS.ProcessEnv = process.env): string {
  const source = PUBLIC_SOURCES[id];
  return override ?? env[source.env] ?? defaultSourceUrl(source);
}

/** Relative path → sha256 of every file of the datasets folder (its README's "sha256" table). */
export type ChecksumTable = Readonly<Record<string, string>>;

export const DATASET_SHA256: ChecksumTable = {
  'classes.jsonl': '16c82d0d58740bca21e45d89ddda1f0ea180c793479b92b9ad66cab57e7baa17',
  'imagenet-1k-samples/images-00.tar': '1cbecbd75370244c7d324152f776f9ce90abdb2ff3eaf723f809f453a55424e5',
  'imagenet-1k-samples/images-01.tar': 'ac2a43d5fdabaf702ebaa253c04ba6b0794b5573133054641d4c340f4262e051',
  'imagenet-1k-samples/images-02.tar': '3b2fb8d9946afa3475a3eaee3aecee904fe7de6e892e8fa530990ac445fe7754',
  'imagenet-1k-samples/images-03.tar': 'c84ee530544e56cf3d4818760e8fa2121fd6ec5b3fa9cbaf7b36460b1f418ea9',
  'imagenet-1k-samples/index.jsonl': '80ab2ec8514d8c9ab3d461be6e4c41d08d782c5c473664533d12f971b3e680e0',
  'tiny-imagenet-200-32px/duplicates.json': 'e3f3cc414c50aa0ee52cc886abd289e7dd786935906fca3ea992afa6ce4c6a51',
  'tiny-imagenet-200-32px/test.jsonl.gz': 'a8b8c4c7a780e01b93331630b7a494ddb9795b815b5c180c3d38e7d4995e806d',
  'tiny-imagenet-200-32px/test.tar.gz': '24ed70629565c60c2ce24f88e1e1dd5873088da2fa6910edd36295a4f84e9785',
  'tiny-imagenet-200-32px/train.jsonl.gz': 'c9b860f2cc5b8499e997f30f010a833c54a5ce9609c5913237f8f764e803bc7d',
  'tiny-imagenet-200-32px/train.tar.gz': 'f2c4dc60cc352794a92cbf54375a6bad88bb42cdaa232fd1309aaf4f92a54719',
  'tiny-imagenet-200-32px/val.jsonl.gz': '76e6508b1206272ecca279e51644be1986f367773ab65e93dcee5abf6979b912',
  'tiny-imagenet-200-32px/val.tar.gz': '913aea8bd7cbc5071e5d5c4a976d6b52e7c07ed88a1bb57818898c3c3461f27d',
  'tiny-imagenet-200-32px/wnids.txt': 'a36eb4b603007f1985cdfbfc5987166a2710b3c6f0f6d3e29636fc129bba527b',
  'tiny-imagenet-200-32px/words.txt.gz': '8d1e8d747075cd0cd7818ae93662cc1e0fa749b764e4235d0f198ed015e9629f',
};

/** Which subset builds a file: everything under the Tiny ImageNet folder is `tiny`; the rest `photos`. */
export function subsetOf(file: string): SubsetId {
  return file.startsWith(`${TINY_DIR}/`) ? 'tiny' : 'photos';
}

/** The files of `subset` that `table` lists, sorted. `classes.jsonl` belongs to the photos (their 1000 classes). */
export function filesOf(subset: SubsetId, table: ChecksumTable = DATASET_SHA256): string[] {
  return Object.keys(table)
    .filter((f) => subsetOf(f) === subset)
    .sort();
}

/** Files the engine's default corpus reads: Tiny ImageNet train, the full-size photos and the classes. */
export const DEFAULT_CORPUS_FILES: readonly string[] = [
  CLASSES_FILE,
  `${TINY_DIR}/train.jsonl.gz`,
  `${TINY_DIR}/train.tar.gz`,
  ...filesOf('photos').filter((f) => f.startsWith(`${PHOTOS_DIR}/`)),
];

/** Files a target carve-out (`val`) or the unlabelled pretraining images (`test`) read. */
export function tinySplitFiles(split: 'train' | 'val' | 'test'): string[] {
  return [`${TINY_DIR}/${split}.jsonl.gz`, `${TINY_DIR}/${split}.tar.gz`];
}
