import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { writeShards } from '../../activities/download/shards';

async function entries(file: string): Promise<{ name: string; body: Buffer }[]> {
  const extract = tar.extract();
  const out: { name: string; body: Buffer }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ name: header.name, body: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(fs.readFileSync(file));
  await done;
  return out;
}

test('samples become webdataset shards of key.jpg + key.json; a shorter rewrite removes stale shards', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-shards-'));
  const jpegs = Array.from({ length: 5 }, (_, i) => {
    const p = path.join(dir, `src-${i}.jpg`);
    fs.writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, i]));
    return p;
  });
  const samples = jpegs.map((jpegPath, i) => ({ key: `k${i}`, jpegPath, meta: { i, url: `http://x/${i}` } }));
  const out = path.join(dir, 'shards');
  const written = await writeShards(out, samples, 2);
  expect(written.map((f) => path.basename(f))).toEqual(['00000.tar', '00001.tar', '00002.tar']);
  const first = await entries(written[0]);
  expect(first.map((e) => e.name)).toEqual(['k0.jpg', 'k0.json', 'k1.jpg', 'k1.json']);
  expect(first[2].body).toEqual(Buffer.from([0xff, 0xd8, 0xff, 1]));
  expect(JSON.parse(first[3].body.toString())).toEqual({ i: 1, url: 'http://x/1' });

  await writeShards(out, samples.slice(0, 3), 2);
  expect(fs.readdirSync(out).sort()).toEqual(['00000.tar', '00001.tar']);
  fs.rmSync(dir, { recursive: true, force: true });
});
