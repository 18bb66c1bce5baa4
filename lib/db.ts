import { AsyncLocalStorage } from 'node:async_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type $Enums } from '@prisma/client';
import type { RunStatus } from './contract';
import { neverReachedDatabase } from './errors';
import { untilReached, type OutageWait } from './outage';
import { localDatabaseUrl } from './services/postgres';

/**
 * Wall-clock time during which the current activity had at least one database call in flight, so stage
 * timings can separate it out. Concurrent calls overlap: summing their durations would overcount.
 */
interface DbClock {
  ms: number;
  inFlight: number;
  since: number;
}
const dbClock = new AsyncLocalStorage<DbClock>();

export async function withDbClock<T>(fn: () => Promise<T>): Promise<{ value: T; dbMs: number }> {
  const clock: DbClock = { ms: 0, inFlight: 0, since: 0 };
  const value = await dbClock.run(clock, fn);
  return { value, dbMs: clock.ms };
}

function enterDb(clock: DbClock | undefined): void {
  if (clock && clock.inFlight++ === 0) clock.since = performance.now();
}

function leaveDb(clock: DbClock | undefined): void {
  if (clock && --clock.inFlight === 0) clock.ms += performance.now() - clock.since;
}

/**
 * How a database call made inside `withDatabaseWait` rides out PostgreSQL being away (lib/outage.ts): a call
 * that could not reach the server (refused, or the server starting up or shutting down) is tried again until
 * the server answers, `deadline` passes or `signal` aborts. Only calls that never reached the server are
 * repeated, so no statement runs twice, and never one of a transaction (a transaction that cannot start
 * fails; the activity's attempt fails and waits for the server before it is retried:
 * activities/database-wait.ts).
 */
export type DatabaseWait = OutageWait;
const databaseWait = new AsyncLocalStorage<DatabaseWait>();

/** Runs `fn` with its database calls waiting out an outage (activities run in this; the CLI does not). */
export function withDatabaseWait<T>(wait: DatabaseWait, fn: () => PromiseLike<T>): Promise<T> {
  // Awaited inside: a Prisma call is lazy and runs (in the caller's context) only once awaited.
  return databaseWait.run(wait, async () => await fn());
}

/** Prisma hands query extensions its request; `transaction` is set for a call inside one (batch or interactive). */
interface InternalParams {
  transaction?: unknown;
}

/**
 * How long a transaction (batch or interactive) may wait for a connection and then run. Prisma's defaults
 * (2 s, 5 s) failed batches on a loaded host: a search whose results had already come from the provider was
 * recorded as a failed query because saving them took 8 s. These still bound a stuck transaction.
 */
export const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 120_000 } as const;

function createClient(databaseUrl: string) {
  const base = new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: 8 }),
    transactionOptions: TRANSACTION_OPTIONS,
  });
  return base.$extends({
    query: {
      async $allOperations({ args, query, ...request }) {
        const clock = dbClock.getStore();
        enterDb(clock);
        try {
          const wait = databaseWait.getStore();
          // Not knowing whether the call is part of a transaction (a Prisma without this field), it is not repeated.
          const internal = (request as { __internalParams?: InternalParams }).__internalParams;
          if (!wait || !internal || internal.transaction !== undefined) return await query(args);
          return await untilReached(wait, () => query(args), neverReachedDatabase);
        } finally {
          leaveDb(clock);
        }
      },
    },
  });
}

export type Db = ReturnType<typeof createClient>;

let client: Db | undefined;

/** The Prisma client for activities (workflow code never touches the database). */
export function db(): Db {
  if (!client) {
    // Default: the project-local cluster that `ie up` / `ie demo` start.
    client = createClient(process.env.DATABASE_URL ?? localDatabaseUrl('ie'));
  }
  return client;
}

export async function closeDb(): Promise<void> {
  if (client) await client.$disconnect();
  client = undefined;
}

/** Prisma's name of a run status: its enum spells 'waiting-retry' (what the database stores) with an underscore. */
export function dbRunStatus(status: RunStatus): $Enums.RunStatus {
  return status.replace('-', '_') as $Enums.RunStatus;
}

/** A run status as Prisma returns it, in the spelling of the contract (and of the database and search attribute). */
export function runStatusOf(status: $Enums.RunStatus): RunStatus {
  return status.replace('_', '-') as RunStatus;
}
