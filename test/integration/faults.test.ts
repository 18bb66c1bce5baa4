import { db } from '../../lib/db';
import axios from 'axios';
import { FAULT_KINDS, faultForKey, faultUrl, type FaultConfigInput } from '../../engine/faults';
import { EXPECTED, FAULT_DOWNLOAD, FAULT_OPTIONS } from '../fault-outcomes';
import { runToCompletion, temporalClient, uniqueId, useTestEnvironment } from './harness';

jest.setTimeout(10 * 60_000);

// Every fault kind on 3% of the corpus each (69% of URLs misbehave), over real HTTP.
const FAULTS: FaultConfigInput = {
  seed: 11,
  rates: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0.03])),
  ...FAULT_OPTIONS,
};
const SUCCESS = new Set(['ok', 'duplicate']);

const env = useTestEnvironment('faults', { engine: { faults: FAULTS } });

beforeAll(async () => {
  // Make the huge image once now (it takes seconds), so that the timed downloads don't race it.
  await axios.get(faultUrl(env.engine.url, 'huge_image', 'tiny/n02099601_0'), {
    responseType: 'arraybuffer',
    timeout: 120_000,
  });
});

test('an iteration survives every fault of the web: it completes, nothing valid is lost, each failure has its reason', async () => {
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-faults');
  const config = env.runConfig({
    iterations: 1,
    queriesPerIteration: 32,
    download: FAULT_DOWNLOAD,
  });
  const result = await runToCompletion(client, runId, config);
  expect(result.status).toBe('completed');

  const fetches = await db().fetch.findMany({ where: { runId } });
  const keyOf = (url: string) =>
    decodeURIComponent(new URL(url).pathname.replace(/^\/images\//, '').replace(/\.jpg$/, ''));
  const seen = new Set<string>();
  for (const f of fetches) {
    const fault = faultForKey(keyOf(f.url), { seed: FAULTS.seed ?? 0, rates: FAULTS.rates ?? {} });
    const expected = fault ? EXPECTED[fault] : 'ok';
    const actual = f.status === 'ok' ? 'ok' : (f.reason ?? 'unknown');
    if (expected === 'ok') expect([f.url, SUCCESS.has(actual) || f.reason === 'duplicate']).toEqual([f.url, true]);
    else expect([f.url, actual]).toEqual([f.url, expected]);
    if (fault) seen.add(fault);
  }
  // The sample really exercised most kinds.
  expect(seen.size).toBeGreaterThanOrEqual(12);

  // Nothing valid is lost: every URL that delivered an image is a candidate of the iteration (or a
  // recorded exclusion), and only those.
  const ok = fetches.filter((f) => f.status === 'ok' && f.sha256);
  const candidates = new Set((await db().candidate.findMany({ where: { runId } })).map((c) => c.sha256));
  const excluded = new Set((await db().exclusion.findMany({ where: { runId } })).map((e) => e.url));
  for (const f of ok) expect([f.url, candidates.has(f.sha256 as string) || excluded.has(f.url)]).toEqual([f.url, true]);
  expect(result.history[0].downloaded).toBe(candidates.size);
  const failures = Object.entries(result.history[0].outcomes).filter(([reason]) => !SUCCESS.has(reason));
  expect(failures.reduce((sum, [, n]) => sum + n, 0)).toBe(fetches.filter((f) => f.status !== 'ok').length);
  await connection.close();
});
