/**
 * `ie data fetch`: builds the offline datasets folder from its public sources and checks every file
 * against the published sha256 table. Files already there with the right checksum are kept; the others
 * are built in a staging folder inside the destination, checked, and only then renamed into place, one
 * subset at a time, so an interrupted or refused fetch never leaves a half-written dataset behind.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { wordnetDir } from '../paths';
import { sha256, sha256File } from './checksum';
import { downloadFile, isUrl } from './download';
import { readGlosses } from './glosses';
import {
  type ChecksumTable,
  DATASET_SHA256,
  filesOf,
  PUBLIC_SOURCES,
  SUBSETS,
  type SubsetId,
  sourceLocation,
  TINY_DIR,
} from './layout';
import { type ClassNames, packPhotos, PHOTOS_SOURCE_FILES, photoWnids } from './pack-photos';
import { packTiny, parseWnids, parseWords, TINY_SOURCE_FILES } from './pack-tiny';
import { type StepProgress, silentProgress } from '../progress';
import { readSourceTree, SourceError } from './source-tree';

/** The folder inside the destination where downloads and staged files live while a fetch runs. */
export const WORK_DIR = '.ie-data-fetch';

export interface FetchOptions {
  /** The datasets folder to fill (created if missing). */
  dest: string;
  /** Subsets to build; default all. */
  only?: readonly SubsetId[];
  /** Where each subset comes from instead of its default (a URL, or a local archive or folder). */
  sources?: Partial<Record<SubsetId, string>>;
  /** Expected sha256 of every file; default the published table. */
  checksums?: ChecksumTable;
  /** WordNet 3.0 folder with data.noun (glosses of classes.jsonl). */
  wordnetDir?: string;
  progress?: StepProgress;
  env?: NodeJS.ProcessEnv;
}

export interface FetchResult {
  dest: string;
  /** Files that were already there with the right checksum. */
  kept: string[];
  /** Files this fetch built, checked and put in place. */
  written: string[];
}

/** Built files differ from the published ones; nothing of that subset was written. */
export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
}

export async function fetchDatasets(options: FetchOptions): Promise<FetchResult> {
  const dest = path.resolve(options.dest);
  const checksums = options.checksums ?? DATASET_SHA256;
  const progress = options.progress ?? silentProgress;
  const result: FetchResult = { dest, kept: [], written: [] };
  await mkdir(dest, { recursive: true }).catch((err: Error) => {
    throw new SourceError(`cannot create ${dest}: ${err.message}`);
  });
  const work = path.join(dest, WORK_DIR);
  // Staged files of a fetch that was killed half-way are never moved into place: clear them.
  for (const name of await readdir(work).catch(() => [])) {
    if (name.startsWith('staging-')) await rm(path.join(work, name), { recursive: true, force: true });
  }
  try {
    for (const subset of SUBSETS.filter((s) => !options.only || options.only.includes(s))) {
      const files = filesOf(subset, checksums);
      if (files.length === 0) continue;
      const source = PUBLIC_SOURCES[subset];
      const stale = await filesToBuild(dest, files, checksums, progress);
      result.kept.push(...files.filter((f) => !stale.includes(f)));
      if (stale.length === 0) {
        progress.note(`${source.title}: ${files.length} files present, checksums verified`);
        continue;
      }
      const location = sourceLocation(subset, options.sources?.[subset], options.env);
      progress.note(
        `${source.title}: ${stale.length} of ${files.length} files missing or different; building them from ${location}`,
      );
      await buildSubset({ subset, location, dest, work, files, stale, checksums, options, progress });
      result.written.push(...stale);
    }
  } finally {
    // Leave no empty work folders; a broken-off download (.part) stays for the next run to resume.
    await rmdir(path.join(work, 'downloads')).catch(() => undefined);
    await rmdir(work).catch(() => undefined); // only if nothing is left in it
  }
  return result;
}

/** The files of `files` that are missing or whose sha256 is not the expected one. */
async function filesToBuild(
  dest: string,
  files: readonly string[],
  checksums: ChecksumTable,
  progress: StepProgress,
): Promise<string[]> {
  const sizes = await Promise.all(
    files.map((f) =>
      stat(path.join(dest, f)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  const total = sizes.reduce((a, b) => a + b, 0);
  const stale: string[] = [];
  if (total > 0) progress.begin('verify present files', total, 'bytes');
  let done = 0;
  for (const f of files) {
    const digest = await sha256File(path.join(dest, f), (n) => progress.update((done += n)));
    if (digest !== checksums[f]) stale.push(f);
  }
  if (total > 0) progress.end();
  return stale;
}

interface BuildJob {
  subset: SubsetId;
  location: string;
  dest: string;
  work: string;
  files: readonly string[];
  stale: readonly string[];
  checksums: ChecksumTable;
  options: FetchOptions;
  progress: StepProgress;
}

async function buildSubset(job: BuildJob): Promise<void> {
  const { subset, location, dest, work, checksums, progress } = job;
  const source = PUBLIC_SOURCES[subset];
  // Check what the photo files need from Tiny ImageNet and WordNet before spending a download on them.
  const tinyNames = subset === 'photos' ? await readTinyNames(dest, checksums) : undefined;
  const dataNoun = path.join(job.options.wordnetDir ?? wordnetDir(), 'data.noun');
  if (subset === 'photos' && !(await stat(dataNoun).catch(() => undefined))) {
    throw new SourceError(`WordNet 3.0 is not at ${dataNoun}: install Debian's wordnet-base or set WORDNET_DIR`);
  }

  let archive = location;
  const downloaded = isUrl(location);
  if (downloaded) {
    const key = createHash('sha256').update(location).digest('hex').slice(0, 12);
    archive = path.join(work, 'downloads', `${subset}-${key}.download`);
    progress.begin(`download ${source.title}`, undefined, 'bytes');
    await downloadFile(
      location,
      archive,
      (done, total) => progress.update(done, total),
      (from) => progress.resumed(from),
    ).catch((err: unknown) => {
      progress.end(true);
      throw err;
    });
    progress.end();
  }
  const discardDownload = async (): Promise<string> => {
    if (!downloaded) return '';
    await rm(archive, { force: true });
    return ' The downloaded archive was removed: run the command again to download it anew.';
  };

  let tree;
  progress.begin(`read ${source.title} source`, undefined, 'bytes');
  try {
    tree = await readSourceTree(archive, subset === 'tiny' ? TINY_SOURCE_FILES : PHOTOS_SOURCE_FILES, (d, t) =>
      progress.update(d, t),
    );
  } catch (err) {
    progress.end(true);
    if (err instanceof SourceError) throw new SourceError(`${location}: ${err.message}.${await discardDownload()}`);
    throw err;
  }
  progress.end();

  const staging = path.join(work, `staging-${subset}-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  const produced = new Map<string, string>();
  const emit = async (file: string, data: Buffer): Promise<void> => {
    if (!(file in checksums)) throw new Error(`built ${file}, which the checksum table does not list`);
    const target = path.join(staging, file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, data);
    produced.set(file, sha256(data));
  };
  try {
    if (subset === 'tiny') {
      await packTiny(tree, source.commitTime, emit, progress);
    } else {
      const wnids = photoWnids(tree);
      const glosses = await readGlosses(dataNoun, new Set(wnids));
      await packPhotos(
        tree,
        { ...(tinyNames as Omit<ClassNames, 'glosses'>), glosses },
        source.commitTime,
        emit,
        progress,
      );
    }
    tree = undefined;
    const wrong = job.files.filter((f) => produced.get(f) !== checksums[f]);
    if (wrong.length > 0) {
      const lines = wrong.map(
        (f) => `  ${f}: expected sha256 ${checksums[f]}, got ${produced.get(f) ?? 'nothing (the source lacks it)'}`,
      );
      throw new ChecksumMismatchError(
        `checksum mismatch: files built from ${location} differ from the published ones; nothing was written to ${dest}\n` +
          `${lines.join('\n')}\n${(await discardDownload()).trim() || 'Check the source archive or folder.'}`,
      );
    }
    for (const f of job.stale) {
      await mkdir(path.dirname(path.join(dest, f)), { recursive: true });
      await rename(path.join(staging, f), path.join(dest, f));
    }
    progress.note(`${source.title}: ${job.stale.length} files written to ${dest}, checksums verified`);
    await discardDownload();
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Tiny ImageNet's class list and names, read from the (verified) files in the destination. */
async function readTinyNames(dest: string, checksums: ChecksumTable): Promise<Omit<ClassNames, 'glosses'>> {
  const read = async (file: string): Promise<Buffer> => {
    const full = path.join(dest, TINY_DIR, file);
    const data = await readFile(full).catch(() => undefined);
    const expected = checksums[`${TINY_DIR}/${file}`];
    if (!data || (expected !== undefined && sha256(data) !== expected)) {
      throw new SourceError(
        `the photos' class names come from Tiny ImageNet's ${file}, and ${full} is ${data ? 'not the published file' : 'missing'}; ` +
          `fetch Tiny ImageNet first: ie data fetch --dest ${dest} --only tiny`,
      );
    }
    return data;
  };
  const wnids = parseWnids((await read('wnids.txt')).toString('utf8'));
  const words = parseWords(gunzipSync(await read('words.txt.gz')).toString('utf8'));
  return { tinyWnids: wnids, words };
}
