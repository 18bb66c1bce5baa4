import pino from 'pino';

/**
 * Structured JSON logs. Bind `runId`, `iteration` and `stage` with `logger.child({...})`
 * so every line says which run, iteration and stage it belongs to.
 */
export const logger = pino({
  level: process.env.IE_LOG_LEVEL ?? 'info',
  base: { service: 'internet-explorer' },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = pino.Logger;
