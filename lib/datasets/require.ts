import fs from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../errors';
import { datasetsDir } from '../paths';
import { DEFAULT_CORPUS_FILES, filesOf, SUBSETS, subsetOf, tinySplitFiles } from './layout';

/** Files of the offline datasets a command needs are not there; the message says which and how to get them. */
export class DatasetsMissingError extends BadInputError {
  override readonly name = 'DatasetsMissingError';
}

/** A path as a shell would need it typed (quoted only when it has to be). */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Checks that every one of `files` (relative to the datasets folder) exists, before a command starts any
 * work that needs them. Throws one line naming the first missing file, the folder's setting and the
 * command that fetches them. Returns the folder.
 */
export function requireDatasets(files: readonly string[], dir: string = datasetsDir()): string {
  const missing = [...new Set(files)].filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length === 0) return dir;
  const setting =
    process.env.IE_DATASETS_DIR === undefined
      ? 'IE_DATASETS_DIR is not set; the default is ../shared/datasets next to the repository'
      : `IE_DATASETS_DIR=${process.env.IE_DATASETS_DIR}`;
  // Name the one subset to fetch when everything else is in place (the photos need Tiny ImageNet's names).
  const subsets = SUBSETS.filter((s) => missing.some((f) => subsetOf(f) === s));
  const others = SUBSETS.filter((s) => s !== subsets[0]).flatMap((s) => filesOf(s));
  const othersThere = others.every((f) => fs.existsSync(path.join(dir, f)));
  const only = subsets.length === 1 && othersThere ? ` --only ${subsets[0]}` : '';
  const more = missing.length > 1 ? ` and ${missing.length - 1} more file${missing.length > 2 ? 's' : ''} are` : ' is';
  throw new DatasetsMissingError(
    `datasets not found: ${path.join(dir, missing[0])}${more} missing (${setting}); ` +
      `fetch them with: ie data fetch --dest ${shellWord(dir)}${only}`,
  );
}

/**
 * The datasets a run on the built-in pieces reads, checked before anything starts: the pets target (carved
 * from val) unless the run has its own target, and the default corpus unless an engine of the user's
 * (`IE_ENGINE_URL`) serves the web.
 */
export function requireRunDatasets(opts: { ownTarget: boolean; ownEngine?: boolean }): void {
  const ownEngine = opts.ownEngine ?? process.env.IE_ENGINE_URL !== undefined;
  requireDatasets([...(opts.ownTarget ? [] : tinySplitFiles('val')), ...(ownEngine ? [] : DEFAULT_CORPUS_FILES)]);
}
