import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(120_000);

let stateDir: string;
const previous = process.env.IE_STATE_DIR;

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-bundle-'));
  process.env.IE_STATE_DIR = stateDir;
});
afterEach(() => {
  if (previous === undefined) delete process.env.IE_STATE_DIR;
  else process.env.IE_STATE_DIR = previous;
  fs.rmSync(stateDir, { recursive: true, force: true });
});

/** The module afresh, as a newly started worker process has it (nothing memoised). */
function freshModule(): typeof import('../../workers/workflow-bundle') {
  let mod: typeof import('../../workers/workflow-bundle') | undefined;
  jest.isolateModules(() => {
    mod = jest.requireActual<typeof import('../../workers/workflow-bundle')>('../../workers/workflow-bundle');
  });
  return mod!;
}

const bundles = () => fs.readdirSync(path.join(stateDir, 'cache')).filter((f) => f.startsWith('workflow-bundle-'));

test('the first worker bundles and keeps the bundle; a later one loads the kept file; older bundles go', async () => {
  const cache = path.join(stateDir, 'cache');
  fs.mkdirSync(cache, { recursive: true });
  fs.writeFileSync(path.join(cache, 'workflow-bundle-0000000000000000.js'), 'an older release');

  const first = await freshModule().workflowBundle();
  expect(first.code).toContain('explorationRun');
  expect(bundles()).toHaveLength(1);
  const [kept] = bundles();
  expect(kept).not.toBe('workflow-bundle-0000000000000000.js');
  expect(fs.readFileSync(path.join(cache, kept), 'utf8')).toBe(first.code);

  // A later process reads the kept file rather than bundling: what it returns is what the file holds.
  fs.writeFileSync(path.join(cache, kept), '// kept bundle\n');
  expect((await freshModule().workflowBundle()).code).toBe('// kept bundle\n');
});
