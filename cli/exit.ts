import { ConfigError } from '../lib/config';
import { TargetError } from '../activities/target';
import { ReportError } from '../report/data';

/** What `ie`'s exit status means; scripts may rely on these. */
export const EXIT = {
  ok: 0,
  /** The run (or the command's own work) failed. */
  failed: 1,
  /** Bad input: a config, flag, target or run id that cannot be used; nothing was started. */
  badInput: 2,
  /** A service (PostgreSQL, Temporal) could not be reached. */
  services: 3,
} as const;

/** A command-line mistake the user can fix: unknown run id, a run with nothing to report yet, a bad flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** PostgreSQL or Temporal did not answer. */
export class ServiceUnavailableError extends Error {
  override readonly name = 'ServiceUnavailableError';
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'P1001']);

/** Whether an error says a service did not answer (connection refused, unknown host, Prisma P1001). */
export function isUnreachable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    if (
      typeof message === 'string' &&
      /ECONNREFUSED|Failed to connect|Can't reach database server|connect ETIMEDOUT/i.test(message)
    )
      return true;
    e = cause;
  }
  return false;
}

/** The gist of a connection error: Prisma's messages quote the calling code before the reason. */
export function unreachableReason(error: unknown): string {
  const lines = String((error as Error)?.message ?? error)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /can't reach|ECONNREFUSED|connect|timed? ?out/i.test(l)) ?? lines[lines.length - 1] ?? '';
}

/** The exit status for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (
    error instanceof ConfigError ||
    error instanceof TargetError ||
    error instanceof UsageError ||
    error instanceof ReportError
  )
    return EXIT.badInput;
  if (error instanceof ServiceUnavailableError || isUnreachable(error)) return EXIT.services;
  return EXIT.failed;
}
