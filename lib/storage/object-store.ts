// What the stages hand each other (images, checkpoints, encoders, embeddings, manifests) lives in one object
// store, addressed by key. Two kinds: a folder (the default: the state folder itself, so a one-machine run
// reads and writes its files where it always did) and any S3-compatible service (AWS S3, GCS's S3 API, Ceph,
// SeaweedFS), which lets io, score and train workers run on hosts that share no file system.
//
// Keys are '/'-separated and relative: `runs/<run>/iter-NNN/<file>` for an iteration's files, `images/xx/<sha256>.jpg`
// for the content store. The database stores keys, never a host's paths.

/** An object the store does not hold (never written, or removed by retention): retrying does not help. */
export class MissingObjectError extends Error {
  override readonly name = 'MissingObjectError';
  constructor(
    readonly key: string,
    store: string,
  ) {
    super(
      `${key} is not in the object store (${store}): the stage that writes it has not run, its upload did not ` +
        'finish, or retention removed it. Check that every worker uses the same IE_OBJECT_STORE; then retry ' +
        'the iteration (ie retry-iteration) so the stage that writes it runs again',
    );
  }
}

/**
 * The storage interface. Every call is idempotent (an upload of the same key replaces it whole; a download
 * writes a temp file then renames), so a retried activity repeats them safely. Cost: one request per object
 * (list: one per 1,000 keys), independent of the run's size.
 */
export interface ObjectStore {
  /** Where it is, in words, for logs and errors (`s3://bucket/prefix at http://host:8333`, a folder). */
  readonly description: string;
  /** The folder whose layout is the store's own, when the store is a local folder (uploads there are copies). */
  readonly folder?: string;
  /** Stores the local file `file` under `key`. */
  upload(key: string, file: string): Promise<void>;
  /** Writes the object `key` to the local file `file` (whole or not at all); false when there is no such object. */
  download(key: string, file: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  /** Keys under `prefix` (a folder's: end it with '/'), in key order. */
  list(prefix: string): Promise<string[]>;
  /** Removes the objects (missing ones are not an error). */
  remove(keys: string[]): Promise<void>;
  /** Releases connections. */
  close(): void;
}

/** Refuses keys that could escape the store's root or that name nothing. */
export function checkedKey(key: string): string {
  if (!key || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '' || part === '.'))
    throw new RangeError(`not an object key: ${JSON.stringify(key)} (relative, '/'-separated, no '.', '..' or '//')`);
  return key;
}
