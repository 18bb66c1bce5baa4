import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, Runtime, type WorkflowBundle } from '@temporalio/worker';
import { hashFiles, removeOtherVersions, writeFileAtomic } from '../lib/files';
import { logger } from '../lib/logger';
import { PROJECT_ROOT, stateDir } from '../lib/paths';

/** Folders whose files the workflow bundle can include: workflow code imports only lib/ (.dependency-cruiser.cjs). */
const SOURCE_DIRS = ['workflows', 'lib'];
/** Files that decide how it is built: the packages (the SDK and webpack among them) and the compiler options. */
const BUILD_FILES = ['package-lock.json', 'tsconfig.json'];
const PREFIX = 'workflow-bundle-';
/** What follows PREFIX in a kept bundle's name: the sources' hash (sourcesHash). */
const BUNDLE_VERSION = /^[0-9a-f]{16}\.js$/;

let pending: Promise<WorkflowBundle> | undefined;

/**
 * The workflow code as the SDK runs it, bundled (webpack: ~5 s of CPU) once per version of its sources and
 * kept as `<state>/cache/workflow-bundle-<hash>.js`: every workflow worker a host starts after the first
 * loads that file. The hash covers every file under workflows/ and lib/ and the build files, so any change
 * to what the bundle could hold makes a new one; older bundles are removed then (one file, ~2 MB, per host).
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  if (!pending) {
    pending = cachedBundle();
    pending.catch(() => (pending = undefined));
  }
  return pending;
}

async function cachedBundle(): Promise<WorkflowBundle> {
  const dir = path.join(stateDir(), 'cache');
  const file = path.join(dir, `${PREFIX}${await sourcesHash()}.js`);
  try {
    return { code: await readFile(file, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // The bundler logs through the SDK's runtime logger, as Worker.create's own bundling did.
    logger: Runtime.instance().logger,
  });
  try {
    await writeFileAtomic(file, code);
    await removeOtherVersions(dir, PREFIX, BUNDLE_VERSION, [path.basename(file)]);
  } catch (error) {
    // The next start bundles again; nothing else is lost.
    logger.warn({ err: error, file }, 'could not keep the workflow bundle; the next worker start bundles again');
  }
  return { code };
}

/** sha256 over the build files and every file under the source folders (path and content, in path order). */
async function sourcesHash(): Promise<string> {
  const files = [...BUILD_FILES];
  for (const dir of SOURCE_DIRS) {
    const entries = await readdir(path.join(PROJECT_ROOT, dir), { recursive: true, withFileTypes: true });
    for (const e of entries) if (e.isFile()) files.push(path.relative(PROJECT_ROOT, path.join(e.parentPath, e.name)));
  }
  const hash = await hashFiles(createHash('sha256'), PROJECT_ROOT, files.sort());
  return hash.digest('hex').slice(0, 16);
}
