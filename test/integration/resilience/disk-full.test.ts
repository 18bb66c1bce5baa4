// A full disk under the content store: a size-limited tmpfs holds the store, and once the run has stored its
// target's images a file fills what is left, before the download starts. The download stage fails at once
// with a "disk full" error that says what to do, leaves no temp file and no fetch running, and the run waits;
// once the file is removed (space freed), `ie retry-iteration` completes the run. Needs root to mount the
// tmpfs (as the README's commands run); takes about 2 minutes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { db } from '../../../lib/db';
import { sleep } from '../../../lib/services/process';
import type { Progress } from '../../../lib/contract';
import { startRun } from '../../../lib/client';
import { sendControl } from '../../../cli/commands/control';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment, withWorkers } from '../harness';
import { waitForProgress, waitForRecordedStatus } from '../run-watch';
import { until } from '../worker-process';
import { recordRecovery, timed } from './recovery';

jest.setTimeout(15 * 60_000);

// Slow searches: the filler is written between the target's preparation and the download.
const env = useTestEnvironment('disk-full', { engine: { faults: { searchLatencyMs: 500 } }, database: false });
const store = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-disk-full-'));
const previousStore = process.env.IE_STORE_DIR;

beforeAll(() => {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', store]);
  // The activities of this process's workers write their images here.
  process.env.IE_STORE_DIR = store;
});

afterAll(() => {
  if (previousStore === undefined) delete process.env.IE_STORE_DIR;
  else process.env.IE_STORE_DIR = previousStore;
  execFileSync('umount', [store]);
  fs.rmSync(store, { recursive: true, force: true });
});

/** Fills what is left of the store's file system with one file (ENOSPC ends the write). */
function fill(file: string): void {
  try {
    fs.writeFileSync(file, Buffer.alloc(4 * 2 ** 20));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
}

function tempFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.tmp'))
    .map((e) => path.join(e.parentPath, e.name));
}

test('a full disk fails the download with a clear error, leaves nothing behind, and a retry after space is freed completes the run', async () => {
  const { client, connection } = await temporalClient();
  await createTestDatabase('disk_full');
  const runId = uniqueId('it-disk-full');
  const config = env.runConfig({ iterations: 1 });

  const result = await withWorkers(async () => {
    const handle = await startRun(client, runId, config);
    await until('the target in the store', async () =>
      (await db().targetImage.count({ where: { runId } })) === 30 ? true : undefined,
    );
    const filler = path.join(store, 'filler');
    fill(filler);
    expect(await db().fetch.count({ where: { runId } })).toBe(0);
    const waiting = await waitForProgress(handle, (p) => p.status === 'waiting-retry');
    expect(waiting.failed?.iteration).toBe(0);
    expect(waiting.failed?.error).toMatch(/^disk full: the download stage of iteration 0 could not write /);
    expect(waiting.failed?.error).toContain(`ie retry-iteration ${runId} 0`);
    await waitForRecordedStatus(runId, 'waiting-retry');
    // Failed at once (not retried: the disk stays full), with nothing half-written and no fetch still going.
    const download = await db().stageTiming.findUnique({
      where: { runId_iteration_stage: { runId, iteration: 0, stage: 'download' } },
    });
    expect(download).toBeNull();
    expect(tempFiles(store)).toEqual([]);
    const fetched = await db().fetch.count({ where: { runId } });
    await sleep(3000);
    expect(await db().fetch.count({ where: { runId } })).toBe(fetched);

    // Space is freed.
    fs.rmSync(filler);
    expect(await sendControl(client, runId, 'retryIteration', { iteration: 0 })).toMatchObject({ accepted: true });
    const retried = await timed(async () => (await handle.result()) as Progress);
    // No uninterrupted run to compare with: the time is from the retry to the run's end.
    recordRecovery({
      fault: 'disk full under the content store (download)',
      survived: retried.value.status === 'completed',
      rowsLost: null,
      referenceMs: null,
      faultedMs: retried.ms,
    });
    return retried.value;
  });
  expect(result.status).toBe('completed');
  expect(result.history.map((h) => h.iteration)).toEqual([0]);
  expect(result.history[0].downloaded).toBeGreaterThan(0);
  expect(tempFiles(store)).toEqual([]);
  await connection.close();
});
