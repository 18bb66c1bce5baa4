import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ManifestRecord } from './corpus';
import { SearchIndex } from './search-index';
import { writeFileAtomic } from '../lib/files';
import { logger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/paths';

const log = logger.child({ component: 'engine' });

/** Files whose code decides what the index holds: the tokenizer, the index itself, and the packages (minisearch). */
const INDEX_CODE = ['engine/text.ts', 'engine/search-index.ts', 'package-lock.json'];
const INFIX = 'search-index-';

/**
 * The engine's search index, kept on disk beside its manifest: building it takes ~9 s of CPU for the
 * default corpus's 101,000 captions at every engine start, loading the kept copy a third of that
 * (docs/benchmarks.md). The copy is `<manifest>.search-index-<hash>.json` in the manifest's folder (or
 * `cacheDir`), so it goes where the corpus goes; <hash> covers the records' keys and captions in order with
 * the code that indexes them, so a changed corpus, tokenizer or minisearch version builds a new one, which
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
  const file = path.join(cacheDir, `${prefix}${await contentHash(records)}.json`);
  const kept = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (kept !== undefined) {
    try {
      return { index: await SearchIndex.fromJSON(records, kept), loaded: true };
    } catch (error) {
      log.warn({ err: error, file }, 'the kept search index could not be read back; building it again');
    }
  }
  const index = SearchIndex.build(records);
  try {
    const stale = (await readdir(cacheDir).catch(() => [])).filter(
      (f) => f.startsWith(prefix) && f !== path.basename(file),
    );
    await writeFileAtomic(file, index.toJSON());
    await Promise.all(stale.map((f) => rm(path.join(cacheDir, f), { force: true })));
  } catch (error) {
    log.warn({ err: error, file }, 'could not keep the search index; the next engine start builds it again');
  }
  return { index, loaded: false };
}

async function contentHash(records: readonly ManifestRecord[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of INDEX_CODE)
    hash
      .update(file)
      .update('\0')
      .update(await readFile(path.join(PROJECT_ROOT, file)));
  for (const r of records) hash.update(r.key).update('\0').update(r.caption).update('\n');
  return hash.digest('hex').slice(0, 16);
}
