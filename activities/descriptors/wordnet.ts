import { loadNouns, type WordNetNouns } from '../../lib/wordnet';

/** Words that end the descriptive head of a gloss ("a small slender breed of …" → "small slender"). */
const HEAD_STOP = new Set(
  'of that which who whose where when for in into from by to as at on made used consisting having with or and breed kind type variety species member form sort genus family group'.split(
    ' ',
  ),
);
/** Words that end a "with …" phrase ("with a grey or tawny coat mottled with black" stops at the second with). */
const PHRASE_STOP = new Set(
  'that which who whose where when for from by to as especially used e.g e.g. i.e'.split(' '),
);
const ARTICLES = new Set(['a', 'an', 'the', 'any']);
const MAX_WORDS = 6;

/**
 * Offline visual descriptors from WordNet: the most common sense's direct hypernym ("golden retriever" →
 * "retriever"), the adjectives heading its gloss ("a small short-legged smooth-coated breed of hound" →
 * "small short-legged smooth-coated") and its "with/having …" phrase ("having a long silky golden coat" →
 * "with long silky golden coat"). Empty when WordNet does not know the concept.
 */
export function wordnetDescriptors(concept: string, nouns: WordNetNouns = loadNouns()): string[] {
  const [sense] = nouns.synsetsOfLemma(concept);
  if (!sense) return [];
  const out: string[] = [];
  const parent = sense.hypernyms[0] ? nouns.synsets.get(sense.hypernyms[0]) : undefined;
  if (parent?.lemmas[0]) out.push(parent.lemmas[0]);
  const clause = firstClause(sense.gloss);
  const head = glossHead(clause);
  if (head) out.push(head);
  const phrase = withPhrase(clause);
  if (phrase) out.push(phrase);
  return dedupe(out, concept);
}

/** The definition up to its first ';', without parentheticals. */
function firstClause(gloss: string): string {
  return gloss
    .split(';')[0]
    .replace(/\([^)]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function words(text: string): string[] {
  return text.split(' ').filter((w) => w.length > 0);
}

/** Leading descriptive words of a gloss, up to the first function word or category noun. */
function glossHead(clause: string): string | undefined {
  const head: string[] = [];
  for (const raw of words(clause)) {
    const word = raw.replace(/[,:.]$/, '');
    if (head.length === 0 && ARTICLES.has(word.toLowerCase())) continue;
    if (HEAD_STOP.has(word.toLowerCase())) break;
    head.push(word);
    if (raw !== word || head.length >= MAX_WORDS) break;
  }
  // One generic word ("mixes", "Italian") is kept: it still narrows the search.
  return head.length > 0 && head.length <= 4 ? head.join(' ') : undefined;
}

/** The gloss's "with …" or "having …" phrase, articles dropped, at most MAX_WORDS words. */
function withPhrase(clause: string): string | undefined {
  const all = words(clause);
  const start = all.findIndex((w) => w === 'with' || w === 'having');
  if (start < 0) return undefined;
  const phrase = ['with'];
  for (const raw of all.slice(start + 1)) {
    const word = raw.replace(/[,:.]$/, '');
    if (PHRASE_STOP.has(word.toLowerCase()) || word === 'with') break;
    if (!ARTICLES.has(word.toLowerCase())) phrase.push(word);
    if (raw !== word || phrase.length >= MAX_WORDS) break;
  }
  return phrase.length > 1 ? phrase.join(' ') : undefined;
}

/** Drops empty, repeated and concept-equal descriptors, keeping the first spelling. */
export function dedupe(descriptors: string[], concept: string): string[] {
  const seen = new Set([concept.toLowerCase()]);
  const out: string[] = [];
  for (const d of descriptors) {
    const key = d.toLowerCase();
    if (!d || seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}
