import { shardOf } from '../../activities/download/shard-plan';

test('a host keeps all its URLs in one shard; the run engine is spread by URL; every shard is stable', () => {
  const urls = Array.from({ length: 200 }, (_, i) => `https://img.example.org/photos/${i}.jpg`);
  const none = new Set<string>();
  expect(new Set(urls.map((u) => shardOf(u, 8, none))).size).toBe(1);
  const engine = new Set(['img.example.org']);
  const spread = urls.map((u) => shardOf(u, 8, engine));
  expect(new Set(spread).size).toBe(8);
  // No shard far from its share (25 of 200).
  for (let s = 0; s < 8; s++) expect(spread.filter((x) => x === s).length).toBeGreaterThan(10);
  expect(urls.map((u) => shardOf(u, 8, engine))).toEqual(spread);
  expect(shardOf('not a url', 4, none)).toBeLessThan(4);
});
