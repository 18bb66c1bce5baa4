import fs from 'node:fs';
import type { Command } from 'commander';
import type { EngineOptions } from './server';
import { ensureWebdatasetManifest } from './webdataset-corpus';

/** The flags that say where the engine listens and what it serves, as commander parses them. */
export interface EngineServeFlags {
  port: string;
  host: string;
  /** The base URL its links name (EngineOptions.publicUrl). */
  publicUrl?: string;
  /** The corpus manifest (named by the command's own manifest flag). */
  manifest?: string;
  webdataset?: string;
  imageLatency?: string;
}

/** A serve flag the engine cannot start with; the message names the flag and what it accepts. */
export class EngineFlagError extends Error {
  override readonly name = 'EngineFlagError';
}

/**
 * Declares the serve flags on `command`: the port (`portFlag`, default port 8600), host, the corpus
 * manifest (`manifestFlag`: the engine says --manifest, `ie web serve` --corpus), webdataset and image latency.
 */
export function addEngineServeOptions(command: Command, portFlag: string, manifestFlag: string): Command {
  return command
    .option(portFlag, 'port to listen on (0 = any free port)', '8600')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--public-url <url>', 'base URL its result and page links name (default: http://HOST:PORT)')
    .option(manifestFlag, 'JSONL corpus manifest (default: the built-in corpus, built on first use)')
    .option('--webdataset <dir>', 'serve an img2dataset webdataset folder (tar shards), indexed on first use')
    .option('--image-latency <ms>', 'delay before each image response, like a slow web server');
}

function nonNegative(flag: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max)
    throw new EngineFlagError(`${flag} must be an integer from 0 to ${max}, got '${value}'`);
  return n;
}

/**
 * The engine's start options from its serve flags: port and latency checked, one corpus source that exists
 * (a webdataset folder is indexed here on first use). `manifestFlag` is the manifest flag's name, for errors.
 */
export async function engineServeOptions(
  flags: EngineServeFlags,
  manifestFlag: string,
): Promise<Pick<EngineOptions, 'manifestPath' | 'port' | 'host' | 'publicUrl' | 'imageLatencyMs'>> {
  const port = nonNegative('--port', flags.port, 65535);
  if (flags.manifest && flags.webdataset) throw new EngineFlagError(`give ${manifestFlag} or --webdataset, not both`);
  for (const [flag, p] of [
    [manifestFlag, flags.manifest],
    ['--webdataset', flags.webdataset],
  ] as const)
    if (p && !fs.existsSync(p)) throw new EngineFlagError(`${flag} ${p} does not exist`);
  if (flags.publicUrl !== undefined && !/^https?:$/.test(urlProtocol(flags.publicUrl)))
    throw new EngineFlagError(
      `--public-url must be an http(s) URL such as http://engine.lab:8600, got '${flags.publicUrl}'`,
    );
  return {
    publicUrl: flags.publicUrl,
    manifestPath: flags.webdataset ? await ensureWebdatasetManifest(flags.webdataset) : flags.manifest,
    port,
    host: flags.host,
    imageLatencyMs: flags.imageLatency === undefined ? undefined : nonNegative('--image-latency', flags.imageLatency),
  };
}

function urlProtocol(value: string): string {
  try {
    return new URL(value).protocol;
  } catch {
    return '';
  }
}
