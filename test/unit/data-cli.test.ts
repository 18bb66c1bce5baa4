/**
 * Without the datasets, every command that needs them stops at once with one line naming the missing
 * file and the command that fetches them (exit 2); `ie data fetch` itself from the command line.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { linesProgress } from '../../cli/progress-view';
import { buildUserCorpus } from '../../engine/folder-corpus';
import { DATASET_SHA256, filesOf } from '../../lib/datasets/layout';
import { DatasetsMissingError, requireDatasets } from '../../lib/datasets/require';
import { packUstar } from '../../lib/datasets/ustar';
import { PROJECT_ROOT } from '../../lib/paths';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, script), ...args],
      { cwd: PROJECT_ROOT, env, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

const jpeg = (r: number) =>
  sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g: 90, b: 30 } } })
    .jpeg()
    .toBuffer();

describe('missing datasets', () => {
  let root: string;
  let empty: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ie-data-cli-'));
    empty = path.join(root, 'no datasets');
    mkdirSync(empty);
    env = { ...process.env, IE_DATASETS_DIR: empty, IE_STATE_DIR: path.join(root, 'state'), IE_LOG_LEVEL: 'warn' };
    delete env.IE_ENGINE_URL;
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('names the first missing file, the setting and the command that fetches them', () => {
    const call = () => requireDatasets(['tiny-imagenet-200-32px/val.jsonl.gz', 'classes.jsonl'], empty);
    expect(call).toThrow(DatasetsMissingError);
    expect(call).toThrow(
      `datasets not found: ${empty}/tiny-imagenet-200-32px/val.jsonl.gz and 1 more file are missing (`,
    );
    expect(call).toThrow(`fetch them with: ie data fetch --dest '${empty}'`);
  });

  it('names the one part to fetch when the rest is there', () => {
    const partial = path.join(root, 'partial');
    for (const f of filesOf('tiny')) {
      mkdirSync(path.dirname(path.join(partial, f)), { recursive: true });
      writeFileSync(path.join(partial, f), '');
    }
    expect(() => requireDatasets(Object.keys(DATASET_SHA256), partial)).toThrow(
      /classes\.jsonl and 5 more files are missing .*; fetch them with: ie data fetch --dest \S+ --only photos$/,
    );
    expect(requireDatasets(filesOf('tiny'), partial)).toBe(partial);
  });

  const oneLine = (r: Ran, file: string) => {
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`error: datasets not found: ${empty}/${file}`);
    expect(lines[0]).toContain(`(IE_DATASETS_DIR=${empty}); fetch them with: ie data fetch --dest '${empty}'`);
  };

  it.each([
    [['demo'], 'tiny-imagenet-200-32px/val.jsonl.gz'],
    [['benchmark'], 'tiny-imagenet-200-32px/val.jsonl.gz'],
    [['pretrain'], 'tiny-imagenet-200-32px/test.jsonl.gz'],
    [['web', 'serve', '--port', '0'], 'classes.jsonl'],
    [['up'], 'classes.jsonl'],
  ])('ie %j fails at once', async (args, file) => {
    oneLine(await run('cli/main.ts', args, env), file);
  });

  it('the engine and the target carver fail the same way', async () => {
    oneLine(await run('engine/main.ts', ['--port', '0'], env), 'classes.jsonl');
    oneLine(await run('bench/learning/carve.ts', ['birds', 'bird'], env), 'classes.jsonl');
  });
});

describe('ie data fetch (command line)', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ie-data-fetch-cli-'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a source whose files differ from the published ones and writes nothing (exit 1)', async () => {
    const tree = path.join(root, 'not-tiny-imagenet');
    const put = (rel: string, data: Buffer | string) => {
      mkdirSync(path.dirname(path.join(tree, rel)), { recursive: true });
      writeFileSync(path.join(tree, rel), data);
    };
    put('wnids.txt', 'n01443537\n');
    put('words.txt', 'n01443537\tgoldfish, Carassius auratus\n');
    put('train/n01443537/images/n01443537_0.JPEG', await jpeg(10));
    put('train/n01443537/n01443537_boxes.txt', 'n01443537_0.JPEG\t0\t0\t63\t63\n');
    put('val/images/val_0.JPEG', await jpeg(20));
    put('val/val_annotations.txt', 'val_0.JPEG\tn01443537\t0\t0\t63\t63\n');
    put('test/images/test_0.JPEG', await jpeg(30));
    const dest = path.join(root, 'dest');
    const r = await run('cli/main.ts', ['data', 'fetch', '--dest', dest, '--only', 'tiny', '--from', `tiny=${tree}`], {
      ...process.env,
      IE_LOG_LEVEL: 'warn',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: checksum mismatch: files built from ${tree} differ from the published ones`);
    const file = 'tiny-imagenet-200-32px/train.tar.gz';
    expect(r.stderr).toMatch(new RegExp(`${file}: expected sha256 ${DATASET_SHA256[file]}, got [0-9a-f]{64}`));
    expect(readdirSync(dest)).toEqual([]);
  });

  it('says which flag is wrong (exit 2)', async () => {
    const r = await run('cli/main.ts', ['data', 'fetch', '--only', 'everything'], process.env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: --only everything: choose from tiny, photos (comma-separated)');
  });

  it('turns an image folder into a corpus and says how to serve it', async () => {
    const photos = path.join(root, 'my photos');
    mkdirSync(path.join(photos, 'n02099601_golden_retriever'), { recursive: true });
    mkdirSync(path.join(photos, 'garden-birds'), { recursive: true });
    writeFileSync(path.join(photos, 'n02099601_golden_retriever', 'a.jpg'), await jpeg(1));
    writeFileSync(path.join(photos, 'garden-birds', 'b.jpg'), await jpeg(2));
    writeFileSync(path.join(photos, 'red_kite_07.jpeg'), await jpeg(3));
    writeFileSync(path.join(photos, 'IMG_0001.jpg'), await jpeg(4));
    writeFileSync(path.join(photos, 'IMG_0001.txt'), 'a heron on a post\n');
    writeFileSync(path.join(photos, 'notes.md'), 'not an image');
    const dest = path.join(root, 'corpora-dest');
    const r = await run('cli/main.ts', ['data', 'fetch', '--dest', dest, '--from', photos, '--name', 'mine'], {
      ...process.env,
      IE_LOG_LEVEL: 'warn',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const manifest = path.join(dest, 'corpora', 'mine', 'manifest.jsonl');
    expect(r.stdout).toContain(`corpus 'mine' (image folder): 4 images → ${manifest}`);
    expect(r.stdout).toContain(`ie web serve --corpus ${manifest}`);
    const records = readFileSync(manifest, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; caption: string; file: string; meta?: { wnid?: string } });
    const byKey = Object.fromEntries(records.map((r) => [r.key, r]));
    expect(byKey['IMG_0001'].caption).toBe('a heron on a post');
    expect(byKey['red_kite_07'].caption).toBe('red kite');
    expect(byKey['garden-birds/b'].caption).toBe('garden birds');
    expect(byKey['n02099601_golden_retriever/a'].caption).toMatch(/^golden retriever\. /);
    expect(byKey['n02099601_golden_retriever/a'].meta).toEqual({ wnid: 'n02099601' });
    expect(byKey['garden-birds/b'].file).toBe(path.join(photos, 'garden-birds', 'b.jpg'));
  });

  it('indexes a webdataset folder as it is, and refuses a folder without images', async () => {
    const shards = path.join(root, 'shards');
    mkdirSync(shards);
    const sample = [
      { name: '000000.jpg', data: await jpeg(5) },
      { name: '000000.txt', data: Buffer.from('a lighthouse at dusk') },
      { name: '000000.json', data: Buffer.from('{"width":8,"height":8}') },
    ];
    writeFileSync(path.join(shards, '00000.tar'), packUstar(sample, 0).tar);
    const corpus = await buildUserCorpus(shards, path.join(root, 'wds'));
    expect(corpus).toMatchObject({ kind: 'webdataset', images: 1, skipped: 0 });
    expect(readFileSync(corpus.manifestPath, 'utf8')).toContain('"caption":"a lighthouse at dusk"');

    const folder = path.join(root, 'empty-folder');
    mkdirSync(folder);
    await expect(buildUserCorpus(folder, path.join(root, 'out'))).rejects.toThrow(
      /holds no \.jpg, \.jpeg, \.png or \.webp images/,
    );
  });
});

describe('fetch progress as plain lines', () => {
  /** Plain-line progress on a clock the test sets (`clock.now`), with the lines it printed. */
  function plainLines() {
    const clock = { now: 0 };
    const lines: string[] = [];
    const progress = linesProgress(
      (l) => lines.push(l),
      () => clock.now,
    );
    return { progress, lines, clock };
  }

  it('prints the rate and time left every few seconds, and how a step ended', () => {
    const { progress, lines, clock } = plainLines();
    progress.begin('download x', undefined, 'bytes');
    clock.now = 1000;
    progress.update(1e6, 10e6);
    clock.now = 5000;
    progress.update(5e6);
    clock.now = 6000;
    progress.end(true);
    progress.begin('pack y', 3, 'files');
    progress.update(3);
    progress.end();
    expect(lines).toEqual([
      '  download x…',
      '  download x: 50% (5.0 MB of 10.0 MB), 1.0 MB/s, ETA 5 s',
      '  download x: broke off (5.0 MB in 6 s)',
      '  pack y…',
      '  pack y: done (3 files in 0 s)',
    ]);
  });

  it('says at once that a step began, and counts steps with a detail such as the loss', () => {
    const { progress, lines, clock } = plainLines();
    progress.begin('pretraining', 4000, 'steps');
    expect(lines).toEqual(['  pretraining…']);
    clock.now = 10_000;
    progress.update(100, undefined, 'loss 2.412');
    clock.now = 20_000;
    progress.update(200, undefined, 'loss 2.301');
    progress.end();
    expect(lines.slice(1)).toEqual([
      '  pretraining: 2% (100 steps of 4000 steps), 10 steps/s, ETA 6 min 30 s; loss 2.412',
      '  pretraining: 5% (200 steps of 4000 steps), 10 steps/s, ETA 6 min 20 s; loss 2.301',
      '  pretraining: done (200 steps in 20 s); loss 2.301',
    ]);
  });

  it('counts the rate and time left of a resumed step from where it resumed', () => {
    const { progress, lines, clock } = plainLines();
    progress.begin('pretraining', 4000, 'steps');
    clock.now = 2_000;
    progress.resumed(1000);
    clock.now = 12_000;
    progress.update(1100, undefined, 'loss 2.0');
    progress.end();
    expect(lines.slice(1)).toEqual([
      '  pretraining: 27% (1100 steps of 4000 steps), 10 steps/s, ETA 4 min 50 s; loss 2.0',
      '  pretraining: done (100 steps in 12 s); loss 2.0',
    ]);
  });
});
