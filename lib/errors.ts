// Errors every entry point maps to an exit status and every activity to a retry decision (by `name`:
// Temporal matches `nonRetryableErrorTypes` against it).

/** Input that cannot be used as given (config, flags, target, run id): fixing it is the user's move. */
export class BadInputError extends Error {}

/** A command-line mistake the user can fix: unknown run id, a run with nothing to report yet, a bad flag. */
export class UsageError extends BadInputError {
  override readonly name = 'UsageError';
}

/** A target folder that cannot be used: missing, empty, or holding an image that does not decode. */
export class TargetError extends BadInputError {
  override readonly name = 'TargetError';
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
