import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { ConfigError } from './config';

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a run config file: JSON, or YAML when it is named `.yaml`/`.yml`. A relative `target` is taken
 * relative to the file's folder, so a config file travels with its target.
 */
export function readConfigFile(file: string): PlainObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file ${file} does not exist`
        : `cannot read config file ${file}: ${(error as Error).message}`,
    );
  }
  const isYaml = /\.ya?ml$/i.test(file);
  let parsed: unknown;
  try {
    parsed = isYaml ? yaml.load(text, { filename: file }) : JSON.parse(text);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `config file ${file} is not valid ${isYaml ? 'YAML' : 'JSON'}: ${(error as Error).message}` +
        (isYaml ? '' : ' (YAML files must be named .yaml or .yml)'),
    );
  }
  if (!isPlainObject(parsed))
    throw new ConfigError(`config file ${file} must hold an object of run config keys (e.g. {"target": "DIR"})`);
  if (typeof parsed.target === 'string' && parsed.target && !path.isAbsolute(parsed.target))
    parsed.target = path.resolve(path.dirname(path.resolve(file)), parsed.target);
  return parsed;
}

/** Merges `over` into `base` key by key, recursing into nested objects; arrays and scalars are replaced. */
export function deepMerge(base: PlainObject, over: PlainObject): PlainObject {
  const out: PlainObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    // Nested objects are merged (and copied, without undefined keys); anything else replaces.
    out[key] = isPlainObject(value) ? deepMerge(isPlainObject(out[key]) ? out[key] : {}, value) : value;
  }
  return out;
}

/**
 * Turns `--set key.path=value` assignments into a nested object. Values are JSON when they parse as JSON
 * (numbers, booleans, arrays), strings otherwise.
 */
export function parseAssignments(assignments: string[]): PlainObject {
  let out: PlainObject = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    const keyPath = eq > 0 ? assignment.slice(0, eq).trim() : '';
    if (!keyPath || keyPath.split('.').some((k) => !k))
      throw new ConfigError(`--set expects key.path=value (e.g. --set download.concurrency=8), got '${assignment}'`);
    const raw = assignment.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    const nested = keyPath
      .split('.')
      .reverse()
      .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as PlainObject;
    out = deepMerge(out, nested);
  }
  return out;
}
