import { BadInputError, ServiceUnavailableError, isUnreachable } from '../lib/errors';

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

/** The exit status for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof BadInputError) return EXIT.badInput;
  if (error instanceof ServiceUnavailableError || isUnreachable(error)) return EXIT.services;
  return EXIT.failed;
}
