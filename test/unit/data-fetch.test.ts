/**
 * `ie data fetch` against a real HTTP server serving small archives laid out like GitHub's source archives
 * of the two public datasets. The expected files come from an independent packer (Python's tarfile, gzip
 * and json: test/fixtures/datasets/reference_pack.py), so "byte for byte" means: what the published
 * folder's own tools write.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { pack } from 'tar-stream';
import { downloadFile } from '../../lib/datasets/download';
import { ChecksumMismatchError, fetchDatasets, WORK_DIR } from '../../lib/datasets/fetch';
import { type ChecksumTable, DATASET_SHA256, PUBLIC_SOURCES } from '../../lib/datasets/layout';
import { SourceError } from '../../lib/datasets/source-tree';
import { pythonExecutable } from '../../lib/paths';

const REFERENCE = path.join(__dirname, '..', 'fixtures', 'datasets', 'reference_pack.py');
const TINY = {
  n02124075: 'Egyptian cat',
  n01443537: 'goldfish, Carassius auratus',
  n02099601: 'golden retriever, café dog',
};
const DISTRACTOR = { n01440764: 'tench, Tinca tinca' };

type Tree = Map<string, Buffer>;

let colour = 0;
async function jpeg(width = 8, height = 8, grey = false): Promise<Buffer> {
  colour += 37;
  const img = sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: colour % 256, g: (colour * 3) % 256, b: (colour * 7) % 256 },
    },
  });
  return (grey ? img.grayscale() : img).jpeg({ quality: 75 }).toBuffer();
}

/** A small Tiny ImageNet tree: 3 classes (wnids.txt not sorted), image numbers that sort differently as text, duplicates, a missing box. */
async function tinyTree(): Promise<Tree> {
  const tree: Tree = new Map();
  const words = { ...TINY, ...DISTRACTOR, n00001740: 'entity' };
  tree.set('wnids.txt', Buffer.from(Object.keys(TINY).join('\n') + '\n'));
  tree.set(
    'words.txt',
    Buffer.from(
      Object.entries(words)
        .map(([w, l]) => `${w}\t${l}`)
        .join('\n') + '\n',
    ),
  );
  for (const wnid of Object.keys(TINY)) {
    const boxes: string[] = [];
    for (const n of [0, 2, 10]) {
      tree.set(`train/${wnid}/images/${wnid}_${n}.JPEG`, await jpeg());
      if (!(wnid === 'n02099601' && n === 0)) boxes.push(`${wnid}_${n}.JPEG\t${n}\t1\t60\t${50 + n}`);
    }
    tree.set(`train/${wnid}/${wnid}_boxes.txt`, Buffer.from(boxes.join('\n') + '\n'));
  }
  // the same image in two classes, as in the real data
  tree.set('train/n02099601/images/n02099601_2.JPEG', tree.get('train/n01443537/images/n01443537_10.JPEG') as Buffer);
  const annotations: string[] = [];
  const valClasses = ['n02124075', 'n01443537', 'n02099601', 'n01443537', 'n02124075', 'n02099601'];
  for (const [n, wnid] of valClasses.entries()) {
    const number = n === 5 ? 12 : n;
    tree.set(`val/images/val_${number}.JPEG`, await jpeg());
    annotations.push(`val_${number}.JPEG\t${wnid}\t${n}\t2\t${40 + n}\t63`);
  }
  tree.set('val/val_annotations.txt', Buffer.from(annotations.join('\n') + '\n'));
  for (const n of [0, 1, 2, 11]) tree.set(`test/images/test_${n}.JPEG`, await jpeg());
  tree.set('test/images/test_1.JPEG', tree.get('val/images/val_3.JPEG') as Buffer); // a val/test pair
  tree.set('test/images/test_11.JPEG', tree.get('test/images/test_0.JPEG') as Buffer); // a test/test pair
  return tree;
}

/** The photo sample: one full-size photo per class (a greyscale one among them), plus the repo's README. */
async function photoTree(): Promise<Tree> {
  const tree: Tree = new Map();
  const all = { ...TINY, ...DISTRACTOR };
  let i = 0;
  for (const [wnid, lemmas] of Object.entries(all)) {
    const name = lemmas.split(', ')[0].replace(/ /g, '_');
    tree.set(`${wnid}_${name}.JPEG`, await jpeg(40 + 7 * i, 30 + 3 * i, i === 2));
    i++;
  }
  tree.set('README.md', Buffer.from('1000 images, one random image per image-net class\n'));
  return tree;
}

const DATA_NOUN =
  '  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n' +
  Object.entries({
    n01440764: 'freshwater dace-like game fish of Europe and western Asia',
    n01443537: 'small golden or orange-red freshwater fishes of Eurasia used as pond or aquarium fishes',
    n02099601: 'an English breed having a long silky golden coat; "a retriever"',
    n02124075: 'a domestic cat of Egypt',
  })
    .map(([wnid, gloss]) => `${wnid.slice(1)} 05 n 01 x 0 000 | ${gloss}  `)
    .join('\n') +
  '\n';

function writeTree(tree: Tree, dir: string): void {
  for (const [rel, data] of tree) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
  }
}

/** A .tar.gz like codeload.github.com's: every path under `<repo>-<commit>/`. */
async function githubArchive(tree: Tree, top: string): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  tar.entry({ name: `${top}/`, type: 'directory' });
  for (const rel of [...tree.keys()].sort()) tar.entry({ name: `${top}/${rel}` }, tree.get(rel) as Buffer);
  tar.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('ie data fetch', () => {
  let root: string;
  let tiny: Tree;
  let photos: Tree;
  let reference: string;
  let checksums: ChecksumTable;
  let wordnet: string;
  let server: http.Server;
  let base: string;
  const requests: string[] = [];
  const routes = new Map<string, Buffer>();

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ie-data-fetch-'));
    tiny = await tinyTree();
    photos = await photoTree();
    writeTree(tiny, path.join(root, 'src', 'tiny'));
    writeTree(photos, path.join(root, 'src', 'photos'));
    wordnet = path.join(root, 'wordnet');
    mkdirSync(wordnet);
    writeFileSync(path.join(wordnet, 'data.noun'), DATA_NOUN);
    reference = path.join(root, 'reference');
    execFileSync(pythonExecutable(), [
      REFERENCE,
      path.join(root, 'src', 'tiny'),
      path.join(root, 'src', 'photos'),
      path.join(wordnet, 'data.noun'),
      reference,
      String(PUBLIC_SOURCES.tiny.commitTime),
      String(PUBLIC_SOURCES.photos.commitTime),
    ]);
    // The table the code checks against: the reference files' digests (one photo shard here, not four).
    checksums = Object.fromEntries(
      readdirSync(reference, { recursive: true })
        .map(String)
        .filter((f) => statSync(path.join(reference, f)).isFile())
        .map((f) => [f, sha256(readFileSync(path.join(reference, f)))]),
    );
    expect(Object.keys(checksums).sort()).toEqual(
      Object.keys(DATASET_SHA256)
        .filter((f) => !/images-0[1-3]/.test(f))
        .sort(),
    );

    const tinyArchive = await githubArchive(tiny, `imageet32x32-${PUBLIC_SOURCES.tiny.commit}`);
    routes.set('/tiny.tar.gz', tinyArchive);
    routes.set('/photos.tar.gz', await githubArchive(photos, `imagenet-sample-images-${PUBLIC_SOURCES.photos.commit}`));
    const altered = new Map(tiny);
    const val0 = Buffer.from(tiny.get('val/images/val_0.JPEG') as Buffer);
    val0[val0.length - 3] ^= 0xff; // one flipped byte in the entropy-coded data: still a JPEG, another image
    altered.set('val/images/val_0.JPEG', val0);
    routes.set('/tiny-altered.tar.gz', await githubArchive(altered, `imageet32x32-${PUBLIC_SOURCES.tiny.commit}`));
    routes.set('/tiny-truncated.tar.gz', tinyArchive.subarray(0, Math.floor(tinyArchive.length / 2)));

    server = http.createServer((req, res) => {
      requests.push(`${req.url} ${req.headers.range ?? ''}`.trim());
      const body = routes.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        res.writeHead(206, {
          'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
          'content-length': body.length - start,
        });
        return void res.end(body.subarray(start));
      }
      res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    requests.length = 0;
  });

  const fetchInto = (dest: string, tinyRoute = '/tiny.tar.gz', only?: ('tiny' | 'photos')[]) =>
    fetchDatasets({
      dest,
      only,
      sources: { tiny: `${base}${tinyRoute}`, photos: `${base}/photos.tar.gz` },
      checksums,
      wordnetDir: wordnet,
    });

  it('builds every file byte for byte as the reference packer does, and verifies the checksums', async () => {
    const dest = path.join(root, 'fresh');
    const result = await fetchInto(dest);
    expect(result.written.sort()).toEqual(Object.keys(checksums).sort());
    expect(result.kept).toEqual([]);
    for (const f of Object.keys(checksums))
      expect(readFileSync(path.join(dest, f))).toEqual(readFileSync(path.join(reference, f)));
    expect(existsSync(path.join(dest, WORK_DIR))).toBe(false);
    expect(requests).toEqual(['/tiny.tar.gz', '/photos.tar.gz']);

    // The format, read back as the README says a reader does: gunzip, slice by offset/size.
    const read = (f: string) => readFileSync(path.join(dest, f));
    const rows = gunzipSync(read('tiny-imagenet-200-32px/train.jsonl.gz'))
      .toString()
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            path: string;
            label: number;
            name: string;
            bbox64: number[] | null;
            offset: number;
            size: number;
          },
      );
    expect(rows.map((r) => r.path.split('/').pop())).toEqual(
      ['n01443537', 'n02099601', 'n02124075'].flatMap((w) => [0, 2, 10].map((n) => `${w}_${n}.JPEG`)),
    );
    expect(rows[0]).toMatchObject({ label: 0, name: 'goldfish', bbox64: [0, 1, 60, 50] });
    expect(rows[3].bbox64).toBeNull();
    const tar = gunzipSync(read('tiny-imagenet-200-32px/train.tar.gz'));
    for (const r of rows) expect(tar.subarray(r.offset, r.offset + r.size)).toEqual(tiny.get(r.path));
    const classes = read('classes.jsonl').toString();
    expect(classes).toContain('"lemmas":["golden retriever","caf\\u00e9 dog"]');
    expect(classes).toContain('"gloss":"an English breed having a long silky golden coat; \\"a retriever\\""');
    const dups = JSON.parse(read('tiny-imagenet-200-32px/duplicates.json').toString()) as {
      groups: { path: string }[][];
    };
    expect(dups.groups.map((g) => g.map((m) => m.path))).toEqual([
      ['test/images/test_0.JPEG', 'test/images/test_11.JPEG'],
      ['train/n01443537/images/n01443537_10.JPEG', 'train/n02099601/images/n02099601_2.JPEG'],
      ['val/images/val_3.JPEG', 'test/images/test_1.JPEG'],
    ]);
  });

  it('keeps verified files on a re-run and rebuilds only what is missing or different', async () => {
    const dest = path.join(root, 'rerun');
    await fetchInto(dest);
    requests.length = 0;
    const again = await fetchInto(dest);
    expect(again.written).toEqual([]);
    expect(again.kept.sort()).toEqual(Object.keys(checksums).sort());
    expect(requests).toEqual([]);

    rmSync(path.join(dest, 'tiny-imagenet-200-32px/val.tar.gz'));
    writeFileSync(path.join(dest, 'classes.jsonl'), 'edited\n');
    const repaired = await fetchInto(dest);
    expect(repaired.written).toEqual(['tiny-imagenet-200-32px/val.tar.gz', 'classes.jsonl']);
    expect(requests).toEqual(['/tiny.tar.gz', '/photos.tar.gz']);
    for (const f of Object.keys(checksums)) expect(sha256(readFileSync(path.join(dest, f)))).toBe(checksums[f]);
  });

  it('refuses a download whose contents differ, naming the file and both digests, and writes nothing', async () => {
    const dest = path.join(root, 'altered');
    const error = await fetchInto(dest, '/tiny-altered.tar.gz').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    const message = (error as Error).message;
    const file = 'tiny-imagenet-200-32px/val.tar.gz';
    expect(message).toMatch(new RegExp(`${file}: expected sha256 ${checksums[file]}, got [0-9a-f]{64}`));
    expect(message).toMatch(/nothing was written/);
    expect(message).toMatch(/downloaded archive was removed/);
    expect(readdirSync(dest)).toEqual([]);
    // the photos were not attempted after the refusal
    expect(requests).toEqual(['/tiny-altered.tar.gz']);
  });

  it('refuses a truncated download with a clear message and removes it', async () => {
    const dest = path.join(root, 'truncated');
    const error = await fetchInto(dest, '/tiny-truncated.tar.gz', ['tiny']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(
      /tiny-truncated\.tar\.gz: .* is damaged or incomplete .*run the command again/,
    );
    expect(readdirSync(dest)).toEqual([]);
  });

  it('reads an unpacked source folder the same way as its archive', async () => {
    const dest = path.join(root, 'folders');
    const result = await fetchDatasets({
      dest,
      sources: { tiny: path.join(root, 'src', 'tiny'), photos: path.join(root, 'src', 'photos') },
      checksums,
      wordnetDir: wordnet,
    });
    expect(result.written).toHaveLength(Object.keys(checksums).length);
    expect(requests).toEqual([]);
  });

  it('says the photos need Tiny ImageNet first, before downloading anything', async () => {
    const dest = path.join(root, 'photos-only');
    await expect(fetchInto(dest, '/tiny.tar.gz', ['photos'])).rejects.toThrow(
      /Tiny ImageNet's wnids\.txt, and .* is missing; fetch Tiny ImageNet first: ie data fetch --dest .* --only tiny/,
    );
    expect(requests).toEqual([]);
  });

  it('resumes a partial download with a Range request', async () => {
    const target = path.join(root, 'resume', 'tiny.download');
    const body = routes.get('/tiny.tar.gz') as Buffer;
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(`${target}.part`, body.subarray(0, 1000));
    const seen: number[] = [];
    const resumedFrom: number[] = [];
    await downloadFile(
      `${base}/tiny.tar.gz`,
      target,
      (done) => seen.push(done),
      (from) => resumedFrom.push(from),
    );
    expect(readFileSync(target)).toEqual(body);
    expect(requests).toEqual(['/tiny.tar.gz bytes=1000-']);
    expect(resumedFrom).toEqual([1000]);
    expect(seen[0]).toBeGreaterThan(1000);
    expect(seen[seen.length - 1]).toBe(body.length);
    expect(readdirSync(path.dirname(target))).toEqual(['tiny.download']);
  });
});
