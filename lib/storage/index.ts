// The files stages hand each other, through the run's object store (lib/storage/object-store.ts).
//
// Every host keeps its own copies under its state folder (`IE_STATE_DIR`; images under `IE_STORE_DIR`): a stage
// writes a file there and publishes it (uploads it under its key); a stage on another host fetches the key
// (downloads it there unless it already has it). Without IE_OBJECT_STORE the state folder is the store:
// publishing costs nothing and fetching checks that the file is there, so a one-machine run is what it was.
// A copy is never fetched again while the host has it: every key is written once (images by content, iteration
// files by a stage that writes them whole), so a host's copy is the object. Hosts drop copies they no longer
// need (earlier iterations' folders, least recently used images beyond a cap) and fetch them again if asked.
import { existsSync } from 'node:fs';
import { stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../errors';
import { imageStoreDir, stateDir } from '../paths';
import { FolderObjectStore } from './folder-store';
import { MissingObjectError, type ObjectStore } from './object-store';
import { S3ObjectStore } from './s3-store';

export { MissingObjectError, type ObjectStore } from './object-store';
export { FolderObjectStore } from './folder-store';
export { S3ObjectStore } from './s3-store';
export { storeUnreachable, withStoreWait } from './store-wait';

/** Keys of the content store start with this; the rest is `xx/<sha256>.jpg` under IE_STORE_DIR. */
const IMAGE_PREFIX = 'store/';

/** The key of the content store's image with this SHA-256. */
export function imageKey(sha: string): string {
  return `${IMAGE_PREFIX}${sha.slice(0, 2)}/${sha}.jpg`;
}

/** This host's copy of `key`. A key that is an absolute path (rows written before keys) is its own copy. */
export function localFileOf(key: string): string {
  if (path.isAbsolute(key)) return key;
  if (key.startsWith(IMAGE_PREFIX)) return path.join(imageStoreDir(), ...key.slice(IMAGE_PREFIX.length).split('/'));
  return path.join(stateDir(), ...key.split('/'));
}

/** The key of one of this host's files (under the content store or the state folder). */
export function keyOfLocal(file: string): string {
  const absolute = path.resolve(file);
  for (const [root, prefix] of [
    [imageStoreDir(), IMAGE_PREFIX],
    [stateDir(), ''],
  ] as const) {
    const relative = path.relative(root, absolute);
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative))
      return prefix + relative.split(path.sep).join('/');
  }
  throw new RangeError(
    `${file} is neither under the state folder ${stateDir()} nor the content store ${imageStoreDir()}`,
  );
}

let configured: { spec: string; store: ObjectStore | null } | undefined;

/** The run's object store from IE_OBJECT_STORE (null: none, the state folder is the store). */
export function objectStore(): ObjectStore | null {
  const spec = process.env.IE_OBJECT_STORE ?? '';
  if (configured?.spec !== spec) {
    configured?.store?.close();
    configured = { spec, store: spec ? objectStoreFrom(spec, process.env) : null };
  }
  return configured.store;
}

/**
 * An object store from its spec: `s3://bucket[/prefix]` (IE_S3_ENDPOINT for a service other than AWS,
 * IE_S3_REGION, credentials the AWS SDK's way: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a role),
 * or a folder (`/path` or `file:///path`) that every host mounts.
 */
export function objectStoreFrom(spec: string, env: NodeJS.ProcessEnv): ObjectStore {
  if (spec.startsWith('s3://')) {
    const [bucket, ...rest] = spec.slice('s3://'.length).split('/');
    if (!bucket)
      throw new UsageError(`IE_OBJECT_STORE=${spec} names no bucket: write s3://<bucket> or s3://<bucket>/<prefix>`);
    const prefix = rest.filter(Boolean).join('/');
    const endpoint = env.IE_S3_ENDPOINT || undefined;
    if (endpoint && !/^https?:\/\//.test(endpoint))
      throw new UsageError(`IE_S3_ENDPOINT=${endpoint} is not a URL: write e.g. http://seaweedfs:8333`);
    const pathStyle = env.IE_S3_PATH_STYLE;
    if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false')
      throw new UsageError(`IE_S3_PATH_STYLE=${pathStyle}: write true or false`);
    return new S3ObjectStore({
      bucket,
      prefix: prefix ? `${prefix}/` : '',
      endpoint,
      region: env.IE_S3_REGION || env.AWS_REGION || 'us-east-1',
      forcePathStyle: pathStyle === undefined ? endpoint !== undefined : pathStyle === 'true',
    });
  }
  const folder = spec.startsWith('file://') ? new URL(spec).pathname : spec;
  if (!path.isAbsolute(folder))
    throw new UsageError(
      `IE_OBJECT_STORE=${spec} is neither s3://<bucket>[/<prefix>] nor an absolute folder every host mounts`,
    );
  return new FolderObjectStore(folder);
}

/** Makes this host's file `file` available to every host; returns its key. */
export async function publish(file: string): Promise<string> {
  const key = keyOfLocal(file);
  const store = objectStore();
  if (store) await store.upload(key, file);
  return key;
}

/** `publish` for many files, `concurrency` uploads at once. */
export async function publishAll(files: string[], concurrency = 16): Promise<string[]> {
  const limit = pLimit(concurrency);
  return Promise.all(files.map((file) => limit(() => publish(file))));
}

/**
 * This host's copy of `key`, downloaded first unless it has one; a key nobody wrote is a MissingObjectError.
 * With an object store, a copy of an image that is used has its modification time renewed: the host's image
 * copies are trimmed least recently used first (activities/store/content-store.ts `trimImageCopies`).
 */
export async function fetchFile(key: string): Promise<string> {
  const file = localFileOf(key);
  const store = path.isAbsolute(key) ? null : objectStore();
  if (existsSync(file) && (!store || !key.startsWith(IMAGE_PREFIX) || (await touched(file)))) return file;
  if (store && (await store.download(key, file))) return file;
  throw new MissingObjectError(key, store?.description ?? `the state folder ${stateDir()} of this host`);
}

/** Renews a file's modification time; false when it is gone (trimmed meanwhile). */
async function touched(file: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(file, now, now);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** `fetchFile` for many keys, `concurrency` downloads at once; `onFetched` after each (for heartbeats). */
export async function fetchFiles(
  keys: string[],
  options: { concurrency?: number; onFetched?: (done: number) => void } = {},
): Promise<string[]> {
  const limit = pLimit(options.concurrency ?? 16);
  let done = 0;
  return Promise.all(
    keys.map((key) =>
      limit(async () => {
        const file = await fetchFile(key);
        options.onFetched?.(++done);
        return file;
      }),
    ),
  );
}

/** Keys in the object store under the folder key `folder` ([] without an object store: nothing to fetch). */
export async function storedKeys(folder: string): Promise<string[]> {
  const store = objectStore();
  return store ? store.list(folder.endsWith('/') ? folder : `${folder}/`) : [];
}

/** Removes objects from the object store (no-op without one). */
export async function removeStored(keys: string[]): Promise<void> {
  const store = objectStore();
  if (store && keys.length) await store.remove(keys);
}

/**
 * Removes from the store what this host removed locally (files or whole folders, e.g. by checkpoint
 * retention), so the store does not grow past what the run keeps.
 */
export async function unpublish(files: string[]): Promise<void> {
  const store = objectStore();
  if (!store || files.length === 0) return;
  const keys: string[] = [];
  for (const file of files) {
    const key = keyOfLocal(file);
    const isFolder = await stat(file).then(
      (s) => s.isDirectory(),
      () => !path.extname(file),
    );
    if (isFolder) keys.push(...(await store.list(`${key}/`)));
    else keys.push(key);
  }
  await store.remove(keys);
}
