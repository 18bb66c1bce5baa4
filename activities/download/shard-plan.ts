import { createHash } from 'node:crypto';

/**
 * Which of `shards` download shards fetches `url`: a host's URLs all go to one shard, so the per-host limits
 * (concurrency, requests per second, Retry-After) that one activity keeps hold for the host whichever io worker
 * runs it; hosts in `spread` (the run's own engine, exempt from those limits) are spread over every shard by URL.
 * Stable across attempts and workers (a hash, not an order), so a retried shard fetches the same URLs.
 */
export function shardOf(url: string, shards: number, spread: ReadonlySet<string>): number {
  let key = url;
  try {
    const host = new URL(url).host;
    if (!spread.has(host)) key = host;
  } catch {
    // not a URL: its fetch records why; any shard will do
  }
  return createHash('sha1').update(key).digest().readUInt32BE(0) % shards;
}
