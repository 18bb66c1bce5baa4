import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { writeWhole } from '../files';
import { checkedKey, type ObjectStore } from './object-store';
import { waitingOutOutage } from './store-wait';

type Sdk = typeof import('@aws-sdk/client-s3');

// Loaded on first use: a process without an S3 store never pays for (or hears from) the SDK.
let sdkLoading: Promise<Sdk> | undefined;
const loadSdk = (): Promise<Sdk> => (sdkLoading ??= import('@aws-sdk/client-s3'));

export interface S3StoreOptions {
  bucket: string;
  /** Prepended to every key ('' or ending in '/'). */
  prefix: string;
  /** A non-AWS service's URL (SeaweedFS, Ceph, GCS's S3 API); undefined: AWS for the region. */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most S3-compatible services need. */
  forcePathStyle: boolean;
  /** Explicit keys; undefined: the SDK's usual chain (environment, shared config, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Any S3-compatible object store, through the AWS SDK for JavaScript v3. */
export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private connecting: Promise<{ sdk: Sdk; client: S3Client }> | undefined;

  constructor(private readonly options: S3StoreOptions) {
    this.description = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
  }

  private connection(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.connecting ??= loadSdk().then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        region: this.options.region,
        ...(this.options.endpoint && { endpoint: this.options.endpoint }),
        forcePathStyle: this.options.forcePathStyle,
        ...(this.options.credentials && { credentials: this.options.credentials }),
        // The SDK retries throttling, 5xx answers and refused connections a few times itself; an activity
        // waits out longer outages (store-wait.ts).
        maxAttempts: 5,
      }),
    }));
    return this.connecting;
  }

  /**
   * Runs a request (again, while the store is away and the caller runs under a wait: store-wait.ts); a refusal
   * the user must fix (keys, bucket) says which setting to change.
   */
  private async call<T>(request: (sdk: Sdk, client: S3Client) => Promise<T>): Promise<T> {
    const { sdk, client } = await this.connection();
    try {
      return await waitingOutOutage(() => request(sdk, client));
    } catch (error) {
      const hint = REFUSALS[(error as Error).name];
      if (hint)
        throw new Error(
          `the object store ${this.description} refused the request (${(error as Error).name}): ${hint}`,
          {
            cause: error,
          },
        );
      throw error;
    }
  }

  private objectKey(key: string): string {
    return this.options.prefix + checkedKey(key);
  }

  async upload(key: string, file: string): Promise<void> {
    const { size } = await stat(file);
    const { bucket } = this.options;
    await this.call((sdk, client) =>
      client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: this.objectKey(key),
          Body: createReadStream(file),
          ContentLength: size,
        }),
      ),
    );
  }

  async download(key: string, file: string): Promise<boolean> {
    const { bucket } = this.options;
    let body: Readable;
    try {
      const answer = await this.call((sdk, client) =>
        client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: this.objectKey(key) })),
      );
      body = answer.Body as Readable;
    } catch (error) {
      if (notFound(error)) return false;
      throw error;
    }
    await writeWhole(file, (tmp) => pipeline(body, createWriteStream(tmp)));
    return true;
  }

  async exists(key: string): Promise<boolean> {
    const { bucket } = this.options;
    try {
      await this.call((sdk, client) =>
        client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: this.objectKey(key) })),
      );
      return true;
    } catch (error) {
      if (notFound(error)) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { bucket, prefix: root } = this.options;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.call((sdk, client) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: root + prefix, ContinuationToken: token })),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(root.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async remove(keys: string[]): Promise<void> {
    const { bucket } = this.options;
    // DeleteObjects takes at most 1,000 keys a request.
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const answer = await this.call((sdk, client) =>
        client.send(
          new sdk.DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.objectKey(key) })), Quiet: true },
          }),
        ),
      );
      const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length)
        throw new Error(
          `the object store (${this.description}) refused to remove ${failed.length} objects, e.g. ${failed[0]?.Key}: ${failed[0]?.Message}`,
        );
    }
  }

  close(): void {
    void this.connecting?.then(({ client }) => client.destroy());
  }
}

const CREDENTIALS_HINT =
  'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to keys the store accepts for this bucket';
const REFUSALS: Record<string, string> = {
  InvalidAccessKeyId: CREDENTIALS_HINT,
  SignatureDoesNotMatch: CREDENTIALS_HINT,
  AccessDenied: `${CREDENTIALS_HINT}, with read, write, list and delete rights`,
  NoSuchBucket: 'create the bucket (or name an existing one in IE_OBJECT_STORE=s3://<bucket>/<prefix>)',
  CredentialsProviderError: CREDENTIALS_HINT,
};

function notFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}
