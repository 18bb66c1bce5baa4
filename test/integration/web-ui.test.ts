import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseRunConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/paths';
import { ensureTemporalDevServer, stopTemporalDevServer } from '../../lib/services/temporal';
import { createWorkers, installRuntimeLogging } from '../../workers/create';
import { sendControl } from '../../cli/commands/control';
import { startRun } from '../../lib/client';
import { uniqueId, useTestEnvironment } from './harness';
import { currentDetails, waitForProgress } from './run-watch';

jest.setTimeout(15 * 60_000);

/** The text of the page and of every frame in it (the UI renders markdown in frames). */
async function allFramesText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((f) =>
      f
        .locator('body')
        .innerText()
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

// A dev server of its own, with the Web UI (the suite's shared server is headless).
const PORT = Number(process.env.IE_TEST_UI_TEMPORAL_PORT ?? 7315);
const UI_PORT = Number(process.env.IE_TEST_UI_PORT ?? 8315);
const SERVER_NAME = `temporal-ui-test-${PORT}`;
const ADDRESS = `127.0.0.1:${PORT}`;
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts');

const env = useTestEnvironment('web_ui', { engine: {} });
let startedServer = false;
let browser: Browser | undefined;

beforeAll(async () => {
  // Registers the run's search attributes (ensureTemporalDevServer's default).
  startedServer = (await ensureTemporalDevServer({ port: PORT, uiPort: UI_PORT, name: SERVER_NAME })).started;
});

afterAll(async () => {
  await browser?.close();
  if (startedServer) await stopTemporalDevServer(SERVER_NAME);
});

test('the Web UI finds a run by its search attribute and shows its current details', async () => {
  installRuntimeLogging();
  const connection = await Connection.connect({ address: ADDRESS });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: ADDRESS });
  const workers: Worker[] = await createWorkers(native);
  const running = workers.map((w) => w.run());
  const runId = uniqueId('it-ui');
  const config = parseRunConfig(env.runConfig({ iterations: 2, queriesPerIteration: 8, resultsPerQuery: 5 }));
  try {
    const { firstExecutionRunId } = await startRun(client, runId, config);
    const handle = client.workflow.getHandle(runId);
    // Pause before iteration 1, so the page sees a run whose state holds still.
    await waitForProgress(handle, (p) => p.status === 'running');
    expect(await sendControl(client, runId, 'pause')).toMatchObject({ accepted: true });
    const paused = await waitForProgress(handle, (p) => p.status === 'paused');

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    fs.mkdirSync(ARTIFACTS, { recursive: true });

    // The workflow list, filtered by the run's search attributes.
    const query = `IeTarget = "pets-3x10" AND IeStatus = "paused" AND IeIteration = 1`;
    const listUrl = `http://127.0.0.1:${UI_PORT}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
    const link = page.locator(`a:has-text("${runId}")`).first();
    // Visibility lags a moment behind the upsert: reload until the run is listed.
    for (let attempt = 0; attempt < 20; attempt++) {
      await page.goto(listUrl, { waitUntil: 'networkidle' });
      if (await link.isVisible().catch(() => false)) break;
      await page.waitForTimeout(1000);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-list.png'), fullPage: true });
    await expect(link.isVisible()).resolves.toBe(true);

    // The run's page shows its current details (markdown, rendered in frames of the User Metadata tab).
    await link.click();
    await page.getByText('User Metadata').first().click();
    let details = '';
    for (let attempt = 0; attempt < 30 && !details.includes('Paused before iteration 1 (2 of 2)'); attempt++) {
      await page.waitForTimeout(1000);
      details = await allFramesText(page);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-run.png'), fullPage: true });
    expect(details).toContain(`Exploration run ${runId}`);
    expect(details).toContain('Paused before iteration 1 (2 of 2)');
    expect(details).toContain(`images so far: ${paused.imagesDownloaded} downloaded`);
    expect(details).toContain('Top concepts');
    // The finished iterations' figures render as separate columns (a fixed-width block, not a pipe table).
    expect(details).toMatch(/iteration {2,}downloaded {2,}kept {2,}mean reward {2,}temperature {2,}kNN {2,}wall/);
    expect(details).toMatch(
      new RegExp(`^ *0 {2,}${paused.history[0].downloaded} {2,}${paused.history[0].kept} {2,}`, 'm'),
    );

    // The static summary and details given at start, on the run's first execution.
    await page.goto(
      `http://127.0.0.1:${UI_PORT}/namespaces/default/workflows/${runId}/${firstExecutionRunId}/user-metadata`,
    );
    let first = '';
    for (let attempt = 0; attempt < 30 && !first.includes('Filter runs like it'); attempt++) {
      await page.waitForTimeout(1000);
      first = await allFramesText(page);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-first-execution.png'), fullPage: true });
    expect(first).toContain('Exploration run on pets-3x10: explore, 2 iterations');
    expect(first).toContain("Filter runs like it: IeTarget = 'pets-3x10'");
    // That execution ended by continuing as new: its current details say so rather than 'Running'.
    expect(await currentDetails(client.workflow.getHandle(runId, firstExecutionRunId))).toContain(
      '**Continued as new** after iteration 0 (1 of 2)',
    );

    expect(await sendControl(client, runId, 'stop')).toMatchObject({ accepted: true });
    await handle.result();
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await native.close();
    await connection.close();
  }
});
