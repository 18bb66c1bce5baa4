/**
 * Relevance ground truth for the benchmark: which corpus class each downloaded image belongs to, and
 * which corpus classes a target's class folders stand for. Only the benchmark reads these labels; a run
 * never does (the engine ranks by caption alone).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadManifest } from '../../engine/corpus';
import { datasetsDir } from '../../lib/paths';

export class RelevanceError extends Error {
  override readonly name = 'RelevanceError';
}

/** A corpus class as `classes.jsonl` describes it. */
export interface CorpusClass {
  wnid: string;
  name: string;
  lemmas: string[];
  /** Label in Tiny ImageNet, null for classes outside it. */
  tinyLabel: number | null;
}

/** Reads `classes.jsonl` (one `{wnid, name, lemmas}` object per line). */
export function loadCorpusClasses(file: string = path.join(datasetsDir(), 'classes.jsonl')): CorpusClass[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RelevanceError(`cannot read corpus classes ${file}: ${(error as Error).message}`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const row = JSON.parse(line) as Partial<CorpusClass> & { tiny_label?: number | null };
      if (typeof row.wnid !== 'string' || typeof row.name !== 'string') {
        throw new RelevanceError(`${file}:${i + 1}: a class needs string 'wnid' and 'name'`);
      }
      return {
        wnid: row.wnid,
        name: row.name,
        lemmas: Array.isArray(row.lemmas) ? row.lemmas : [],
        tinyLabel: typeof row.tiny_label === 'number' ? row.tiny_label : null,
      };
    });
}

/** A class name in folder form: spaces as underscores, case ignored ("Golden Retriever" → "golden_retriever"). */
export function folderForm(name: string): string {
  return name.trim().replace(/\s+/g, '_').toLowerCase();
}

const WNID_PREFIX = /^(n\d{8})(?:$|[_\-\s.])/i;

/**
 * Maps each target class folder to a corpus class: by WordNet id (`n02085620`, or a folder that starts
 * with it, `n02085620_Chihuahua`), else by the class's name in folder form (`golden_retriever`), else by
 * one of its other lemmas. A folder that matches nothing, or a name shared by several classes, is an
 * error that says how to name the folder instead.
 */
export function matchTargetClasses(folders: string[], classes: CorpusClass[]): Map<string, string> {
  const byWnid = new Map(classes.map((c) => [c.wnid.toLowerCase(), c.wnid]));
  const index = (names: (c: CorpusClass) => string[]) => {
    const out = new Map<string, Set<string>>();
    for (const c of classes) {
      for (const n of names(c)) out.set(folderForm(n), (out.get(folderForm(n)) ?? new Set()).add(c.wnid));
    }
    return out;
  };
  const byName = index((c) => [c.name]);
  const byLemma = index((c) => c.lemmas);

  const matched = new Map<string, string>();
  const problems: string[] = [];
  for (const folder of folders) {
    const prefix = WNID_PREFIX.exec(folder)?.[1]?.toLowerCase();
    if (prefix && byWnid.has(prefix)) {
      matched.set(folder, byWnid.get(prefix) as string);
      continue;
    }
    const form = folderForm(folder);
    const rest = prefix ? folderForm(folder.slice(prefix.length + 1)) : form;
    const hits = byName.get(form) ?? byName.get(rest) ?? byLemma.get(form) ?? byLemma.get(rest);
    if (!hits) {
      problems.push(
        `'${folder}' matches no corpus class: name it by WordNet id (e.g. n02085620) or by class name with spaces as underscores (e.g. golden_retriever)`,
      );
    } else if (hits.size > 1) {
      problems.push(
        `'${folder}' names several corpus classes (${[...hits].join(', ')}): name it by WordNet id instead`,
      );
    } else {
      matched.set(folder, [...hits][0]);
    }
  }
  if (problems.length) throw new RelevanceError(`target class folders:\n  - ${problems.join('\n  - ')}`);
  return matched;
}

/**
 * The corpus key an image URL of the local engine points at (`/images/<key>.jpg`, or a fault route
 * `/faults/<kind>/<key>.jpg`), or null for any other URL.
 */
export function corpusKeyOfUrl(url: string): string | null {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return null;
  }
  let encoded: string | undefined;
  if (pathname.startsWith('/images/') && pathname.endsWith('.jpg')) {
    encoded = pathname.slice('/images/'.length, -'.jpg'.length);
  } else if (pathname.startsWith('/faults/') && pathname.endsWith('.jpg')) {
    const rest = pathname.slice('/faults/'.length, -'.jpg'.length);
    const slash = rest.indexOf('/');
    encoded = slash > 0 ? rest.slice(slash + 1) : undefined;
  }
  if (!encoded) return null;
  try {
    return encoded.split('/').map(decodeURIComponent).join('/');
  } catch {
    return null;
  }
}

/** Corpus key → class (WordNet id), from the manifest's `meta.wnid`. */
export class CorpusLabels {
  private constructor(private readonly classOfKey: ReadonlyMap<string, string>) {}

  static fromEntries(entries: Iterable<[string, string]>): CorpusLabels {
    return new CorpusLabels(new Map(entries));
  }

  static async load(manifestPath: string): Promise<CorpusLabels> {
    const records = await loadManifest(manifestPath);
    const labelled = records.filter((r) => typeof r.meta?.wnid === 'string');
    if (labelled.length === 0) {
      throw new RelevanceError(
        `corpus manifest ${manifestPath} has no class labels (meta.wnid) on any record, so relevance cannot be scored`,
      );
    }
    return new CorpusLabels(new Map(labelled.map((r) => [r.key, r.meta?.wnid as string])));
  }

  get size(): number {
    return this.classOfKey.size;
  }

  /** Class of the image a URL points at; null when the URL is not a labelled corpus image. */
  classOfUrl(url: string): string | null {
    const key = corpusKeyOfUrl(url);
    return key === null ? null : (this.classOfKey.get(key) ?? null);
  }

  /** Images per class, for reporting how many relevant images the corpus holds at all. */
  countClasses(wnids: Iterable<string>): number {
    const wanted = new Set(wnids);
    let n = 0;
    for (const wnid of this.classOfKey.values()) if (wanted.has(wnid)) n++;
    return n;
  }
}

/** One downloaded image of an iteration with every URL that delivered its bytes. */
export interface DownloadedImage {
  sha256: string;
  urls: string[];
}

export interface Relevance {
  /** Distinct images. */
  downloaded: number;
  /** Images whose corpus class is one of the target's. */
  relevant: number;
  /** Images no URL of which is a labelled corpus image: counted as not relevant, and reported. */
  unlabelled: number;
  /** relevant / downloaded; null when nothing was downloaded. */
  precision: number | null;
}

/**
 * Relevance precision of a set of downloaded images. An image is relevant when any URL that delivered
 * its bytes is a corpus image of a target class (byte-identical copies can sit in two classes).
 */
export function relevancePrecision(
  images: DownloadedImage[],
  labels: CorpusLabels,
  targetClasses: ReadonlySet<string>,
): Relevance {
  let relevant = 0;
  let unlabelled = 0;
  for (const image of images) {
    const classes = image.urls.map((u) => labels.classOfUrl(u)).filter((c): c is string => c !== null);
    if (classes.length === 0) unlabelled++;
    else if (classes.some((c) => targetClasses.has(c))) relevant++;
  }
  return {
    downloaded: images.length,
    relevant,
    unlabelled,
    precision: images.length ? relevant / images.length : null,
  };
}
