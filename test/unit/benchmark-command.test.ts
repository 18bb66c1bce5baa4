import { benchmarkCommand } from '../../benchmark/command';
import { ConfigError } from '../../lib/config';

// Both checks run before any service starts or any base encoder is built, so nothing here needs them.
test('--set keys both arms share are validated by the run config schema before anything starts', async () => {
  const lines: string[] = [];
  const run = benchmarkCommand({ set: ['train.bogus=1'] }, (l) => lines.push(l));
  await expect(run).rejects.toThrow(ConfigError);
  await expect(run).rejects.toThrow(/unknown key 'train\.bogus'.*initCheckpoint/);
  expect(lines).toEqual([]);
});

test('the benchmark refuses --set of the keys it sets itself (mode, target)', async () => {
  await expect(benchmarkCommand({ set: ['mode=random'] }, () => undefined)).rejects.toThrow(
    "the benchmark sets 'mode' itself",
  );
  await expect(benchmarkCommand({ set: ['target=/tmp'] }, () => undefined)).rejects.toThrow(
    "the benchmark sets 'target' itself",
  );
});
