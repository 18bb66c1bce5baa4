/**
 * Carves a labelled benchmark target from the validation split (which the search corpus never holds):
 * every Tiny ImageNet class under a WordNet synset, e.g. all birds or all motor vehicles.
 *
 *   node --import tsx bench/learning/carve.ts <name> <wnid-or-lemma> [perClass]
 */
import path from 'node:path';
import { prepareValTarget } from '../../lib/targets';
import { CLASSES_FILE } from '../../lib/datasets/layout';
import { DatasetsMissingError, requireDatasets } from '../../lib/datasets/require';
import { loadNouns } from '../../lib/wordnet';
import { loadCorpusClasses, RelevanceError } from './relevance';
import { benchArgs, numberOption } from '../options';

/** Tiny ImageNet classes (wnid → name in folder form) that are kinds of `ancestor` (a wnid or a noun lemma). */
export function classesUnder(ancestor: string, classesPath?: string): Record<string, string> {
  const classesFile = classesPath ?? path.join(requireDatasets([CLASSES_FILE]), CLASSES_FILE);
  const nouns = loadNouns();
  const roots = /^n\d{8}$/.test(ancestor)
    ? new Set([ancestor])
    : new Set(nouns.synsetsOfLemma(ancestor.replace(/_/g, ' ')).map((s) => s.wnid));
  if (roots.size === 0) throw new RelevanceError(`'${ancestor}' is no WordNet noun: give a lemma (bird) or a wnid`);
  const tiny = loadCorpusClasses(classesFile).filter((c) => c.tinyLabel !== null);
  const out: Record<string, string> = {};
  for (const c of tiny) {
    if (nouns.hypernymChain(c.wnid).some((s) => roots.has(s.wnid))) out[c.wnid] = c.name.replace(/\s+/g, '_');
  }
  if (Object.keys(out).length < 2) {
    throw new RelevanceError(`fewer than 2 Tiny ImageNet classes lie under '${ancestor}': pick a broader synset`);
  }
  return out;
}

if (require.main === module) {
  const usage = 'node --import tsx bench/learning/carve.ts <name> <wnid-or-lemma> [perClass]';
  const [name, ancestor, perClass] = benchArgs(usage, {}, { min: 2, max: 3 }).positionals;
  const images = perClass === undefined ? 50 : numberOption(perClass, 'perClass', 'perClass (images per class)');
  try {
    const classes = classesUnder(ancestor);
    const dir = prepareValTarget(name, classes, images);
    process.stdout.write(`${dir}: ${Object.values(classes).join(', ')}\n`);
  } catch (err) {
    if (!(err instanceof DatasetsMissingError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
}
