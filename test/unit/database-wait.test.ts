import type { Context } from '@temporalio/activity';
import { databaseWait, databaseWaitMs, waitDeadline } from '../../activities/database-wait';
import { closeDb, db, withDatabaseWait } from '../../lib/db';
import { isDatabaseUnavailable } from '../../lib/errors';
import { freePort } from '../support/isolated-postgres';

const saved = { DATABASE_URL: process.env.DATABASE_URL, IE_DB_WAIT_S: process.env.IE_DB_WAIT_S };

beforeAll(async () => {
  // Nothing listens there: every connection is refused, as while PostgreSQL is stopped.
  process.env.DATABASE_URL = `postgresql://ie:x@127.0.0.1:${await freePort()}/ie`;
  await closeDb();
});

afterAll(async () => {
  await closeDb();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });

test('a database that is away is told from a request that is wrong', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const prisma = (code: string, message: string, cause?: object) =>
    Object.assign(new Error(message), { name: 'PrismaClientKnownRequestError', code, meta: {}, cause });
  for (const error of [
    refused,
    prisma('P1001', "Can't reach database server at 127.0.0.1:5432", { kind: 'DatabaseNotReachable' }),
    prisma('P1017', 'Server has closed the connection.'),
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('57P03', 'the database system is starting up'),
    pgError('57P03', 'the database system is shutting down'),
    new Error('Connection terminated unexpectedly'),
    new Error('wrapped', { cause: refused }),
  ])
    expect([error.message, isDatabaseUnavailable(error)]).toEqual([error.message, true]);
  for (const error of [
    prisma('P2002', 'Unique constraint failed on the fields: (`url`)'),
    prisma('P2025', 'No record was found for an update.'),
    pgError('42P01', 'relation "Run" does not exist'),
    pgError('28P01', 'password authentication failed for user "ie"'),
    Object.assign(new Error('bad config'), { name: 'ConfigError' }),
    undefined,
  ])
    expect([String(error), isDatabaseUnavailable(error)]).toEqual([String(error), false]);
});

test('outside an activity a call fails at once; inside, it waits for the server until its deadline, then fails', async () => {
  let started = performance.now();
  await expect(db().run.count()).rejects.toMatchObject({ code: 'P1001' });
  expect(performance.now() - started).toBeLessThan(10_000); // waiting would take IE_DB_WAIT_S (10 minutes)

  const events: string[] = [];
  started = performance.now();
  const call = withDatabaseWait(
    {
      deadline: Date.now() + 1500,
      onWait: () => events.push('wait'),
      onBack: () => events.push('back'),
      onGiveUp: () => events.push('give up'),
    },
    () => db().run.count(),
  );
  await expect(call).rejects.toMatchObject({ code: 'P1001' });
  expect(performance.now() - started).toBeGreaterThanOrEqual(700);
  expect(events).toEqual(['wait', 'give up']);
});

test('a transaction is not repeated call by call: it fails, for the activity to wait and retry it whole', async () => {
  const events: string[] = [];
  const wait = { deadline: Date.now() + 60_000, onWait: () => events.push('wait') };
  const started = performance.now();
  await expect(withDatabaseWait(wait, () => db().$transaction([db().run.count()]))).rejects.toMatchObject({
    code: 'P1001',
  });
  await expect(withDatabaseWait(wait, () => db().$transaction((tx) => tx.run.count()))).rejects.toMatchObject({
    code: 'P1001',
  });
  expect(performance.now() - started).toBeLessThan(30_000); // waiting would take the minute to the deadline
  expect(events).toEqual([]);
});

test('a cancelled activity stops waiting', async () => {
  const controller = new AbortController();
  const started = performance.now();
  const call = withDatabaseWait(
    { deadline: Date.now() + 60_000, signal: controller.signal },
    () => db().$queryRaw`SELECT 1`,
  );
  setTimeout(() => controller.abort(), 300);
  await expect(call).rejects.toMatchObject({
    meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } },
  });
  expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  expect(performance.now() - started).toBeLessThan(30_000); // not cancelled, it would wait the whole minute
});

test('an attempt waits at most IE_DB_WAIT_S, and gives up before its start-to-close timeout', () => {
  const info = (startToCloseTimeoutMs: number) =>
    ({ currentAttemptScheduledTimestampMs: 1_000_000, startToCloseTimeoutMs }) as Context['info'];
  delete process.env.IE_DB_WAIT_S;
  expect(databaseWaitMs()).toBe(600_000);
  expect(waitDeadline(info(2 * 3600_000), 1_000_000)).toBe(1_600_000);
  expect(waitDeadline(info(60_000), 1_000_000)).toBe(1_055_000);
  process.env.IE_DB_WAIT_S = '30';
  expect(waitDeadline(info(2 * 3600_000), 1_000_000)).toBe(1_030_000);
});

test('an attempt cut off from the server fails only once it answers (here: once its wait is over); others at once', async () => {
  process.env.IE_DB_WAIT_S = '1';
  const ctx = {
    info: {
      activityType: 'someActivity',
      currentAttemptScheduledTimestampMs: Date.now(),
      startToCloseTimeoutMs: 3600_000,
    },
    cancellationSignal: new AbortController().signal,
  } as unknown as Context;
  const execute = (error: Error) =>
    databaseWait(ctx).inbound!.execute!({ args: [], headers: {} }, () => Promise.reject(error));
  const cutOff = pgError('57P01', 'terminating connection due to administrator command');
  let started = performance.now();
  await expect(execute(cutOff)).rejects.toBe(cutOff);
  expect(performance.now() - started).toBeGreaterThanOrEqual(700);
  // Given a minute to wait, an error that is not a lost server still fails at once.
  process.env.IE_DB_WAIT_S = '60';
  const wrong = pgError('42P01', 'relation "Run" does not exist');
  started = performance.now();
  await expect(execute(wrong)).rejects.toBe(wrong);
  expect(performance.now() - started).toBeLessThan(20_000);
});
