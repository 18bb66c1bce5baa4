import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { SourceError } from './source-tree';

/**
 * The WordNet 3.0 definition (the whole gloss, examples included, as classes.jsonl carries it) of each of
 * `wnids`, read from `data.noun` (wnid `nXXXXXXXX` = noun synset at byte offset XXXXXXXX).
 */
export async function readGlosses(dataNoun: string, wnids: ReadonlySet<string>): Promise<Map<string, string>> {
  const glosses = new Map<string, string>();
  const lines = createInterface({ input: createReadStream(dataNoun, 'utf8'), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.startsWith(' ')) continue; // the licence header
      const wnid = `n${line.slice(0, 8)}`;
      if (!wnids.has(wnid)) continue;
      const bar = line.indexOf(' | ');
      glosses.set(wnid, bar >= 0 ? line.slice(bar + 3).trim() : '');
    }
  } catch (err) {
    throw new SourceError(
      `cannot read WordNet's ${dataNoun} (${(err as Error).message}); install wordnet-base or set WORDNET_DIR`,
    );
  }
  const missing = [...wnids].filter((w) => !glosses.has(w));
  if (missing.length > 0) throw new SourceError(`${dataNoun} has no synset ${missing[0]} (WordNet 3.0 expected)`);
  return glosses;
}
