import { rowsLost } from '../integration/resilience/recovery';

test('rows lost counts the rows of the uninterrupted run that the faulted run lacks, duplicates included', () => {
  const expected = { fetch: ['a', 'b', 'b'], image: ['x'] };
  expect(rowsLost(expected, { fetch: ['b', 'a', 'b'], image: ['x'] })).toBe(0);
  expect(rowsLost(expected, { fetch: ['a', 'b'], image: ['x'] })).toBe(1);
  expect(rowsLost(expected, { fetch: ['a', 'b', 'b', 'c'] })).toBe(1);
  // Rows the faulted run has beyond the uninterrupted one are not losses (the tests compare them anyway).
  expect(rowsLost({ fetch: [] }, { fetch: ['z'] })).toBe(0);
});
