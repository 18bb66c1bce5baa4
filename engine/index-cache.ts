import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ManifestRecord } from './corpus';
import { SearchIndex } from './search-index';
import { hashFiles, removeOtherVersions, writeFileAtomic } from '../lib/files';
import { logger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/paths';

const log = logger.child({ component: 'engine' });

/** Files whose code decides what the index holds: the tokenizer and the index itself. */
const INDEX_CODE = ['engine/text.ts', 'engine/search-index.ts'];
/** The installed minisearch's manifest (its version decides the serialised format). */
const MINISEARCH_PACKAGE = 'node_modules/minisearch/package.json';
const INFIX = 'search-index-';
/** What follows `<manifest>.search-index-` in a finished copy's name. */
const COPY_SUFFIX = /^[0-9a-f]{16}\.json$/;

/**
 * The engine's search index, kept on disk beside its manifest: building it takes ~9 s of CPU for the
 * default corpus's 101,000 captions at every engine start, loading the kept copy a third of that
 * (docs/benchmarks.md). The copy is `<manifest>.search-index-<hash>.json` in the manifest's folder (or
 * `cacheDir`), so it goes where the corpus goes; <hash> covers the records' keys and captions in order with
 * the code that indexes them, so a changed corpus, tokenizer, minisearch or Unicode version builds a new one, which
 * replaces the manifest's older copies (one file per manifest, about a third of the manifest's size). A copy
 * that cannot be read back is rebuilt, with a warning; one that cannot be written (a read-only corpus
 * folder) costs each start a build, with a warning.
 */
export async function openSearchIndex(
  manifestPath: string,
  records: readonly ManifestRecord[],
  cacheDir = path.dirname(path.resolve(manifestPath)),
): Promise<{ index: SearchIndex; loaded: boolean }> {
  const prefix = `${path.basename(manifestPath)}.${INFIX}`;
  let hash: string;
  try {
    hash = await contentHash(records);
  } catch (error) {
    log.warn({ err: error, manifestPath }, 'cannot tell which search index copy fits this code; building it');
    return { index: SearchIndex.build(records), loaded: false };
  }
  const file = path.join(cacheDir, `${prefix}${hash}.json`);
  const kept = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') log.warn({ err: error, file }, 'cannot read the kept search index; building it');
    return undefined;
  });
  if (kept !== undefined) {
    try {
      return { index: SearchIndex.fromJSON(records, kept), loaded: true };
    } catch (error) {
      log.warn({ err: error, file }, 'the kept search index could not be read back; building it again');
    }
  }
  const index = SearchIndex.build(records);
  try {
    await writeFileAtomic(file, index.toJSON());
    await removeOtherVersions(cacheDir, prefix, COPY_SUFFIX, [path.basename(file)]);
  } catch (error) {
    log.warn({ err: error, file }, 'could not keep the search index; the next engine start builds it again');
  }
  return { index, loaded: false };
}

/**
 * sha256 over what decides the index: its code, the minisearch version, the Unicode version (the tokenizer's
 * letter classes and lower-casing) and the records' keys and captions in order (document ids are positions).
 */
async function contentHash(records: readonly ManifestRecord[]): Promise<string> {
  const hash = await hashFiles(createHash('sha256'), PROJECT_ROOT, [...INDEX_CODE, MINISEARCH_PACKAGE]);
  hash.update(`unicode ${process.versions.unicode}\n`);
  for (const r of records) hash.update(r.key).update('\0').update(r.caption).update('\n');
  return hash.digest('hex').slice(0, 16);
}
