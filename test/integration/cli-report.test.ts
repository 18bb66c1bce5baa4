import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { db } from '../../lib/db';
import { PROJECT_ROOT } from '../../lib/paths';
import { TEST_TEMPORAL_ADDRESS } from './services';
import { smallPetsTarget, temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { insertRunRow } from './run-rows';
import { startRun } from '../../lib/client';
import { RUN_SEARCH_ATTRIBUTES } from '../../lib/contract';

jest.setTimeout(20 * 60_000);

const IE = path.join(PROJECT_ROOT, 'bin', 'ie');
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the installed `ie` launcher the way a user would, from another folder. */
function ie(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      IE,
      args,
      { cwd: os.tmpdir(), env: { ...process.env, IE_LOG_LEVEL: 'warn', ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const suite = useTestEnvironment('cli_report', { engine: {} });
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  env = { DATABASE_URL: suite.databaseUrl, TEMPORAL_ADDRESS: TEST_TEMPORAL_ADDRESS, IE_ENGINE_URL: suite.engine.url };
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

test('ie run (YAML config + flags), ie status --follow, ie list, then ie report renders every section in Chromium', async () => {
  const runId = uniqueId('it-cli');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-cli-'));
  const configFile = path.join(dir, 'run.yaml');
  fs.writeFileSync(
    configFile,
    [
      `target: ${smallPetsTarget()}`,
      'iterations: 3',
      'queriesPerIteration: 24',
      'resultsPerQuery: 10',
      'seed: 7',
      'search:',
      `  baseUrl: ${suite.engine.url}`,
      'train:',
      '  steps: 8',
      '  checkpointEvery: 4',
      '  batchSize: 32',
      '  initCheckpoint: none',
      '',
    ].join('\n'),
  );

  const { started, followed } = await withWorkers(async () => {
    // Flags override the file: 2 iterations, not 3; --set reaches any key.
    const started = await ie(
      ['run', '--config', configFile, '--iterations', '2', '--set', 'score.k=10', '--id', runId],
      env,
    );
    const followed = started.code === 0 ? await ie(['status', runId, '--follow'], env) : started;
    return { started, followed };
  });
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  expect(started.stdout).toContain(`run ${runId} started`);

  // Not a terminal: plain lines, one per finished iteration, and exit 0 once the run completed.
  expect(followed.code).toBe(0);
  expect(followed.stdout).toMatch(/^ {2}iteration 0 \(1 of 2\): train…$/m);
  expect(followed.stdout).toMatch(/^iteration 0 \(1 of 2\) done: 24 queries/m);
  expect(followed.stdout).toMatch(/^iteration 1 \(2 of 2\) done: 24 queries/m);
  expect(followed.stdout).toContain(`run ${runId} completed (Temporal: COMPLETED)`);

  // The effective config is stored with the run: file values, overridden by the flags.
  const run = await db().run.findUniqueOrThrow({ where: { id: runId } });
  const stored = run.config as {
    iterations: number;
    queriesPerIteration: number;
    score: { k: number };
    train: { steps: number };
  };
  expect(stored.iterations).toBe(2);
  expect(stored.queriesPerIteration).toBe(24);
  expect(stored.score.k).toBe(10);
  expect(stored.train.steps).toBe(8);

  // A completed run's status needs no worker: its result is its final progress.
  const status = await ie(['status', runId, '--json'], env);
  expect(status.code).toBe(0);
  const { execution, progress } = JSON.parse(status.stdout) as {
    execution: string;
    progress: { status: string; history: unknown[] };
  };
  expect(execution).toBe('COMPLETED');
  expect(progress.status).toBe('completed');
  expect(progress.history).toHaveLength(2);

  const listed = await ie(['list', '--json'], env);
  expect(listed.code).toBe(0);
  const row = (
    JSON.parse(listed.stdout) as {
      id: string;
      status: string;
      iterationsDone: number;
      iterations: number;
      lastKnn: number;
    }[]
  ).find((r) => r.id === runId);
  expect(row).toMatchObject({ status: 'completed', iterationsDone: 2, iterations: 2 });
  expect(row?.lastKnn).toBeGreaterThanOrEqual(0);

  // The report
  const out = path.join(ARTIFACTS, `report-${runId}`);
  const report = await ie(['report', runId, '--out', out], env);
  expect(report.stderr).toBe('');
  expect(report.code).toBe(0);
  const htmlFile = path.join(out, 'index.html');
  expect(report.stdout).toContain(htmlFile);
  for (const png of [
    'reward',
    'accuracy',
    'images',
    'entropy',
    'topmass',
    'stages',
    'grid-target',
    'grid-iteration-0',
    'grid-iteration-1',
  ]) {
    const bytes = fs.readFileSync(path.join(out, `${png}.png`));
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(2000);
  }
  const html = fs.readFileSync(htmlFile, 'utf8');
  // Self-contained: nothing is fetched from anywhere.
  expect(html).not.toMatch(/\b(src|href)\s*=\s*["'](https?:|\/\/|file:)/i);
  expect(html).not.toMatch(/<(script|link|iframe)\b/i);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${htmlFile}`, { waitUntil: 'load' });
    expect(requests.filter((u) => !u.startsWith('data:') && u !== `file://${htmlFile}`)).toEqual([]);

    for (const id of ['summary', 'rewards', 'accuracy', 'images', 'concepts', 'distribution', 'samples', 'stages'])
      await expect(page.locator(`section#${id} h2`).isVisible()).resolves.toBe(true);

    // Every chart rendered with marks: lines, points, bars.
    const charts = await page.$$eval('figure.chart', (figures) =>
      figures.map((f) => ({
        id: f.getAttribute('data-chart'),
        width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
        marks: f.querySelectorAll('svg g.role-mark > path, svg g.role-mark > rect, svg g.role-mark > line').length,
      })),
    );
    expect(charts.map((c) => c.id).sort()).toEqual(['accuracy', 'entropy', 'images', 'reward', 'stages', 'topmass']);
    for (const c of charts) {
      expect(c.width).toBeGreaterThan(100);
      expect(c.marks).toBeGreaterThan(0);
    }

    // The iteration table has a row per iteration; the concept table names concepts per iteration.
    await expect(page.locator('section#summary tbody tr').count()).resolves.toBe(2);
    await expect(page.locator('section#concepts th', { hasText: 'iteration 1' }).count()).resolves.toBe(1);

    // Image grids: the target, iteration 0 and the last; every thumbnail decoded.
    const grids = await page.$$eval('figure.grid', (figures) =>
      figures.map((f) => ({
        grid: f.getAttribute('data-grid'),
        images: [...f.querySelectorAll('img')].map((img) => ({ complete: img.complete, width: img.naturalWidth })),
      })),
    );
    expect(grids.map((g) => g.grid)).toEqual(['target', 'iteration-0', 'iteration-1']);
    for (const g of grids) {
      expect(g.images.length).toBeGreaterThan(0);
      for (const img of g.images) expect(img).toEqual({ complete: true, width: 72 });
    }
    await page.screenshot({ path: path.join(ARTIFACTS, `report-${runId}.png`), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('ie report refuses an unknown run and a run with no iterations yet (exit 2)', async () => {
  const unknown = await ie(['report', 'no-such-run'], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/no run 'no-such-run' in the database/);

  const runId = uniqueId('it-empty');
  await insertRunRow(runId, { targetDir: '/nowhere', targetCount: 0 });
  const empty = await ie(['report', runId], env);
  expect(empty.code).toBe(2);
  expect(empty.stderr).toMatch(new RegExp(`run '${runId}' has no iterations yet`));
});

test('ie status names an unknown run (exit 2) and an unreachable Temporal (exit 3)', async () => {
  const unknown = await ie(['status', 'no-such-run'], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/no run 'no-such-run' on Temporal/);
  const down = await ie(['status', 'x'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(down.code).toBe(3);
  expect(down.stderr).toMatch(/Temporal is not reachable at 127\.0\.0\.1:1/);
});

test('a run started with a misspelt config key (as the plain Temporal CLI would) fails at once; ie status says why (exit 1)', async () => {
  const runId = uniqueId('it-cli-bad');
  const { client, connection } = await temporalClient();
  const failure = await withWorkers(async () => {
    // The input goes to the run unvalidated, as `temporal workflow start --input …` sends it.
    const handle = await startRun(client, runId, { target: smallPetsTarget(), iteratoins: 2 });
    return handle.result().then(
      () => 'completed',
      (error: unknown) => String(error),
    );
  });
  expect(failure).not.toBe('completed');
  const described = await client.workflow.getHandle(runId).describe();
  expect(described.typedSearchAttributes.get(RUN_SEARCH_ATTRIBUTES.status)).toBe('failed');
  await connection.close();

  // Without any worker: the failure is read from the closed execution.
  const status = await ie(['status', runId], env);
  expect(status.code).toBe(1);
  expect(status.stdout).toMatch(new RegExp(`^run ${runId}: failed \\(Temporal: FAILED\\)`));
  expect(status.stdout).toMatch(/failed: .*iteratoins/s);
  expect(status.stdout).not.toMatch(/iteration 1\/0/);
});
