import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

jest.setTimeout(120_000);

const dir = path.join(__dirname, '..', 'fixtures', 'histories');

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
});

/**
 * Histories recorded from a real demo run (`temporal workflow show --output json`). Replaying them
 * proves the workflow code is still deterministic for runs already in flight; a change that breaks
 * this needs `patched()` or worker versioning. Re-record with scripts/record-histories.sh.
 */
const workflowIds = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Record<string, string>;

test.each(Object.entries(workflowIds))('workflow code replays the recorded history %s', async (file, workflowId) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as unknown;
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId),
  ).resolves.toBeUndefined();
});
