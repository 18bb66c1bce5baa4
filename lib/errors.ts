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

/**
 * PostgreSQL (or its connection) was away: refused, reset or cut off by a server shutting down or starting up
 * (SQLSTATE 57P01-57P03), as the pg driver reports it or as Prisma wraps it (P1001 can't reach, P1017 closed,
 * or the driver adapter's error in `meta`). Waiting and trying again can succeed; the request was not wrong.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return someCause(error, (code, message) =>
    Boolean(
      (code && (DATABASE_UNAVAILABLE_CODES.has(code) || DATABASE_UNAVAILABLE_KINDS.has(code))) ||
      (message && DATABASE_UNAVAILABLE_MESSAGE.test(message)),
    ),
  );
}

/**
 * The call never reached PostgreSQL: the connection was refused, or the server said at connection time that it
 * is starting up or shutting down (57P03). Nothing was sent, so the call can be made again as it was.
 */
export function neverReachedDatabase(error: unknown): boolean {
  return someCause(error, (code) => code !== undefined && NEVER_REACHED.has(code));
}

/**
 * Whether `test` holds for an error or one of its causes, by code and message; Prisma's driver-adapter errors
 * are looked into too (`meta.driverAdapterError.cause`: its kind, or the PostgreSQL code of kind `postgres`).
 */
function someCause(error: unknown, test: (code: string | undefined, message: string | undefined) => boolean): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, message, cause, meta } = e as { code?: unknown; message?: unknown; cause?: unknown; meta?: unknown };
    const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
    if (test(str(code), str(message))) return true;
    const adapter = (meta as { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } } | undefined)
      ?.driverAdapterError?.cause;
    if (adapter && (test(str(adapter.kind), undefined) || test(str(adapter.code), undefined))) return true;
    // Prisma's driver-adapter errors thrown as they are carry the adapter's kind in `cause`.
    const kind = (cause as { kind?: unknown } | undefined)?.kind;
    if (test(str(kind), undefined)) return true;
    e = cause;
  }
  return false;
}

const NEVER_REACHED = new Set(['ECONNREFUSED', 'P1001', 'DatabaseNotReachable', '57P03']);
const DATABASE_UNAVAILABLE_CODES = new Set([
  ...UNREACHABLE_CODES,
  ...NEVER_REACHED,
  'ECONNRESET',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'P1017',
  '57P01', // admin_shutdown: terminating connection due to administrator command
  '57P02', // crash_shutdown
]);
const DATABASE_UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout']);
const DATABASE_UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|Can't reach database server|Server has closed the connection|Connection terminated|terminating connection due to administrator command|the database system is (starting up|shutting down|in recovery mode)/i;

/** The gist of a connection error: Prisma's messages quote the calling code before the reason. */
export function unreachableReason(error: unknown): string {
  const lines = String((error as Error)?.message ?? error)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /can't reach|ECONNREFUSED|connect|timed? ?out/i.test(l)) ?? lines[lines.length - 1] ?? '';
}

/**
 * A stage ran out of disk space (ENOSPC or a disk quota; from Node, or from the trainer, whose message
 * carries the OS's "No space left on device"). Not retried: trying again at once fails the same way; the
 * iteration waits for `ie retry-iteration` once space is freed.
 */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError';
}

/** Whether an error (or one of its causes) says the disk or a quota is full. */
export function isDiskFull(error: unknown): boolean {
  return someCause(
    error,
    (code, message) =>
      code === 'ENOSPC' ||
      code === 'EDQUOT' ||
      /ENOSPC|No space left on device|Disk quota exceeded/.test(message ?? ''),
  );
}

/** The file a disk-full error names (Node's `path`), if any. */
export function diskFullPath(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { path, cause } = e as { path?: unknown; cause?: unknown };
    if (typeof path === 'string') return path;
    e = cause;
  }
  return undefined;
}
