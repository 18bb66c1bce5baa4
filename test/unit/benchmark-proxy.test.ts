import { normalQuantile, syntheticReward } from '../../bench/learning/proxy';

test('the normal quantile matches known values and is odd around one half', () => {
  expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
  expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
  expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  expect(normalQuantile(0.3)).toBeCloseTo(-normalQuantile(0.7), 9);
  expect(() => normalQuantile(1)).toThrow(/probability in \(0, 1\)/);
});

test('synthetic rewards separate relevant from other images with the AUC asked for, the same on every call', () => {
  const auc = 0.7;
  const signal = Math.SQRT2 * normalQuantile(auc);
  const relevant = Array.from({ length: 600 }, (_, i) => syntheticReward(`r${i}`, true, signal));
  const other = Array.from({ length: 600 }, (_, i) => syntheticReward(`o${i}`, false, signal));
  let wins = 0;
  for (const r of relevant) for (const o of other) wins += r > o ? 1 : r === o ? 0.5 : 0;
  expect(wins / (relevant.length * other.length)).toBeGreaterThan(auc - 0.03);
  expect(wins / (relevant.length * other.length)).toBeLessThan(auc + 0.03);
  expect(syntheticReward('r1', true, signal)).toBe(relevant[1]);
});
