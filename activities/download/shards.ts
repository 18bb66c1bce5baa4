import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** One kept image and its metadata, as a webdataset sample: `<key>.jpg` and `<key>.json`. */
export interface ShardSample {
  key: string;
  jpegPath: string;
  meta: Record<string, unknown>;
}

/**
 * Writes samples as webdataset-style tar shards `00000.tar`, `00001.tar`, … of at most `perShard`
 * samples each, in the order given. Each shard is written to a temporary name and renamed into place,
 * so a killed writer never leaves a truncated shard; shards left over from an earlier, longer write are
 * removed. Returns the shard paths.
 */
export async function writeShards(dir: string, samples: ShardSample[], perShard: number): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (let start = 0, index = 0; start < samples.length; start += perShard, index++) {
    const file = path.join(dir, `${String(index).padStart(5, '0')}.tar`);
    await writeShard(file, samples.slice(start, start + perShard));
    written.push(file);
  }
  const keep = new Set(written.map((f) => path.basename(f)));
  for (const name of await fs.readdir(dir)) {
    if ((/^\d{5}\.tar$/.test(name) && !keep.has(name)) || name.endsWith('.tmp')) {
      await fs.rm(path.join(dir, name), { force: true });
    }
  }
  return written;
}

async function writeShard(file: string, samples: ShardSample[]): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(tmp));
  try {
    for (const sample of samples) {
      const jpeg = await fs.readFile(sample.jpegPath);
      await addEntry(pack, `${sample.key}.jpg`, jpeg);
      await addEntry(pack, `${sample.key}.json`, Buffer.from(JSON.stringify(sample.meta)));
    }
    pack.finalize();
    await done;
    await fs.rename(tmp, file);
  } catch (error) {
    pack.destroy();
    await done.catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

function addEntry(pack: tar.Pack, name: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: body.length, mtime: new Date(0), mode: 0o644 }, body, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}
