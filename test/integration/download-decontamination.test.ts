import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { db } from '../../lib/db';
import { prepareRun } from '../../activities/stages/run';
import { downloadCandidates } from '../../activities/stages/download';
import { sha256 } from '../../activities/store/content-store';
import { prepareValTarget, PETS_CLASSES } from '../../lib/targets';
import { smallPetsTarget, uniqueId, useTestEnvironment } from './harness';

// A small "web" on 127.0.0.1, standing in for the local engine (search.baseUrl, so it is allowed): one
// target image re-encoded and resized (other bytes, same picture), real distinct photos, and the usual
// junk. The search stage is stood in for by writing this iteration's queries and results directly.
let server: Server;
let web: string;
const pages = new Map<string, { status: number; body: Buffer; headers?: Record<string, string> }>();
const hits = new Map<string, number>();

useTestEnvironment('download_decontamination');

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = req.url ?? '/';
    hits.set(key, (hits.get(key) ?? 0) + 1);
    const page = pages.get(key) ?? { status: 404, body: Buffer.from('not found') };
    res.writeHead(page.status, page.headers).end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  web = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

test('a target image planted on the web never becomes a candidate and is recorded as near_duplicate_of_target', async () => {
  const target = smallPetsTarget();
  const files = listImages(target);
  const planted = fs.readFileSync(files[3]);
  // The planted copy: twice the size, re-encoded at another quality: different bytes, same picture.
  const copy = await sharp(planted).resize(128, 128).jpeg({ quality: 70 }).toBuffer();
  expect(sha256(copy)).not.toBe(sha256(planted));
  // Distinct photos from the validation split, of classes the target does not have.
  const others = otherValidationImages(6);
  const tiny = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#888' } })
    .png()
    .toBuffer();

  pages.set('/planted.jpg', { status: 200, body: copy, headers: { 'Content-Type': 'image/jpeg' } });
  others.forEach((body, i) => pages.set(`/photo-${i}.jpg`, { status: 200, body }));
  pages.set('/page.jpg', { status: 200, body: Buffer.from('<html><body>an HTML page</body></html>') });
  pages.set('/tiny.png', { status: 200, body: tiny });
  pages.set('/busy.jpg', { status: 503, body: Buffer.from('busy') });
  pages.set('/gone.jpg', { status: 404, body: Buffer.from('gone') });
  pages.set('/to-metadata', {
    status: 302,
    body: Buffer.alloc(0),
    headers: { Location: 'http://169.254.169.254/latest/meta-data/' },
  });
  const paths = [
    '/planted.jpg',
    ...others.map((_, i) => `/photo-${i}.jpg`),
    '/page.jpg',
    '/tiny.png',
    '/busy.jpg',
    '/gone.jpg',
    '/to-metadata',
  ];

  const runId = uniqueId('it-decontam');
  const shardsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-decontam-shards-'));
  await prepareRun({
    runId,
    config: {
      target,
      iterations: 2,
      resultsPerQuery: 20,
      search: { baseUrl: web },
      download: { retries: 0, backoffMs: 0, writeShards: true, shardsDir },
      train: { initCheckpoint: 'none' },
    },
  });
  // Target images get their perceptual hash when the run is prepared.
  const targets = await db().targetImage.findMany({ where: { runId } });
  const targetImages = await db().image.findMany({ where: { sha256: { in: targets.map((t) => t.sha256) } } });
  expect(targetImages.every((i) => /^[0-9a-f]{16}$/.test(i.phash ?? ''))).toBe(true);

  // Two concepts' queries found these URLs (as the search stage would have written them).
  const plantedTargetSha = sha256(planted);
  for (const iteration of [0, 1]) {
    await db().iteration.create({ data: { runId, index: iteration, status: 'running', stage: 'download' } });
    for (const [conceptId, slice] of [
      [10, paths.slice(0, 6)],
      [11, paths.slice(4)],
    ] as const) {
      const key = `decontam ${conceptId}`;
      await db().query.create({
        data: { runId, iteration, conceptId, text: key, searchKey: key, provider: 'local', results: slice.length },
      });
      await db().searchResponse.upsert({
        where: { provider_query_page: { provider: 'local', query: key, page: 0 } },
        create: {
          provider: 'local',
          query: key,
          pageSize: 100,
          total: slice.length,
          last: true,
          results: { create: slice.map((p, rank) => ({ rank, url: `${web}${p}` })) },
        },
        update: {},
      });
    }
  }

  const first = await downloadCandidates({ runId, iteration: 0 });
  expect(first.reasons).toEqual({
    ok: 6,
    near_duplicate_of_target: 1,
    not_an_image: 1,
    too_small: 1,
    http_503: 1,
    http_404: 1,
    blocked_address: 1,
  });
  expect(first).toMatchObject({ urls: 12, fetched: 12, excluded: 1, downloaded: 6, failed: 5 });

  // The planted copy has no Candidate (so no training, no scoring), and its exclusion names the target.
  const copySha = sha256(copy);
  expect(await db().candidate.count({ where: { runId, sha256: copySha } })).toBe(0);
  expect(await db().candidate.count({ where: { runId, iteration: 0 } })).toBe(5 + 3); // photo-3 and photo-4 found by both
  const exclusion = await db().exclusion.findFirstOrThrow({ where: { runId, url: `${web}/planted.jpg` } });
  expect(exclusion).toMatchObject({ reason: 'near_duplicate_of_target', sha256: copySha, iteration: 0 });
  expect(exclusion.targetSha256).toBe(plantedTargetSha);
  expect(exclusion.distance).toBeLessThanOrEqual(5);

  // The iteration's shard holds the 6 kept photos, not the planted copy.
  expect(first.shards).toHaveLength(1);
  const shard = fs.readFileSync((first.shards as string[])[0]).toString('latin1');
  expect(shard).not.toContain(`${copySha}.jpg`);
  expect(await db().candidate.findMany({ where: { runId, iteration: 0 }, distinct: ['sha256'] })).toHaveLength(6);
  for (const c of await db().candidate.findMany({ where: { runId, iteration: 0 } })) {
    expect(shard).toContain(`${c.sha256}.jpg`);
  }

  // Outcomes are classified: only the 503 is retryable.
  const fetches = await db().fetch.findMany({ where: { url: { startsWith: web } } });
  const retryable = fetches.filter((f) => f.retryable).map((f) => f.url);
  expect(retryable).toEqual([`${web}/busy.jpg`]);
  expect(fetches.find((f) => f.url.endsWith('/to-metadata'))?.detail).toContain('169.254.169.254');

  // Next iteration, same URLs: only the retryable failure is fetched again; it has recovered.
  pages.set('/busy.jpg', { status: 200, body: others[0] });
  const before = new Map(hits);
  const second = await downloadCandidates({ runId, iteration: 1 });
  const refetched = [...hits].filter(([p, n]) => n !== (before.get(p) ?? 0)).map(([p]) => p);
  expect(refetched).toEqual(['/busy.jpg']);
  expect(second).toMatchObject({ fetched: 1, reused: 11, excluded: 1 });
  expect(second.reasons).toMatchObject({ near_duplicate_of_target: 1, duplicate: 1 });
  expect(second.reasons.http_503).toBeUndefined();
  expect(await db().candidate.count({ where: { runId, sha256: copySha } })).toBe(0);
  expect(await db().exclusion.count({ where: { runId } })).toBe(2);
});

function listImages(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listImages(p));
    else if (/\.(jpe?g|png)$/i.test(entry.name)) out.push(p);
  }
  return out;
}

/** `n` validation images of pet classes the target does not have (3 classes × n/3). */
function otherValidationImages(n: number): Buffer[] {
  const classes = Object.fromEntries(Object.entries(PETS_CLASSES).slice(3, 6));
  return listImages(prepareValTarget(`pets-others-${n}`, classes, Math.ceil(n / 3)))
    .slice(0, n)
    .map((f) => fs.readFileSync(f));
}
