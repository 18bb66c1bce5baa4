// A worker process asked for metrics (IE_METRICS_ADDRESS) serves the SDK's metrics for Prometheus, and says
// where when it is ready; a malformed address stops it with a line saying what to set.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import axios from 'axios';
import { PROJECT_ROOT } from '../../lib/paths';
import { useTestEnvironment } from './harness';
import { freePort } from '../support/isolated-postgres';
import { logTail, startWorker, stopWorker, until } from './worker-process';

jest.setTimeout(120_000);

const env = useTestEnvironment('worker-metrics');

test('a worker process serves its SDK metrics at IE_METRICS_ADDRESS', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  process.env.IE_METRICS_ADDRESS = address;
  const worker = startWorker('metrics', env.databaseUrl, undefined, 'workflows,score');
  delete process.env.IE_METRICS_ADDRESS;
  try {
    await until(
      'the worker to be ready',
      async () => (logTail(worker).includes('workers ready') ? true : undefined),
      60_000,
    );
    expect(logTail(worker)).toContain(`"msg":"workers ready"`);
    expect(logTail(worker)).toContain(`"metrics":"${address}"`);
    // Pollers are counted once the workers poll: a gauge per task queue.
    const text = await until(
      'poller metrics',
      async () => {
        const body = (await axios.get<string>(`http://${address}/metrics`, { responseType: 'text' })).data;
        return /temporal_num_pollers\{[^}]*task_queue="ie-score"/.test(body) ? body : undefined;
      },
      60_000,
    );
    expect(text).toMatch(/temporal_num_pollers\{[^}]*task_queue="internet-explorer"/);
    expect(text).toMatch(/^# TYPE temporal_\w+ (counter|gauge|histogram)$/m);
  } finally {
    await stopWorker(worker);
  }
});

test('a malformed IE_METRICS_ADDRESS stops the worker with a line saying what to set', () => {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts'), 'score'],
    {
      env: { ...process.env, IE_METRICS_ADDRESS: '9464', IE_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(result.status).not.toBe(0);
  expect(result.stdout + result.stderr).toContain(
    "IE_METRICS_ADDRESS '9464' is not host:port: set it to e.g. 0.0.0.0:9464",
  );
});
