import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

jest.setTimeout(120_000);

const dir = path.join(__dirname, '..', 'fixtures', 'histories');

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
});

/**
 * Histories recorded from real runs (`temporal workflow show --output json`): a run that was paused,
 * steered and stopped by updates, and one whose failed iteration was retried. Replaying them proves the
 * workflow code is still deterministic for runs already in flight; a change that breaks this needs
 * `patched()` or worker versioning. Re-record with scripts/record-histories.sh.
 */
const workflowIds = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Record<string, string>;

test.each(Object.entries(workflowIds))('workflow code replays the recorded history %s', async (file, workflowId) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as unknown;
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId),
  ).resolves.toBeUndefined();
});
