import { readFileSync } from 'node:fs';
import path from 'node:path';
import { wordnetDir } from './paths';

/** One WordNet 3.0 noun synset. */
export interface Synset {
  /** 'n' + the 8-digit data.noun offset, the same id ImageNet uses. */
  wnid: string;
  /** Lemmas with underscores turned into spaces, original case kept. */
  lemmas: string[];
  /** Definition only; the quoted usage examples are dropped. */
  gloss: string;
  /** Direct hypernyms (class '@' and instance '@i' pointers) as wnids. */
  hypernyms: string[];
}

export interface WordNetNouns {
  /** Every unique noun lemma of index.noun, underscores → spaces, in file order. */
  lemmas: string[];
  synsets: Map<string, Synset>;
  /** Synsets of a lemma, most frequent sense first; case- and underscore-insensitive. */
  synsetsOfLemma(lemma: string): Synset[];
  /** All ancestors of a synset (breadth first, deduplicated) up to the root; excludes the synset itself. */
  hypernymChain(wnid: string): Synset[];
}

const memo = new Map<string, WordNetNouns>();

/** Parses index.noun and data.noun once per folder and keeps the result for the life of the process. */
export function loadNouns(dir: string = wordnetDir()): WordNetNouns {
  const key = path.resolve(dir);
  let nouns = memo.get(key);
  if (!nouns) {
    nouns = parseNouns(key);
    memo.set(key, nouns);
  }
  return nouns;
}

/** Ancestors of `wnid` in the default WordNet folder. */
export function hypernymChain(wnid: string): Synset[] {
  return loadNouns().hypernymChain(wnid);
}

function parseNouns(dir: string): WordNetNouns {
  const synsets = parseData(readFileSync(path.join(dir, 'data.noun'), 'utf8'));
  const { lemmas, sensesOf } = parseIndex(readFileSync(path.join(dir, 'index.noun'), 'utf8'));

  const synsetsOfLemma = (lemma: string): Synset[] => {
    const wnids = sensesOf.get(normaliseLemma(lemma)) ?? [];
    return wnids.map((id) => synsets.get(id)).filter((s): s is Synset => s !== undefined);
  };

  const chainOf = (wnid: string): Synset[] => {
    const seen = new Set<string>([wnid]);
    const out: Synset[] = [];
    const queue = [...(synsets.get(wnid)?.hypernyms ?? [])];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i];
      if (seen.has(id)) continue;
      seen.add(id);
      const s = synsets.get(id);
      if (!s) continue;
      out.push(s);
      queue.push(...s.hypernyms);
    }
    return out;
  };

  return { lemmas, synsets, synsetsOfLemma, hypernymChain: chainOf };
}

function normaliseLemma(lemma: string): string {
  return lemma
    .trim()
    .toLowerCase()
    .replace(/[_\s]+/g, ' ');
}

/** index.noun line: lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset... */
function parseIndex(text: string): { lemmas: string[]; sensesOf: Map<string, string[]> } {
  const lemmas: string[] = [];
  const sensesOf = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    // The licence header lines start with two spaces.
    if (line.length === 0 || line.charCodeAt(0) === 32) continue;
    const t = line.trimEnd().split(' ');
    const lemma = t[0].replace(/_/g, ' ');
    const synsetCount = Number(t[2]);
    if (sensesOf.has(lemma)) continue;
    lemmas.push(lemma);
    sensesOf.set(
      lemma,
      t.slice(t.length - synsetCount).map((offset) => 'n' + offset),
    );
  }
  return { lemmas, sensesOf };
}

/** data.noun line: offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [sym offset pos src/tgt]... | gloss */
function parseData(text: string): Map<string, Synset> {
  const synsets = new Map<string, Synset>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.charCodeAt(0) === 32) continue;
    const bar = line.indexOf(' | ');
    const head = (bar >= 0 ? line.slice(0, bar) : line).split(' ');
    const wnid = 'n' + head[0];
    const wordCount = parseInt(head[3], 16);
    const lemmas: string[] = [];
    let i = 4;
    for (let w = 0; w < wordCount; w++, i += 2) lemmas.push(head[i].replace(/_/g, ' '));
    const pointerCount = Number(head[i++]);
    const hypernyms: string[] = [];
    for (let p = 0; p < pointerCount; p++, i += 4) {
      const symbol = head[i];
      if ((symbol === '@' || symbol === '@i') && head[i + 2] === 'n') hypernyms.push('n' + head[i + 1]);
    }
    const gloss = bar >= 0 ? definitionOnly(line.slice(bar + 3)) : '';
    synsets.set(wnid, { wnid, lemmas, gloss, hypernyms });
  }
  return synsets;
}

/** Glosses are 'definition; "example"; "example"': keep the part before the first quoted example. */
function definitionOnly(gloss: string): string {
  const m = /(^|;\s*)"/.exec(gloss);
  const def = m ? gloss.slice(0, m.index) : gloss;
  return def.trim().replace(/;+$/, '').trim();
}
