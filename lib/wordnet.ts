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
  /** An instance (a named individual: a city, a person) rather than a class: its hypernym pointers are '@i'. */
  instance: boolean;
}

export interface WordNetNouns {
  /** Every unique noun lemma of index.noun, underscores → spaces, in file order. */
  lemmas: string[];
  synsets: Map<string, Synset>;
  /** Synsets of a lemma, most frequent sense first; case- and underscore-insensitive. */
  synsetsOfLemma(lemma: string): Synset[];
  /** All ancestors of a synset (breadth first, deduplicated) up to the root; excludes the synset itself. */
  hypernymChain(wnid: string): Synset[];
  /** Direct hyponyms of a synset (the inverse of `hypernyms`, instances included), as wnids. */
  hyponyms(wnid: string): string[];
  /**
   * How often each sense of a lemma was tagged in WordNet's semantic concordance (`cntlist.rev`), in the
   * order of `synsetsOfLemma`; 0 for an untagged sense, all zeros when the file is absent.
   */
  senseCounts(lemma: string): number[];
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

  let hyponymsOf: Map<string, string[]> | undefined;
  const hyponyms = (wnid: string): string[] => {
    if (!hyponymsOf) {
      hyponymsOf = new Map();
      for (const s of synsets.values()) {
        for (const h of s.hypernyms) {
          const list = hyponymsOf.get(h);
          if (list) list.push(s.wnid);
          else hyponymsOf.set(h, [s.wnid]);
        }
      }
    }
    return hyponymsOf.get(wnid) ?? [];
  };

  let counts: Map<string, Map<number, number>> | undefined;
  const senseCounts = (lemma: string): number[] => {
    counts ??= parseCounts(path.join(dir, 'cntlist.rev'));
    const key = normaliseLemma(lemma);
    const senses = sensesOf.get(key)?.length ?? 0;
    const bySense = counts.get(key.replace(/ /g, '_'));
    return Array.from({ length: senses }, (_, i) => bySense?.get(i + 1) ?? 0);
  };

  return { lemmas, synsets, synsetsOfLemma, hypernymChain: chainOf, hyponyms, senseCounts };
}

/** cntlist.rev line: `sense_key sense_number tag_cnt`; noun sense keys are `lemma%1:…`. Missing file: no counts. */
function parseCounts(file: string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [key, sense, count] = line.split(' ');
    const pct = key?.indexOf('%') ?? -1;
    if (pct < 0 || key[pct + 1] !== '1') continue;
    const lemma = key.slice(0, pct).toLowerCase();
    const bySense = out.get(lemma) ?? new Map<number, number>();
    bySense.set(Number(sense), (bySense.get(Number(sense)) ?? 0) + Number(count));
    out.set(lemma, bySense);
  }
  return out;
}

/**
 * Every synset within `maxEdges` edges of any of `wnids` in WordNet's hypernym graph, walked both ways
 * (up to hypernyms, down to hyponyms; instance links included), the starting synsets among them.
 */
export function synsetsWithin(nouns: WordNetNouns, wnids: Iterable<string>, maxEdges: number): Set<string> {
  const seen = new Set<string>();
  let frontier: string[] = [];
  for (const id of wnids) {
    if (!seen.has(id)) {
      seen.add(id);
      frontier.push(id);
    }
  }
  for (let depth = 0; depth < maxEdges && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const n of [...(nouns.synsets.get(id)?.hypernyms ?? []), ...nouns.hyponyms(id)]) {
        if (seen.has(n)) continue;
        seen.add(n);
        next.push(n);
      }
    }
    frontier = next;
  }
  return seen;
}

/** How far a concept may lie from a target class and still count as near it (`nearConcepts`). */
export const NEAR_EDGES = 4;

/**
 * Tells whether a concept (a noun lemma) is near any of the given synsets: a shortest path of at most
 * `maxEdges` edges between any of its synsets and any of them in the hypernym graph. The neighbourhood is
 * computed once per call of this factory; a name that is no WordNet noun is never near.
 */
export function nearConcepts(
  nouns: WordNetNouns,
  wnids: Iterable<string>,
  maxEdges: number = NEAR_EDGES,
): (concept: string) => boolean {
  const near = synsetsWithin(nouns, wnids, maxEdges);
  return (concept) => nouns.synsetsOfLemma(concept).some((s) => near.has(s.wnid));
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
    let instance = false;
    for (let p = 0; p < pointerCount; p++, i += 4) {
      const symbol = head[i];
      if ((symbol === '@' || symbol === '@i') && head[i + 2] === 'n') hypernyms.push('n' + head[i + 1]);
      if (symbol === '@i') instance = true;
    }
    const gloss = bar >= 0 ? definitionOnly(line.slice(bar + 3)) : '';
    synsets.set(wnid, { wnid, lemmas, gloss, hypernyms, instance });
  }
  return synsets;
}

/** Glosses are 'definition; "example"; "example"': keep the part before the first quoted example. */
function definitionOnly(gloss: string): string {
  const m = /(^|;\s*)"/.exec(gloss);
  const def = m ? gloss.slice(0, m.index) : gloss;
  return def.trim().replace(/;+$/, '').trim();
}
