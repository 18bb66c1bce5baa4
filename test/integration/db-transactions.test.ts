import { db, TRANSACTION_OPTIONS } from '../../lib/db';
import { useTestEnvironment } from './harness';
import { insertRunRow } from './run-rows';

jest.setTimeout(2 * 60_000);

useTestEnvironment('db-transactions');

// Longer than Prisma's default transaction timeout (5 s), which failed batches on a loaded host.
const SLOW_SECONDS = 6;

beforeAll(async () => {
  await insertRunRow('tx-batch');
  await insertRunRow('tx-interactive');
});

test('the client allows transactions far longer than Prisma’s 5 s default', () => {
  expect(TRANSACTION_OPTIONS.timeout).toBeGreaterThanOrEqual(60_000);
  expect(TRANSACTION_OPTIONS.maxWait).toBeGreaterThanOrEqual(10_000);
});

test('a batch transaction that runs past 5 s commits on the real database', async () => {
  await db().$transaction([
    db().$queryRaw`SELECT pg_sleep(${SLOW_SECONDS})::text AS slept`,
    db().run.update({ where: { id: 'tx-batch' }, data: { status: 'completed' } }),
  ]);
  expect((await db().run.findUniqueOrThrow({ where: { id: 'tx-batch' } })).status).toBe('completed');
});

test('an interactive transaction that runs past 5 s commits on the real database', async () => {
  await db().$transaction(async (tx) => {
    await tx.$queryRaw`SELECT pg_sleep(${SLOW_SECONDS})::text AS slept`;
    await tx.run.update({ where: { id: 'tx-interactive' }, data: { status: 'completed' } });
  });
  expect((await db().run.findUniqueOrThrow({ where: { id: 'tx-interactive' } })).status).toBe('completed');
});
