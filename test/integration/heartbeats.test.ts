import { MockActivityEnvironment } from '@temporalio/testing';
import { heartbeatPump } from '../../activities/heartbeat';
import { warmUpActivities } from '../../activities/warm-up';
import { prepareRun } from '../../activities/stages/run';
import { sampleQueries } from '../../activities/stages/sample';
import { searchQueries } from '../../activities/stages/search';
import { downloadCandidates } from '../../activities/stages/download';
import { trainEncoder } from '../../activities/stages/train';
import { scoreCandidates } from '../../activities/stages/score';
import { updateDistribution } from '../../activities/stages/update';
import { evaluateEncoder } from '../../activities/stages/evaluate';
import { db } from '../../lib/db';
import { startFakeApi, type FakeApi, type SeenRequest } from '../fixtures/search/server';
import { uniqueId, useTestEnvironment } from './harness';

jest.setTimeout(600_000);

// Every activity runs with this heartbeat timeout under the workers' heartbeat pump; none may go half of it
// without a heartbeat, whatever it waits on (a provider's pacing and Retry-After, a subprocess). The pump
// beats every sixth of the timeout; half leaves room for a beat or two that a loaded machine delays (the
// fault tests run beside this file), and the server gives up only at the whole timeout.
const HEARTBEAT_TIMEOUT_MS = 6000;
const LARGEST_GAP_MS = HEARTBEAT_TIMEOUT_MS / 2;

const env = useTestEnvironment('heartbeats', { engine: {} });
let provider: FakeApi;

beforeAll(async () => {
  provider = await startFakeApi();
  // As an io worker does before it polls.
  await warmUpActivities();
});
afterAll(async () => {
  await provider?.close();
});

/** Runs one activity as a worker would (with the pump), recording when it heartbeats. */
async function watched<T>(run: () => Promise<T>): Promise<{ value: T; largestGapMs: number; beats: number }> {
  const mock = new MockActivityEnvironment(
    { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS },
    { interceptors: [heartbeatPump] },
  );
  const beats: number[] = [];
  mock.on('heartbeat', () => beats.push(Date.now()));
  const started = Date.now();
  const value = (await mock.run(run)) as T;
  const times = [started, ...beats, Date.now()];
  const largestGapMs = Math.max(...times.slice(1).map((t, i) => t - times[i]));
  return { value, largestGapMs, beats: beats.length };
}

/**
 * An Openverse-shaped API over the test engine's results, as slow as a real provider gets: the run asks it
 * at 1 request/s, and the first request of each query is told to come back in 2 s (429, Retry-After).
 */
function slowOpenverse(engineUrl: string) {
  const throttled = new Set<string>();
  return async (req: SeenRequest) => {
    const q = req.query.get('q') ?? '';
    if (!throttled.has(q)) {
      throttled.add(q);
      return { status: 429, headers: { 'Retry-After': '2' }, json: { detail: 'slow down' } };
    }
    const size = Number(req.query.get('page_size') ?? 20);
    const res = await fetch(`${engineUrl}/search?q=${encodeURIComponent(q)}&per_page=${size}`);
    const body = (await res.json()) as { total: number; results: { url: string; title?: string }[] };
    return {
      json: {
        result_count: body.total,
        page_count: 1,
        page_size: size,
        page: 1,
        results: body.results.map((r, i) => ({ id: `${q}-${i}`, url: r.url, title: r.title ?? q })),
      },
    };
  };
}

test('no stage goes half its heartbeat timeout without heartbeating, against slow real parts', async () => {
  provider.handle(slowOpenverse(env.engine.url));
  const runId = uniqueId('it-beats');
  const ref = { runId, iteration: 0 };
  const config = env.runConfig({
    iterations: 1,
    queriesPerIteration: 4,
    resultsPerQuery: 8,
    // Class names first: queries that surely find images, so every later stage has work to do.
    concepts: { classNames: ['Chihuahua', 'golden retriever', 'tabby cat', 'Persian cat'], queryFirst: true },
    search: {
      provider: 'openverse',
      openverse: { baseUrl: provider.url, requestsPerSecond: 1, maxRetries: 2 },
      baseUrl: env.engine.url,
    },
  });
  const gaps: Record<string, { largestGapMs: number; beats: number }> = {};
  const stage = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const { value, ...gap } = await watched(run);
    gaps[name] = gap;
    return value;
  };

  await stage('prepare', () => prepareRun({ runId, config }));
  await stage('sample', () => sampleQueries(ref));
  const searched = await stage('search', () => searchQueries(ref));
  expect(searched.results).toBeGreaterThan(0);
  await stage('download', () => downloadCandidates(ref));
  await stage('train', () => trainEncoder(ref));
  await stage('score', () => scoreCandidates(ref));
  // A GP over many observed concepts: thousands of earlier concepts that found an image, with rewards (past
  // the exact GP's cap).
  await db().conceptEvidence.createMany({
    data: Array.from({ length: 6000 }, (_, i) => ({
      runId,
      conceptId: 10_000 + i * 7,
      sample: [String(i).padStart(64, '0')],
      reward: Math.sin(i),
      standardised: Math.sin(i),
      scoredIteration: 0,
    })),
    skipDuplicates: true,
  });
  const updated = await stage('update', () => updateDistribution(ref));
  expect(updated.observed).toBeGreaterThanOrEqual(6000);
  await stage('evaluate', () => evaluateEncoder(ref));

  // The slow provider was really slow: pacing and Retry-After spread the search over seconds.
  const searchRequests = provider.requests.filter((r) => r.path.includes('images'));
  expect(searchRequests.length).toBeGreaterThanOrEqual(8);
  expect(searchRequests[searchRequests.length - 1].at - searchRequests[0].at).toBeGreaterThan(3000);

  process.stdout.write(`heartbeat gaps (ms): ${JSON.stringify(gaps)}\n`);
  expect(Object.keys(gaps)).toHaveLength(8);
  const late = Object.entries(gaps).filter(([, gap]) => gap.largestGapMs > LARGEST_GAP_MS);
  expect(late).toEqual([]);
});
