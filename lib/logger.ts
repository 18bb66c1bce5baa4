import pino from 'pino';

/**
 * Structured JSON logs, on stderr (stdout is for what a command prints: progress lines, JSON answers). Bind
 * `runId`, `iteration` and `stage` with `logger.child({...})` so every line says which run, iteration and
 * stage it belongs to.
 */
export const logger = pino(
  {
    level: process.env.IE_LOG_LEVEL ?? 'info',
    base: { service: 'internet-explorer' },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ fd: 2, sync: true }),
);

export type Logger = pino.Logger;
