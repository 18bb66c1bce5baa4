import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Reads a small JSON Lines file (optionally gzipped) whole; meant for dataset indexes of a few MB. */
export function readJsonl<T>(file: string): T[] {
  const raw = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(raw) : raw)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
