import { AsyncLocalStorage } from 'node:async_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';

/** Time spent in database calls by the current activity, so stage timings can separate it out. */
const dbClock = new AsyncLocalStorage<{ ms: number }>();

export async function withDbClock<T>(fn: () => Promise<T>): Promise<{ value: T; dbMs: number }> {
  const clock = { ms: 0 };
  const value = await dbClock.run(clock, fn);
  return { value, dbMs: clock.ms };
}

function createClient(databaseUrl: string) {
  const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 8 }) });
  return base.$extends({
    query: {
      async $allOperations({ args, query }) {
        const clock = dbClock.getStore();
        const started = performance.now();
        try {
          return await query(args);
        } finally {
          if (clock) clock.ms += performance.now() - started;
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
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set: point it at PostgreSQL, or run `ie up` to start a local one');
    client = createClient(url);
  }
  return client;
}

export async function closeDb(): Promise<void> {
  if (client) await client.$disconnect();
  client = undefined;
}
