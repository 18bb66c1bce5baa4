import { AsyncLocalStorage } from 'node:async_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type $Enums } from '@prisma/client';
import type { RunStatus } from './contract';
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

function createClient(databaseUrl: string) {
  const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 8 }) });
  return base.$extends({
    query: {
      async $allOperations({ args, query }) {
        const clock = dbClock.getStore();
        enterDb(clock);
        try {
          return await query(args);
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
