import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../lib/config';
import { deepMerge, parseAssignments, readConfigFile } from '../../lib/config-file';
import { buildRunConfig } from '../../cli/run-options';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-cli-config-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe('config file', () => {
  test('JSON: values reach the run config; a relative target is taken from the file’s folder', () => {
    const f = file('a.json', JSON.stringify({ target: 'images', iterations: 3, train: { steps: 40 } }));
    const config = buildRunConfig({ config: f });
    expect(config.target).toBe(path.join(dir, 'images'));
    expect(config.iterations).toBe(3);
    expect(config.train.steps).toBe(40);
    expect(config.train.preset).toBe('cpu-small'); // defaults fill the rest
  });

  test('YAML (.yaml/.yml) is read like JSON', () => {
    const f = file(
      'b.yaml',
      'target: /data/pets\nmode: random\nsearch:\n  combine: split\ndownload:\n  concurrency: 4\n',
    );
    const config = buildRunConfig({ config: f });
    expect(config).toMatchObject({ target: '/data/pets', mode: 'random' });
    expect(config.search.combine).toBe('split');
    expect(config.download.concurrency).toBe(4);
  });

  test('flags override the file key by key, nested keys included; --set reaches any key', () => {
    const f = file(
      'c.json',
      JSON.stringify({ target: '/t', iterations: 9, seed: 1, train: { steps: 40, batchSize: 64 } }),
    );
    const config = buildRunConfig(
      { config: f, iterations: '2', steps: '5', set: ['download.concurrency=3', 'search.providers=["local"]'] },
      { queriesPerIteration: 16 },
    );
    expect(config.iterations).toBe(2); // flag over file
    expect(config.seed).toBe(1); // file kept
    expect(config.queriesPerIteration).toBe(16); // command default kept
    expect(config.train).toMatchObject({ steps: 5, batchSize: 64 }); // flag over file, sibling kept
    expect(config.download.concurrency).toBe(3);
    expect(config.search.providers).toEqual(['local']);
  });

  test('the file overrides command defaults, and named flags override --set', () => {
    const f = file('d.json', JSON.stringify({ target: '/t', iterations: 4 }));
    expect(buildRunConfig({ config: f }, { iterations: 5 }).iterations).toBe(4);
    expect(buildRunConfig({ config: f, set: ['iterations=7'], iterations: '8' }).iterations).toBe(8);
  });

  test('a relative --target is made absolute (workers may run elsewhere)', () => {
    expect(buildRunConfig({ target: 'rel/dir' }).target).toBe(path.resolve('rel/dir'));
  });
});

describe('errors name what is wrong and what is allowed', () => {
  const error = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  test('an unknown key in the file names the key and the allowed ones', () => {
    const f = file('e.json', JSON.stringify({ target: '/t', iteratons: 2 }));
    const e = error(() => buildRunConfig({ config: f }));
    expect(e.message).toMatch(/unknown key 'iteratons': allowed keys are target, mode, iterations/);
  });

  test('an unknown nested key names the nested path and its allowed keys', () => {
    const f = file('f.yml', 'target: /t\ntrain:\n  stepz: 3\n');
    const e = error(() => buildRunConfig({ config: f }));
    expect(e.message).toMatch(/unknown key 'train.stepz': allowed keys are preset, steps, batchSize/);
  });

  test('a bad value names the key and the allowed values', () => {
    const e = error(() => buildRunConfig({ target: '/t', set: ['mode=greedy'] }));
    expect(e.message).toMatch(/mode: .*"explore".*"random"/);
  });

  test('a flag that is not an integer', () => {
    expect(error(() => buildRunConfig({ target: '/t', iterations: 'two' })).message).toBe(
      "--iterations must be an integer, got 'two'",
    );
  });

  test('a missing file, bad JSON, bad YAML and a file that is not an object', () => {
    expect(error(() => readConfigFile(path.join(dir, 'missing.json'))).message).toMatch(
      /config file .*missing\.json does not exist/,
    );
    expect(error(() => readConfigFile(file('g.json', '{"target": '))).message).toMatch(/g\.json is not valid JSON/);
    expect(error(() => readConfigFile(file('h.yaml', 'target: [unclosed\n'))).message).toMatch(
      /h\.yaml is not valid YAML/,
    );
    expect(error(() => readConfigFile(file('i.json', '[1, 2]'))).message).toMatch(
      /must hold an object of run config keys/,
    );
  });

  test('a malformed --set', () => {
    expect(error(() => parseAssignments(['iterations'])).message).toMatch(/--set expects key.path=value/);
    expect(error(() => parseAssignments(['train..steps=3'])).message).toMatch(/--set expects key.path=value/);
  });
});

describe('merging', () => {
  test('nested objects merge, arrays and scalars replace, undefined leaves a value alone', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined, e: { f: undefined } })).toEqual({
      a: { b: 1, c: [3] },
      d: 1,
      e: {},
    });
  });

  test('--set values are JSON when they parse, strings otherwise', () => {
    expect(parseAssignments(['a.b=3', 'a.c=true', 'd=hello', 'e=[1,"x"]'])).toEqual({
      a: { b: 3, c: true },
      d: 'hello',
      e: [1, 'x'],
    });
  });
});
