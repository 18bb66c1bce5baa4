import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchArgs, benchOptions, numberListOption, numberOption } from '../../bench/options';
import { PROJECT_ROOT } from '../../lib/paths';

const spec = {
  k: { type: 'string', default: '15' },
  json: { type: 'string' },
  keep: { type: 'boolean', default: false },
} as const;

test('options given, defaults for the rest, numbers read as numbers', () => {
  const values = benchOptions('usage', spec, ['--k', '7', '--keep']);
  expect(values).toEqual({ k: '7', keep: true });
  expect(numberOption(values.k, 'k')).toBe(7);
  expect(benchOptions('usage', spec, []).json).toBeUndefined();
  expect(numberListOption('1,2.5,1e3', 'io')).toEqual([1, 2.5, 1000]);
});

// The real scripts: a mistake stops them at once with exit 2 and a message, before any benchmark work.
const script =
  (file: string) =>
  (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, file), ...args], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
const knn = script('bench/knn.ts');
const carve = script('bench/learning/carve.ts');

test('a misspelt option stops a benchmark script with its usage line', () => {
  const run = knn('--limt', '5');
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/Unknown option '--limt'/);
  expect(run.stderr).toMatch(/usage: node --import tsx bench\/knn\.ts/);
  expect(run.stdout).toBe('');
}, 60_000);

test('a number option given something else stops it, naming the option', () => {
  const run = knn('--k', 'many');
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/--k takes a number, got "many"/);
  const missing = knn('--dim');
  expect(missing.status).toBe(2);
  expect(missing.stderr).toMatch(/--dim/);
}, 60_000);

test('positional arguments: too few or too many, or a non-number where a number goes, stop the script', () => {
  const usage = 'carve.ts <name> <wnid-or-lemma> [perClass]';
  expect(benchArgs(usage, {}, { min: 2, max: 3 }, ['pets', 'dog']).positionals).toEqual(['pets', 'dog']);
  const one = carve('pets');
  expect(one.status).toBe(2);
  expect(one.stderr).toMatch(/expected 2 to 3 arguments, got 1\nusage: node --import tsx bench\/learning\/carve\.ts/);
  expect(carve('a', 'b', 'c', 'd').stderr).toMatch(/expected 2 to 3 arguments, got 4/);
  const many = carve('pets', 'dog', 'many');
  expect(many.status).toBe(2);
  expect(many.stderr).toMatch(/perClass \(images per class\) takes a number, got "many"/);
}, 60_000);
