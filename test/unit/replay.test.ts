import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

jest.setTimeout(120_000);

const dir = path.join(__dirname, '..', 'fixtures', 'histories');

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
});

/**
 * Histories recorded from real runs (`temporal workflow show --output json`): a run that was paused,
 * steered and stopped by updates, one whose failed iteration was retried, one whose training attempt timed out
 * (its worker killed: the heartbeat lapsed) and was retried, and one whose training attempt failed (its
 * trainer killed) and was retried, and a benchmark run recorded with the stage-worker watch
 * (`patched('worker-watch')`: its timers and checks around each stage). Replaying them proves the workflow code is still deterministic for runs
 * already in flight; a change that breaks this needs `patched()` (docs/operations.md, "Deploying new workflow
 * code"). Add fixtures with scripts/record-histories.sh; keep the old ones.
 */
const workflowIds = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Record<string, string>;

test.each(Object.entries(workflowIds))('workflow code replays the recorded history %s', async (file, workflowId) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as unknown;
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId),
  ).resolves.toBeUndefined();
});

/** The attempts after the first of every activity in a fixture: why the one before each ended. */
function retriedAttempts(file: string): { attempt: number; timeoutType?: string; message: string }[] {
  type Started = { attempt?: number; lastFailure?: { message: string; timeoutFailureInfo?: { timeoutType: string } } };
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
    events: { activityTaskStartedEventAttributes?: Started }[];
  };
  return history.events
    .map((e) => e.activityTaskStartedEventAttributes)
    .filter((a): a is Started => (a?.attempt ?? 1) > 1)
    .map((a) => ({
      attempt: a.attempt!,
      timeoutType: a.lastFailure?.timeoutFailureInfo?.timeoutType,
      message: a.lastFailure?.message ?? '',
    }));
}

test('the fixtures hold an activity that timed out and one that failed, each retried', () => {
  expect(retriedAttempts('timedout-iteration.json')).toEqual([
    { attempt: 2, timeoutType: 'TIMEOUT_TYPE_HEARTBEAT', message: 'activity Heartbeat timeout' },
  ]);
  expect(retriedAttempts('failedattempt-iteration.json')).toEqual([
    { attempt: 2, timeoutType: undefined, message: expect.stringContaining('trainer exited with SIGKILL') as unknown },
  ]);
});

test('a fixture holds the worker-watch patch: its marker, and a timer around each stage that is cancelled once it ends', () => {
  type Event = {
    eventType: string;
    markerRecordedEventAttributes?: {
      markerName: string;
      details?: { 'patch-data'?: { payloads: { data: string }[] } };
    };
  };
  const { events } = JSON.parse(fs.readFileSync(path.join(dir, 'watched-iteration.json'), 'utf8')) as {
    events: Event[];
  };
  const patches = events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads[0]?.data ?? '';
      return (JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id;
    });
  expect(patches).toEqual(['worker-watch']);
  const count = (type: string) => events.filter((e) => e.eventType === type).length;
  expect(count('EVENT_TYPE_TIMER_STARTED')).toBeGreaterThanOrEqual(7);
  expect(count('EVENT_TYPE_TIMER_CANCELED')).toBe(count('EVENT_TYPE_TIMER_STARTED'));
});
