/**
 * What a worker loads before it polls: tables every activity of the run shares and that take seconds of
 * one-off parsing (WordNet's nouns, the word vectors' 307 MB JSON, the taxonomy the concept features are
 * made of). Loaded here, that work never blocks a
 * running activity's event loop, so its heartbeats (activities/heartbeat.ts) are never late; each table is
 * loaded once per process and kept (the word vectors ≈ 140 MB resident).
 */
import { loadNouns } from '../lib/wordnet';
import { loadWordVectors } from './concepts/word-vectors';
import { warmUpTaxonomy } from './concepts/taxonomy';

export async function warmUpActivities(): Promise<void> {
  loadNouns();
  await loadWordVectors();
  await warmUpTaxonomy();
}
