import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { writeFileAtomic } from '../lib/files';

/**
 * One image of a corpus manifest (one JSON object per line). The bytes are `size` bytes at `offset`
 * of the uncompressed `file`. `meta` is ground truth kept for benchmark scoring only: ranking never reads it.
 */
export const manifestRecordSchema = z.object({
  key: z.string().min(1),
  caption: z.string(),
  file: z.string().min(1),
  offset: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  meta: z.object({ wnid: z.string().optional() }).loose().optional(),
});

export type ManifestRecord = z.infer<typeof manifestRecordSchema>;

/** Reads and validates a JSONL manifest; relative `file` paths resolve against the manifest's folder. */
export async function loadManifest(manifestPath: string): Promise<ManifestRecord[]> {
  const base = path.dirname(path.resolve(manifestPath));
  const records: ManifestRecord[] = [];
  const keys = new Set<string>();
  // A corpus names a handful of archives for ~100k records: resolve each name once.
  const resolved = new Map<string, string>();
  const lines = createInterface({ input: createReadStream(manifestPath, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new Error(
        `${manifestPath}:${lineNo}: not valid JSON (${(err as Error).message}); ` +
          'each line of a manifest is one record: rebuild the corpus or mend that line',
      );
    }
    const parsed = manifestRecordSchema.safeParse(json);
    if (!parsed.success) {
      throw new Error(`${manifestPath}:${lineNo}: invalid manifest record: ${parsed.error.message}`);
    }
    const record = parsed.data;
    if (keys.has(record.key)) throw new Error(`${manifestPath}:${lineNo}: duplicate key ${record.key}`);
    keys.add(record.key);
    let file = resolved.get(record.file);
    if (file === undefined) resolved.set(record.file, (file = path.resolve(base, record.file)));
    records.push({ ...record, file });
  }
  return records;
}

/** Writes a manifest atomically (temp file + rename) so readers never see a half-written file. */
export async function writeManifest(manifestPath: string, records: readonly ManifestRecord[]): Promise<void> {
  await writeFileAtomic(manifestPath, records.map((r) => JSON.stringify(r) + '\n').join(''));
}
