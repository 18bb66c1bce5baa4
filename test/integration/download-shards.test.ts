// An iteration's downloads split into shards that any io worker takes: a run with `download.shards: 4`,
// served by two io worker processes beside one of the other roles, completes with the rows (by natural key)
// of the same run downloaded in one activity; the shards record no stage timing of their own (the download
// stage's covers them) and every URL is fetched once.
import { closeDb, db } from '../../lib/db';
import { startRun } from '../../lib/client';
import { iterationWorkflowId } from '../../lib/contract';
import { createTestDatabase, temporalClient, uniqueId, useTestEnvironment } from './harness';
import { expectOneRowPerNaturalKey, naturalKeys } from './run-rows';
import { referenceRun } from './resilience/recovery';
import { logTail, startWorker, stopWorker, type WorkerProcess } from './worker-process';
import fs from 'node:fs';
import path from 'node:path';
import { iterationDir } from '../../activities/iteration-files';

jest.setTimeout(10 * 60_000);

const env = useTestEnvironment('download_shards', { engine: {}, database: false });

/** The activities of one type an execution completed. */
async function completedActivities(
  client: Awaited<ReturnType<typeof temporalClient>>['client'],
  workflowId: string,
  type: string,
) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, string>();
  let completed = 0;
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name) scheduled.set(String(event.eventId), s.activityType.name);
    const c = event.activityTaskCompletedEventAttributes;
    if (c && scheduled.get(String(c.scheduledEventId)) === type) completed++;
  }
  return completed;
}

test('two io workers share the download shards; the run equals one downloaded in a single activity', async () => {
  const runId = uniqueId('it-shards');
  const { client, connection } = await temporalClient();
  try {
    // One iteration: every iteration's download stage shards alike.
    await referenceRun(
      client,
      runId,
      env.runConfig({ iterations: 1 }),
      await createTestDatabase('download_shards_reference'),
    );
    const expected = await naturalKeys(runId);
    fs.rmSync(path.dirname(iterationDir(runId, 0)), { recursive: true, force: true });

    const url = await createTestDatabase('download_shards');
    const workers: WorkerProcess[] = [
      startWorker('shards-rest', url, undefined, 'workflows,score,train'),
      startWorker('shards-io-a', url, undefined, 'io'),
      startWorker('shards-io-b', url, undefined, 'io'),
    ];
    try {
      const config = env.runConfig({ iterations: 1, download: { shards: 4 } });
      expect((await (await startRun(client, runId, config)).result()).status).toBe('completed');
    } finally {
      await Promise.all(workers.map(stopWorker));
    }
    expect(await completedActivities(client, iterationWorkflowId(runId, 0), 'downloadShard')).toBe(4);
    const parts = workers
      .slice(1)
      .flatMap((w) => logTail(w, 100_000).split('\n'))
      .filter((l) => l.includes('"msg":"stage part finished"'));
    expect(parts).toHaveLength(4);
    // Every URL fetched once: the closing pass found every shard's outcome recorded.
    expect(await db().fetch.aggregate({ where: { runId }, _max: { attempts: true } })).toEqual({
      _max: { attempts: 1 },
    });
    await expectOneRowPerNaturalKey(runId, 1);
    const actual = await naturalKeys(runId);
    for (const table of Object.keys(expected)) expect([table, actual[table]]).toEqual([table, expected[table]]);
  } finally {
    await connection.close();
    await closeDb();
  }
});
