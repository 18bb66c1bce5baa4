import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { db } from '../../lib/db';
import { PROJECT_ROOT } from '../../lib/paths';
import { smallPetsTarget, temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { startRun } from '../../lib/client';

jest.setTimeout(5 * 60_000);

const run = promisify(execFile);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ie-bad-'));

function emptyTarget(): string {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'README.txt'), 'no images here');
  return dir;
}

async function targetWithBrokenImage(): Promise<string> {
  const dir = tmp();
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } })
    .jpeg()
    .toFile(path.join(dir, 'ok.jpg'));
  fs.writeFileSync(path.join(dir, 'truncated.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]));
  return dir;
}

useTestEnvironment('bad_input');

describe('bad input is refused with a clear error before any work starts', () => {
  const cases: [string, () => Promise<Record<string, unknown>>, string, RegExp][] = [
    [
      'a target folder with no images',
      async () => ({ target: emptyTarget() }),
      'TargetError',
      /no images found in target folder/,
    ],
    [
      'an unreadable image in the target',
      async () => ({ target: await targetWithBrokenImage() }),
      'TargetError',
      /1 of 2 target images cannot be read:\n.*truncated\.jpg/,
    ],
    [
      'a misspelt config key',
      async () => ({ target: smallPetsTarget(), iteratons: 2 }),
      'ConfigError',
      /unknown key 'iteratons'/,
    ],
  ];

  test.each(cases)('started through Temporal: %s', async (_name, config, type, message) => {
    const { client, connection } = await temporalClient();
    const runId = uniqueId('it-bad');
    const error = await withWorkers(async () => {
      const handle = await startRun(client, runId, await config());
      return handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activityFailure = (error as WorkflowFailedError).cause as ActivityFailure;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    const cause = activityFailure.cause as ApplicationFailure;
    expect(cause.type).toBe(type);
    expect(cause.message).toMatch(message);
    // Refused on the first attempt (not retried) and nothing was stored.
    const described = await client.workflow.getHandle(runId).fetchHistory();
    const attempts = described.events
      ?.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes?.attempt);
    expect(attempts).toEqual([1]);
    expect(await db().run.count({ where: { id: runId } })).toBe(0);
    expect(await db().iteration.count({ where: { runId } })).toBe(0);
    await connection.close();
  });

  test.each(cases)('started from the CLI: %s (exit code 2, nothing started)', async (_name, config, _type, message) => {
    const file = path.join(tmp(), 'config.json');
    fs.writeFileSync(file, JSON.stringify(await config()));
    const outcome = await run(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'main.ts'), 'run', '--config', file],
      {
        // Nothing listens here: validation must fail before any connection is attempted.
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' },
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(message);
  });
});
