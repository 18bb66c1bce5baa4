import type { WordNetNouns } from '../lib/wordnet';

/** A class as described by the dataset's classes.jsonl. */
export interface ClassInfo {
  wnid: string;
  name: string;
  lemmas: string[];
  gloss: string;
}

/**
 * The text a web page would carry next to a photo of this class: its names first (the title),
 * then the WordNet definition, then the more general names it goes by (its hypernym chain).
 */
export function classCaption(cls: ClassInfo, wordnet: WordNetNouns): string {
  const synset = wordnet.synsets.get(cls.wnid);
  const names = unique(cls.lemmas.length > 0 ? cls.lemmas : (synset?.lemmas ?? [cls.name]));
  const gloss = synset?.gloss ?? cls.gloss;
  const broader = unique(wordnet.hypernymChain(cls.wnid).flatMap((s) => s.lemmas)).filter((l) => !names.includes(l));
  const parts = [names.join(', ')];
  if (gloss) parts.push(gloss);
  if (broader.length > 0) parts.push(broader.join(', '));
  return parts.join('. ');
}

/** The short title a results page shows: the caption's first name. */
export function captionTitle(caption: string): string {
  const first = caption.split(/[,;:\n]|\.\s/, 1)[0].trim();
  return first.length > 80 ? first.slice(0, 77) + '...' : first;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
