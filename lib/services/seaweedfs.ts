// A SeaweedFS server (Apache-2.0) answering S3 on this machine: what the tests (and `ie up --object-store`) use
// as the object store workers on different hosts share. Built once from the Go module proxy (about 4 minutes
// on 2 cores) into a cache outside the clone, so later runs and fresh clones on the same machine reuse it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { stateDir } from '../paths';
import { portOpen, spawnDetached, stopProcess, waitFor, type ServiceProcess } from './process';

/** The SeaweedFS source this project builds (a Go pseudo-version: its go.mod has replace directives). */
export const SEAWEEDFS_MODULE = 'github.com/seaweedfs/seaweedfs@v0.0.0-20261109003541-7506e5f91cd6';

/** Access key the local server accepts (it accepts no anonymous requests, so a test also checks signing). */
export const SEAWEEDFS_CREDENTIALS = { accessKeyId: 'ie-local', secretAccessKey: 'ie-local-secret' };

export const DEFAULT_S3_PORT = 8333;

/** The `weed` binary: $IE_WEED_BIN, else the cached build (~/.cache/internet-explorer/weed-<version>). */
export function seaweedBinary(): string {
  if (process.env.IE_WEED_BIN) return process.env.IE_WEED_BIN;
  const version = SEAWEEDFS_MODULE.split('@')[1] ?? 'unknown';
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'internet-explorer', `weed-${version}`);
}

/**
 * Builds the `weed` binary unless it is there: `go mod download` (go install refuses the module's replace
 * directives), a writable copy of the module, `go build`. Needs Go ≥ 1.25 on PATH.
 */
export function ensureSeaweedBinary(log: (line: string) => void = () => {}): string {
  const binary = seaweedBinary();
  if (fs.existsSync(binary)) return binary;
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `SeaweedFS is not built (${binary}) and Go is not on PATH: install Go ≥ 1.25 (https://go.dev/dl), ` +
        'or set IE_WEED_BIN to a weed binary',
    );
  }
  log(`building SeaweedFS ${SEAWEEDFS_MODULE} (about 4 minutes, once)`);
  const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', SEAWEEDFS_MODULE]).toString()) as {
    Dir: string;
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-seaweedfs-'));
  try {
    fs.cpSync(info.Dir, work, { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', work]);
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    const partial = `${binary}.${process.pid}.partial`;
    execFileSync('go', ['build', '-o', partial, './weed'], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
    fs.renameSync(partial, binary);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  log(`SeaweedFS built: ${binary}`);
  return binary;
}

export interface SeaweedOptions {
  /** S3 port; the master, volume and filer take the three above it (and each its port + 10000 for gRPC). */
  s3Port?: number;
  /** State sub-folder (data, pid and log), so a test server and a cluster's do not share them. */
  name?: string;
  /** Buckets to create once it answers. */
  buckets?: string[];
}

function service(name: string): ServiceProcess {
  const dir = path.join(stateDir(), name);
  return { name: 'SeaweedFS', pidFile: path.join(dir, 'server.pid'), logFile: path.join(dir, 'server.log') };
}

/** Starts (or reuses) SeaweedFS with its S3 gateway; returns the S3 endpoint and whether this call started it. */
export async function ensureSeaweedFs(opts: SeaweedOptions = {}): Promise<{ endpoint: string; started: boolean }> {
  const s3Port = opts.s3Port ?? DEFAULT_S3_PORT;
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const name = opts.name ?? 'seaweedfs';
  let started = false;
  if (!(await portOpen(s3Port))) {
    const binary = ensureSeaweedBinary((line) => process.stderr.write(`[seaweedfs] ${line}\n`));
    const svc = service(name);
    const dataDir = path.join(stateDir(), name, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const identities = path.join(stateDir(), name, 's3-identities.json');
    fs.writeFileSync(
      identities,
      JSON.stringify({
        identities: [
          {
            name: 'internet-explorer',
            credentials: [
              { accessKey: SEAWEEDFS_CREDENTIALS.accessKeyId, secretKey: SEAWEEDFS_CREDENTIALS.secretAccessKey },
            ],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      }),
    );
    spawnDetached(svc, binary, [
      'server',
      `-dir=${dataDir}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${s3Port + 1}`,
      `-volume.port=${s3Port + 2}`,
      `-filer.port=${s3Port + 3}`,
      '-s3',
      `-s3.port=${s3Port}`,
      `-s3.config=${identities}`,
      // Small volumes (the default is 30 GB each), as many as the disk's free space holds: the default
      // allows 8, which a bucket's first writes allocate at once and a few checkpoints fill.
      '-master.volumeSizeLimitMB=256',
      '-volume.max=0',
    ]);
    started = true;
  }
  await waitFor('SeaweedFS S3', () => bucketsReady(endpoint, opts.buckets ?? []), 90_000, service(name).logFile);
  return { endpoint, started };
}

/** Creates the buckets (an existing one is fine); false while the server does not answer yet. */
async function bucketsReady(endpoint: string, buckets: string[]): Promise<boolean> {
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: SEAWEEDFS_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    for (const bucket of buckets) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = error instanceof S3ServiceException ? error.name : '';
        if (name !== 'BucketAlreadyExists' && name !== 'BucketAlreadyOwnedByYou') throw error;
      }
    }
    if (buckets.length === 0) await fetch(endpoint).catch(() => Promise.reject(new Error('not answering')));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/** Stops it (SIGTERM; it takes several seconds to exit, then SIGKILL). */
export function stopSeaweedFs(name = 'seaweedfs'): Promise<boolean> {
  return stopProcess(service(name), 30_000);
}
